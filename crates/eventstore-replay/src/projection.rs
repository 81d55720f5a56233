//! Projections: read models kept current from the events, with durable checkpoints.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use eventstore_core::{
    AppendOptions, CheckpointMove, CheckpointStore, Error, EventQuery, EventStore, Lease,
    LeaseStore, Position, Result, RetryPolicy, StoredEvent, TransactionalStore, follow,
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
    /// The projection's name: its checkpoint is kept under it.
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
    /// The projection's name: its checkpoint is kept under it.
    fn name(&self) -> &str;

    /// Which events it wants.
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
    /// Events it applied, or the error that stopped it after its retries.
    pub result: Result<u64>,
}

/// Runs projections side by side, each from its own durable checkpoint, following the
/// store live; one projection failing does not stop the others. A failing event is
/// retried with back-off, then the projection stops and its error is reported. Each
/// projection holds a lease while it runs, so one process at a time runs it.
pub struct ProjectionRunner<S: TransactionalStore> {
    store: Arc<S>,
    projections: Vec<Kind<S>>,
    upcaster: Option<Upcaster>,
    retry: RetryPolicy,
    lease_ttl: Duration,
}

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

    /// How a failing event is retried before the projection stops.
    #[must_use]
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = RetryPolicy {
            max_attempts: policy.max_attempts.max(1),
            ..policy
        };
        self
    }

    /// How long a projection's lease lasts without renewal (default 15 s).
    #[must_use]
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl;
        self
    }

    /// Runs every projection until `shutdown` is cancelled; returns how each ended.
    pub async fn run(&self, shutdown: CancellationToken) -> Vec<ProjectionReport> {
        let runs = self.projections.iter().map(|projection| {
            let worker = self.worker(projection.clone());
            let shutdown = shutdown.clone();
            async move {
                let name = projection.name().to_owned();
                let result = worker.run(&shutdown).await;
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
    /// projection is not running elsewhere; it takes the projection's lease meanwhile.
    pub async fn rebuild(&self, name: &str) -> Result<u64> {
        let projection = self
            .projections
            .iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| Error::Config(format!("no projection named {name:?}")))?;
        let worker = self.worker(projection.clone());
        let mut lease = Lease::new(&worker.key, self.lease_ttl);
        if !lease.try_acquire(&*self.store).await? {
            return Err(Error::Config(format!(
                "projection {name:?} is running elsewhere"
            )));
        }
        let result = worker.rebuild().await;
        lease.release(&*self.store).await;
        result
    }

    fn worker(&self, projection: Kind<S>) -> Worker<S> {
        Worker {
            key: format!("projection/{}", projection.name()),
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
    /// Applies events until `shutdown`. A store failure while following (a lost
    /// connection, a timed-out statement) is waited out with the retry policy's
    /// back-off, letting the lease go meanwhile, and the projection resumes from its
    /// durable checkpoint, as the outbox relay does; a failure to apply an event (after
    /// its retries) stops it.
    async fn run(&self, shutdown: &CancellationToken) -> Result<u64> {
        let mut applied = 0;
        let mut lease = Lease::new(&self.key, self.lease_ttl);
        let mut faults = 0;
        loop {
            match self.hold(&mut lease, shutdown, &mut applied).await {
                Ok(()) => return Ok(applied),
                Err(Held::Fault(e)) if e.is_database() || e.is_timeout() => {
                    lease.release(&*self.store).await;
                    faults += 1;
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

    /// Takes the lease and applies events while it holds, until `shutdown` (`Ok`).
    async fn hold(
        &self,
        lease: &mut Lease,
        shutdown: &CancellationToken,
        applied: &mut u64,
    ) -> std::result::Result<(), Held> {
        let leases: &dyn LeaseStore = &*self.store;
        'lease: loop {
            // Another process may be running this projection: wait for its lease.
            if !lease.acquire(leases, shutdown).await.map_err(Held::Fault)? {
                return Ok(());
            }
            let from = self
                .store
                .load_checkpoint(&self.key)
                .await
                .map_err(Held::Fault)?
                .unwrap_or(0);
            let store: Arc<dyn EventStore> = Arc::clone(&self.store) as Arc<dyn EventStore>;
            let followed = follow(store, self.projection.filter(), Position::After(from));
            let mut events = upcast(followed, self.upcaster.clone());
            loop {
                let next = tokio::select! {
                    () = shutdown.cancelled() => {
                        lease.release(leases).await;
                        return Ok(());
                    }
                    () = tokio::time::sleep(lease.until_renewal()) => None,
                    event = events.next() => Some(event),
                };
                if !lease.renew_if_due(leases).await.map_err(Held::Fault)? {
                    continue 'lease;
                }
                match next {
                    None => {}
                    Some(None) => return Ok(()),
                    Some(Some(event)) => {
                        let event = event.map_err(Held::Fault)?;
                        let done = self.apply_with_retries(&event, shutdown).await;
                        *applied += u64::from(done.map_err(Held::Stop)?);
                    }
                }
            }
        }
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
        let query = self.projection.filter().up_to(horizon);
        let mut events = upcast(self.store.query(query), self.upcaster.clone());
        let never = CancellationToken::new();
        let mut applied = 0;
        while let Some(event) = events.try_next().await? {
            if self.apply_with_retries(&event, &never).await? {
                applied += 1;
            }
        }
        Ok(applied)
    }

    /// Applies one event and moves the checkpoint past it, retrying failures; `false`
    /// when it had been applied already (or shutdown came first).
    async fn apply_with_retries(
        &self,
        event: &StoredEvent,
        shutdown: &CancellationToken,
    ) -> Result<bool> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let error = match self.apply(event).await {
                Ok(applied) => return Ok(applied),
                Err(error) => error,
            };
            tracing::warn!(projection = %self.projection.name(), sequence = event.sequence(), attempt, %error, "projection failed");
            if attempt >= self.retry.max_attempts {
                return Err(match error {
                    Error::Aborted(source) => Error::Handler {
                        sequence: event.sequence(),
                        source,
                    },
                    other => other,
                });
            }
            tokio::select! {
                () = shutdown.cancelled() => return Ok(false),
                () = tokio::time::sleep(self.retry.delay(attempt)) => {}
            }
        }
    }

    async fn apply(&self, event: &StoredEvent) -> Result<bool> {
        let sequence = event.sequence();
        match &self.projection {
            Kind::Handler(p) => {
                p.handle(event).await.map_err(Error::aborted)?;
                self.store.save_checkpoint(&self.key, sequence).await?;
                Ok(true)
            }
            Kind::Transactional(p) => Ok(self
                .store
                .transact_at_checkpoint(
                    p.apply(event),
                    AppendOptions::new(),
                    &self.key,
                    CheckpointMove::To(sequence),
                )
                .await?
                .is_some()),
        }
    }
}

/// Why a worker let its lease go with an error.
enum Held {
    /// Following the store failed: waited out if it is the database's or a time-out.
    Fault(Error),
    /// An event could not be applied: the projection stops.
    Stop(Error),
}
