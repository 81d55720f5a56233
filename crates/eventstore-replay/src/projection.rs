//! Projections: read models kept current from the events, with durable checkpoints.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use eventstore_core::sql::text::check_prefixed_name;
use eventstore_core::{
    AppendOptions, CheckpointMove, CheckpointStore, Error, EventQuery, EventStore, Interrupted,
    Lease, LeaseStore, Position, Result, RetryPolicy, StoredEvent, TransactionalStore, follow,
};
use futures::{StreamExt as _, TryStreamExt as _};
use tokio_util::sync::CancellationToken;

use crate::upcast::{Upcaster, upcast};

/// Any error a projection's handler reports.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A projection whose state lives anywhere (memory, another database, a search index):
/// an async handler per event. The checkpoint is saved after each event is handled, so
/// after a crash the last event may be handled again: make `handle` idempotent.
#[async_trait]
pub trait Projection: Send + Sync {
    /// The projection's name: its checkpoint and lease are kept under it. At most
    /// [`MAX_PROJECTION_NAME_BYTES`] long, and unique among a runner's projections.
    fn name(&self) -> &str;

    /// Which events it wants (order, limit and paging are the runner's).
    fn filter(&self) -> EventQuery {
        EventQuery::new()
    }

    /// Applies one event to the state.
    async fn handle(&self, event: &StoredEvent) -> std::result::Result<(), BoxError>;

    /// Forgets all state, before a [`rebuild`](ProjectionRunner::rebuild).
    async fn reset(&self) -> std::result::Result<(), BoxError> {
        Ok(())
    }
}

/// A projection whose state lives in the store's own database: each event's state change
/// is the backend's transaction work ([`TransactionalStore::Work`]), committed in the
/// same transaction as the checkpoint, so each event takes effect exactly once, across
/// crashes.
pub trait TransactionalProjection<S: TransactionalStore>: Send + Sync {
    /// The projection's name: its checkpoint and lease are kept under it. At most
    /// [`MAX_PROJECTION_NAME_BYTES`] long, and unique among a runner's projections.
    fn name(&self) -> &str;

    /// Which events it wants (order, limit and paging are the runner's).
    fn filter(&self) -> EventQuery {
        EventQuery::new()
    }

    /// The state change for one event (events the work returns are appended too).
    fn apply(&self, event: &StoredEvent) -> S::Work<()>;

    /// The work that empties the state, for a rebuild.
    fn reset(&self) -> S::Work<()>;
}

enum Kind<S: TransactionalStore> {
    Handler(Arc<dyn Projection>),
    Transactional(Arc<dyn TransactionalProjection<S>>),
}

impl<S: TransactionalStore> Clone for Kind<S> {
    fn clone(&self) -> Self {
        match self {
            Self::Handler(p) => Self::Handler(Arc::clone(p)),
            Self::Transactional(p) => Self::Transactional(Arc::clone(p)),
        }
    }
}

impl<S: TransactionalStore> Kind<S> {
    fn name(&self) -> &str {
        match self {
            Self::Handler(p) => p.name(),
            Self::Transactional(p) => p.name(),
        }
    }

    fn filter(&self) -> EventQuery {
        match self {
            Self::Handler(p) => p.filter(),
            Self::Transactional(p) => p.filter(),
        }
    }
}

/// How one projection's run ended.
#[derive(Debug)]
pub struct ProjectionReport {
    /// The projection.
    pub name: String,
    /// Events it applied, or the error that stopped it after its retries: for an event
    /// the projection failed on, [`Error::Handler`] at the event's sequence
    /// ([`Error::failed_sequence`]).
    pub result: Result<u64>,
}

/// Runs projections side by side, each from its own durable checkpoint, following the
/// store live; one projection failing does not stop the others. A failing event is
/// retried with back-off, then the projection stops and its error is reported; a store
/// failure is waited out instead. Each projection holds a lease while it runs, renewed
/// while events are applied too, so one process at a time runs it: one that cannot
/// renew in time drops the event it is applying before the lease can lapse.
pub struct ProjectionRunner<S: TransactionalStore> {
    store: Arc<S>,
    projections: Vec<Kind<S>>,
    upcaster: Option<Upcaster>,
    retry: RetryPolicy,
    lease_ttl: Duration,
}

/// What a projection's checkpoint and lease are kept under: `projection/<name>`.
const KEY_PREFIX: &str = "projection/";

/// The longest name a projection may have, in bytes: 1,013. Its checkpoint and lease
/// are kept under `projection/<name>`, which, as every name in the coordination tables,
/// may be at most [`MAX_NAME_BYTES`](eventstore_core::sql::text::MAX_NAME_BYTES) (1 KiB)
/// long. A name may hold any text but U+0000; [`ProjectionRunner::run`] reports another
/// as the projection's [`Error::Config`], and [`ProjectionRunner::rebuild`] refuses it
/// so.
pub const MAX_PROJECTION_NAME_BYTES: usize =
    eventstore_core::sql::text::MAX_NAME_BYTES - KEY_PREFIX.len();

impl<S> ProjectionRunner<S>
where
    S: TransactionalStore + CheckpointStore + LeaseStore + 'static,
{
    /// A runner over `store` with no projections yet.
    pub fn new(store: Arc<S>) -> Self {
        Self {
            store,
            projections: Vec::new(),
            upcaster: None,
            retry: RetryPolicy::default(),
            lease_ttl: Duration::from_secs(15),
        }
    }

    /// Adds a projection with an async handler.
    #[must_use]
    pub fn with(mut self, projection: impl Projection + 'static) -> Self {
        self.projections.push(Kind::Handler(Arc::new(projection)));
        self
    }

    /// Adds a projection whose state lives in the store's database (exactly once).
    #[must_use]
    pub fn with_transactional(
        mut self,
        projection: impl TransactionalProjection<S> + 'static,
    ) -> Self {
        self.projections
            .push(Kind::Transactional(Arc::new(projection)));
        self
    }

    /// Applies `upcaster` to every event before the projections see it.
    #[must_use]
    pub fn with_upcaster(
        mut self,
        upcaster: impl Fn(StoredEvent) -> Result<StoredEvent> + Send + Sync + 'static,
    ) -> Self {
        self.upcaster = Some(Arc::new(upcaster));
        self
    }

    /// How a failing event is retried before the projection stops. A policy of
    /// `max_attempts: 0` is refused with [`Error::Config`] naming `retry`
    /// ([`RetryPolicy::check`]).
    pub fn retry(mut self, policy: RetryPolicy) -> Result<Self> {
        policy.check("retry")?;
        self.retry = policy;
        Ok(self)
    }

    /// How long a projection's lease lasts without renewal (default 15 s): how soon
    /// another process takes over after this one dies. It is renewed every third of
    /// this; a projection whose renewals fail stops applying at three quarters of it.
    ///
    /// A time to live under [`MIN_LEASE_TTL`](eventstore_core::MIN_LEASE_TTL) (30 ms)
    /// is refused with [`Error::Config`] naming it; one over
    /// [`MAX_LEASE_TTL`](eventstore_core::MAX_LEASE_TTL) holds the lease that long.
    pub fn lease_ttl(mut self, ttl: Duration) -> Result<Self> {
        Lease::check_ttl("lease_ttl", ttl)?;
        self.lease_ttl = ttl;
        Ok(self)
    }

    /// Runs every projection until `shutdown` is cancelled; returns how each ended. It
    /// returns at once on cancellation: an event being handled then is dropped
    /// unfinished, its checkpoint not moved, and handled again by the next run.
    ///
    /// A projection that cannot run is reported with [`Error::Config`] at once, while
    /// the others run: one whose name is longer than
    /// [`MAX_PROJECTION_NAME_BYTES`] or holds U+0000, and every projection
    /// of a name that two of them have (they would share one checkpoint and lease).
    pub async fn run(&self, shutdown: CancellationToken) -> Vec<ProjectionReport> {
        let runs = self.projections.iter().map(|projection| {
            let worker = self.worker(projection.clone());
            let shutdown = shutdown.clone();
            let checked = self.check_name(projection.name());
            async move {
                let name = projection.name().to_owned();
                let result = match checked {
                    Ok(()) => worker.run(&shutdown).await,
                    Err(refused) => Err(refused),
                };
                if let Err(error) = &result {
                    tracing::error!(projection = %name, %error, "projection stopped");
                }
                ProjectionReport { name, result }
            }
        });
        futures::future::join_all(runs).await
    }

    /// Rebuilds the projection `name` from scratch: resets its state (atomically with
    /// its checkpoint for a transactional projection) and applies every event up to the
    /// store's safe horizon. Returns how many events it applied. Run it while the
    /// projection is not running (in this process or another): it takes the projection's
    /// lease first, and while a runner holds it the rebuild is refused at once with
    /// [`Error::Config`], resetting nothing. It renews the lease meanwhile. If the lease
    /// goes to another runner or is not renewed in time, it
    /// stops with [`Error::Config`] (with the store's error if a renewal failed),
    /// leaving the rebuild unfinished.
    pub async fn rebuild(&self, name: &str) -> Result<u64> {
        let projection = self
            .projections
            .iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| Error::Config(format!("no projection named {name:?}")))?;
        self.check_name(name)?;
        let worker = self.worker(projection.clone());
        let leases: &dyn LeaseStore = &*self.store;
        let mut lease = Lease::new(&worker.key, self.lease_ttl);
        if !lease.try_acquire(leases).await? {
            return Err(Error::Config(format!(
                "projection {name:?} is running elsewhere"
            )));
        }
        let never = CancellationToken::new();
        let rebuilt = lease.keep_while(leases, &never, worker.rebuild()).await;
        lease.release(leases).await;
        rebuilt?.unwrap_or_else(|_| {
            Err(Error::Config(format!(
                "projection {name:?} lost its lease during the rebuild, which is unfinished"
            )))
        })
    }

    /// Refuses a name whose key (`projection/<name>`) no store keeps, naming the
    /// projection's own limit rather than the key's, and a name two of the runner's
    /// projections have.
    fn check_name(&self, name: &str) -> Result<()> {
        check_prefixed_name("projection", KEY_PREFIX, name)?;
        let sharing = self.projections.iter().filter(|p| p.name() == name);
        if sharing.count() > 1 {
            return Err(Error::Config(format!(
                "two projections of this runner are named {name:?}: each needs a checkpoint \
                 and lease of its own, kept under its name"
            )));
        }
        Ok(())
    }

    fn worker(&self, projection: Kind<S>) -> Worker<S> {
        Worker {
            key: format!("{KEY_PREFIX}{}", projection.name()),
            store: Arc::clone(&self.store),
            projection,
            upcaster: self.upcaster.clone(),
            retry: self.retry,
            lease_ttl: self.lease_ttl,
        }
    }
}

/// One projection's loop.
struct Worker<S: TransactionalStore> {
    key: String,
    store: Arc<S>,
    projection: Kind<S>,
    upcaster: Option<Upcaster>,
    retry: RetryPolicy,
    lease_ttl: Duration,
}

impl<S> Worker<S>
where
    S: TransactionalStore + CheckpointStore + LeaseStore + 'static,
{
    /// Applies events until `shutdown`. A store failure (a lost connection, a timed-out
    /// statement, while following, saving the checkpoint or renewing the lease) is
    /// waited out with the retry policy's back-off, letting the lease go meanwhile, and
    /// the projection resumes from its durable checkpoint, as the outbox relay does; the
    /// handler's own failure (after its retries) stops it.
    async fn run(&self, shutdown: &CancellationToken) -> Result<u64> {
        let mut applied = 0;
        let mut lease = Lease::new(&self.key, self.lease_ttl);
        // Faults in a row, without an event applied between them: the back-off grows
        // with them, and starts over once the projection gets through again.
        let (mut faults, mut applied_at_fault) = (0, 0);
        loop {
            let held = self.hold(&mut lease, shutdown, &mut applied).await;
            lease.release(&*self.store).await;
            match held {
                Ok(Interrupted::ShutDown) => return Ok(applied),
                Ok(Interrupted::LeaseLost) => {
                    tracing::warn!(projection = %self.projection.name(), "lease lost; waiting to take it back");
                }
                Err(Held::Fault(e)) if e.is_database() || e.is_timeout() => {
                    if applied > applied_at_fault {
                        faults = 0;
                    }
                    (faults, applied_at_fault) = (faults + 1, applied);
                    let pause = self.retry.delay(faults.min(16));
                    tracing::warn!(projection = %self.projection.name(), error = %e, ?pause, "store failed; resuming from the checkpoint");
                    tokio::select! {
                        () = shutdown.cancelled() => return Ok(applied),
                        () = tokio::time::sleep(pause) => {}
                    }
                }
                Err(Held::Fault(e) | Held::Stop(e)) => return Err(e),
            }
        }
    }

    /// Takes the lease and applies events while it holds (renewing it meanwhile), until
    /// `shutdown` or until the lease is lost. An event being applied then is dropped,
    /// its checkpoint not moved.
    async fn hold(
        &self,
        lease: &mut Lease,
        shutdown: &CancellationToken,
        applied: &mut u64,
    ) -> std::result::Result<Interrupted, Held> {
        let leases: &dyn LeaseStore = &*self.store;
        // Another process may be running this projection: wait for its lease.
        if !lease.acquire(leases, shutdown).await.map_err(Held::Fault)? {
            return Ok(Interrupted::ShutDown);
        }
        match lease
            .keep_while(leases, shutdown, self.follow(applied))
            .await
            .map_err(Held::Fault)?
        {
            // The followed stream ended: only when the store is being shut down.
            Ok(followed) => followed.map(|()| Interrupted::ShutDown),
            Err(interrupted) => Ok(interrupted),
        }
    }

    /// Applies events from the durable checkpoint on, as they come.
    async fn follow(&self, applied: &mut u64) -> std::result::Result<(), Held> {
        let from = self
            .store
            .load_checkpoint(&self.key)
            .await
            .map_err(Held::Fault)?
            .unwrap_or(0);
        let store: Arc<dyn EventStore> = Arc::clone(&self.store) as Arc<dyn EventStore>;
        let followed = follow(store, self.projection.filter(), Position::After(from));
        let mut events = upcast(followed, self.upcaster.clone());
        while let Some(event) = events.next().await {
            let event = event.map_err(Held::Fault)?;
            *applied += u64::from(self.apply_with_retries(&event).await?);
        }
        Ok(())
    }

    async fn rebuild(&self) -> Result<u64> {
        match &self.projection {
            Kind::Handler(p) => {
                self.store.reset_checkpoint(&self.key).await?;
                p.reset().await.map_err(Error::aborted)?;
            }
            Kind::Transactional(p) => {
                self.store
                    .transact_at_checkpoint(
                        p.reset(),
                        AppendOptions::new(),
                        &self.key,
                        CheckpointMove::Reset,
                    )
                    .await?;
            }
        }
        let horizon = self.store.horizon().await?.safe;
        // Read within the horizon, as followers read: in pages that hold no pooled
        // connection while their events are applied (each apply needs one). The order
        // and paging are the runner's, as in `run`: every matching event, oldest first.
        let query = self
            .projection
            .filter()
            .filters_only()
            .within_horizon(horizon);
        let mut events = upcast(self.store.query(query), self.upcaster.clone());
        let mut applied = 0;
        while let Some(event) = events.try_next().await? {
            match self.apply_with_retries(&event).await {
                Ok(done) => applied += u64::from(done),
                Err(Held::Fault(e) | Held::Stop(e)) => return Err(e),
            }
        }
        Ok(applied)
    }

    /// Applies one event and moves the checkpoint past it, retrying failures; `false`
    /// when it had been applied already. After its retries, a failure of the store's
    /// is a [`Held::Fault`] (waited out), the handler's a [`Held::Stop`] with
    /// [`Error::Handler`] at the event's sequence, whatever the handler (or the
    /// transactional work and its append) failed with, a closed store aside.
    async fn apply_with_retries(&self, event: &StoredEvent) -> std::result::Result<bool, Held> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let failure = match self.apply(event).await {
                Ok(applied) => return Ok(applied),
                Err(failure) => failure,
            };
            let error = match &failure {
                Held::Fault(error) | Held::Stop(error) => error,
            };
            tracing::warn!(projection = %self.projection.name(), sequence = event.sequence(), attempt, %error, "projection failed");
            if attempt >= self.retry.max_attempts {
                return Err(match failure {
                    Held::Stop(Error::Closed) => Held::Stop(Error::Closed),
                    Held::Stop(Error::Aborted(source)) => Held::Stop(Error::Handler {
                        sequence: event.sequence(),
                        source,
                    }),
                    // A store error the handler passed on, or one the work's append
                    // raised (a duplicate, a conflict, an invalid event): still the
                    // event's failure, kept whole as the source.
                    Held::Stop(error) => Held::Stop(Error::Handler {
                        sequence: event.sequence(),
                        source: Box::new(error),
                    }),
                    fault @ Held::Fault(_) => fault,
                });
            }
            tokio::time::sleep(self.retry.delay(attempt)).await;
        }
    }

    /// Applies one event: the handler's failure is a [`Held::Stop`], the store's (a lost
    /// connection, a timed-out statement, while saving the checkpoint or committing the
    /// transactional work) a [`Held::Fault`].
    async fn apply(&self, event: &StoredEvent) -> std::result::Result<bool, Held> {
        let sequence = event.sequence();
        match &self.projection {
            Kind::Handler(p) => {
                p.handle(event)
                    .await
                    .map_err(|e| Held::Stop(Error::aborted(e)))?;
                self.store
                    .save_checkpoint(&self.key, sequence)
                    .await
                    .map_err(Held::Fault)?;
                Ok(true)
            }
            Kind::Transactional(p) => self
                .store
                .transact_at_checkpoint(
                    p.apply(event),
                    AppendOptions::new(),
                    &self.key,
                    CheckpointMove::To(sequence),
                )
                .await
                .map(|applied| applied.is_some())
                .map_err(|e| {
                    if e.is_database() || e.is_timeout() {
                        Held::Fault(e)
                    } else {
                        Held::Stop(e)
                    }
                }),
        }
    }
}

/// Why a worker let its lease go with an error.
enum Held {
    /// The store failed (following, saving a checkpoint, renewing the lease): waited
    /// out if it is the database's or a time-out.
    Fault(Error),
    /// An event could not be applied: the projection stops.
    Stop(Error),
}
