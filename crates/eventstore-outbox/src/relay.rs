//! [`OutboxRelay`]: delivers committed events to a [`Sender`], in order, at least once.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use eventstore_core::sql::text::{MAX_NAME_BYTES, check_prefixed_name};
use eventstore_core::{
    CheckpointStore, DeadLetterStore, Error, EventQuery, EventStore, Interrupted, Lease,
    LeaseStore, Position, Result, RetryPolicy, Sender, StoredEvent, Unavailable, follow,
};
use futures::{FutureExt as _, StreamExt as _};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

/// What a relay's checkpoint and lease keys start with, apart from projections'.
const KEY_PREFIX: &str = "relay/";

/// What a store needs for a relay: events to follow, and checkpoints, leases and dead
/// letters kept in the same database. Every backend's store is one.
pub trait RelayStore: EventStore + CheckpointStore + LeaseStore + DeadLetterStore {}

impl<T: EventStore + CheckpointStore + LeaseStore + DeadLetterStore + ?Sized> RelayStore for T {}

/// Where an event goes when every attempt to deliver it failed.
#[async_trait]
pub trait DeadLetterHandler: Send + Sync {
    /// Takes `event`, which relay `relay` could not deliver because of `error`.
    async fn dead_letter(&self, relay: &str, event: &StoredEvent, error: &str) -> Result<()>;
}

/// What a relay does with an event it could not deliver after every retry: one the
/// sender failed `max_attempts` times with errors not marked [`Unavailable`] (an
/// unavailable destination is waited out instead).
#[derive(Clone, Default)]
pub enum OnFailure {
    /// Record it in the store's dead-letter table and move on (the default).
    #[default]
    DeadLetter,
    /// Hand it to this handler and move on.
    Handler(Arc<dyn DeadLetterHandler>),
    /// Stop the relay with an error; the event is retried when it restarts.
    Stop,
}

impl std::fmt::Debug for OnFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::DeadLetter => "DeadLetter",
            Self::Handler(_) => "Handler",
            Self::Stop => "Stop",
        })
    }
}

/// What a relay did before it stopped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// Events delivered (redeliveries after a restart count again).
    pub delivered: u64,
    /// Failed send attempts, whatever their cause: those the sender marked
    /// [`Unavailable`] included.
    pub failed_attempts: u64,
    /// Of the failed send attempts, those the sender marked [`Unavailable`]: sends
    /// retried while the destination was down, which never lead to a dead letter. The
    /// rest (`failed_attempts - unavailable_attempts`) were taken as the events' fault.
    pub unavailable_attempts: u64,
    /// Events given up on and handed to the dead-letter handler.
    pub dead_lettered: u64,
}

/// Delivers the events of a store to a [`Sender`]: in global sequence order (so each
/// subject's events in stream-version order), in batches, at least once, from a durable
/// checkpoint in the store's database.
///
/// - The checkpoint advances only after a batch was sent, so a relay that dies
///   redelivers at most the batch it was sending.
/// - A refused batch is retried with exponential back-off and jitter; after
///   `max_attempts` its events are retried one by one, and an event that still fails
///   goes to the dead-letter handler (or stops the relay, per [`OnFailure`]).
/// - A send the sender fails with [`Unavailable`] (the destination is down, not the
///   events at fault) counts toward none of this: the same batch (or, in the
///   one-by-one pass, the same event) is sent again with the retry policy's back-off,
///   for as long as the outage lasts, and nothing is dead-lettered or checkpointed
///   meanwhile. Shutdown and a lost lease still stop it at once.
/// - One relay per name is active across processes: it holds a lease in the database,
///   renews it every third of its time to live while it runs (also while a send and
///   its retries are under way), and another relay of the name takes over when it
///   lapses. A relay that cannot renew in time drops the send under way, without
///   saving its checkpoint, before its lease can lapse: never are two relays of a name
///   sending at once.
/// - It follows the store gap-free (see [`follow`]): woken by appends, polling as a
///   fallback, never skipping an event that commits late.
///
/// ```no_run
/// # async fn f(store: std::sync::Arc<eventstore_sqlite::SqliteEventStore>,
/// #            sender: std::sync::Arc<dyn eventstore_core::Sender>) -> eventstore_core::Result<()> {
/// use eventstore_outbox::OutboxRelay;
/// use tokio_util::sync::CancellationToken;
///
/// let shutdown = CancellationToken::new();
/// let relay = OutboxRelay::new("billing", store, sender).batch_size(100)?;
/// let stats = relay.run(shutdown.clone()).await?; // until shutdown.cancel()
/// # Ok(()) }
/// ```
pub struct OutboxRelay {
    name: String,
    /// The relay's checkpoint and lease key: `relay/<name>`, apart from projections'.
    key: String,
    store: Arc<dyn RelayStore>,
    sender: Arc<dyn Sender>,
    filter: EventQuery,
    batch_size: usize,
    linger: Duration,
    retry: RetryPolicy,
    on_failure: OnFailure,
    lease_ttl: Duration,
}

impl OutboxRelay {
    /// The longest name a relay may have, in bytes: 1,018. Its checkpoint and lease are
    /// kept under `relay/<name>`, which, as every name in the coordination tables, may
    /// be at most [`MAX_NAME_BYTES`] (1 KiB) long.
    pub const MAX_NAME_BYTES: usize = MAX_NAME_BYTES - KEY_PREFIX.len();

    /// A relay named `name` from `store` to `sender`, delivering every event in
    /// batches of up to 100. Its checkpoint and lease are kept under `relay/<name>`,
    /// its dead letters under `name`. A name may hold any text but U+0000, up to
    /// [`MAX_NAME_BYTES`](Self::MAX_NAME_BYTES) (1,018 bytes); `run` and `lag` refuse
    /// another with [`Error::Config`].
    pub fn new(
        name: impl Into<String>,
        store: Arc<dyn RelayStore>,
        sender: Arc<dyn Sender>,
    ) -> Self {
        let name = name.into();
        Self {
            key: format!("{KEY_PREFIX}{name}"),
            name,
            store,
            sender,
            filter: EventQuery::new(),
            batch_size: 100,
            linger: Duration::from_millis(2),
            retry: RetryPolicy::default(),
            on_failure: OnFailure::default(),
            lease_ttl: Duration::from_secs(15),
        }
    }

    /// Delivers only events matching `filter`'s filters (its order, limit and paging
    /// are the relay's own).
    #[must_use]
    pub fn filter(mut self, filter: EventQuery) -> Self {
        self.filter = filter;
        self
    }

    /// The most events per send (default 100). Zero, which would send nothing, is
    /// refused with [`Error::Config`] naming `batch_size`.
    pub fn batch_size(mut self, size: usize) -> Result<Self> {
        if size == 0 {
            return Err(Error::Config(
                "batch_size must be at least 1, not 0".to_owned(),
            ));
        }
        self.batch_size = size;
        Ok(self)
    }

    /// How long a batch waits for more events once it has one (default 2 ms): longer
    /// fills batches better under a trickle of appends, shorter delivers sooner.
    #[must_use]
    pub fn linger(mut self, linger: Duration) -> Self {
        self.linger = linger;
        self
    }

    /// How failed sends are retried: the back-off between attempts, and how many
    /// attempts failing with errors not marked [`Unavailable`] are made before the
    /// relay gives up on a batch (and then on an event). An unavailable destination is
    /// retried with the same back-off, without a limit.
    ///
    /// A policy of `max_attempts: 0` is refused with [`Error::Config`] naming `retry`
    /// ([`RetryPolicy::check`]).
    pub fn retry(mut self, policy: RetryPolicy) -> Result<Self> {
        policy.check("retry")?;
        self.retry = policy;
        Ok(self)
    }

    /// What happens to an event that cannot be delivered.
    #[must_use]
    pub fn on_failure(mut self, on_failure: OnFailure) -> Self {
        self.on_failure = on_failure;
        self
    }

    /// How long the relay's lease lasts without renewal (default 15 s): how soon another
    /// process takes over after this one dies. It is renewed every third of this; a
    /// relay whose renewals fail stops sending at three quarters of it.
    ///
    /// A time to live under [`MIN_LEASE_TTL`](eventstore_core::MIN_LEASE_TTL) (30 ms)
    /// is refused with [`Error::Config`] naming it; one over
    /// [`MAX_LEASE_TTL`](eventstore_core::MAX_LEASE_TTL) holds the lease that long.
    pub fn lease_ttl(mut self, ttl: Duration) -> Result<Self> {
        Lease::check_ttl("lease_ttl", ttl)?;
        self.lease_ttl = ttl;
        Ok(self)
    }

    /// The relay's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many events the relay is behind the head of the store: the head's sequence
    /// less the checkpoint's (filtered-out events count too).
    pub async fn lag(&self) -> Result<i64> {
        self.check_name()?;
        let head = self.store.horizon().await?.head;
        let checkpoint = self.store.load_checkpoint(&self.key).await?.unwrap_or(0);
        Ok(head.saturating_sub(checkpoint).max(0))
    }

    /// Runs until `shutdown` is cancelled (then returns what it did, at once: a send
    /// under way is dropped, and its batch, not checkpointed, is sent again by the next
    /// run) or a failure it cannot get past (an undeliverable event with
    /// [`OnFailure::Stop`], a closed store, a name no store keeps: see
    /// [`MAX_NAME_BYTES`](Self::MAX_NAME_BYTES)). While another process holds the
    /// lease, it waits. A database error (a lost connection, a timed-out statement, a
    /// failed lease renewal) is waited out with the retry policy's back-off, and
    /// delivery resumes from the durable checkpoint. So is a destination the sender
    /// reports [`Unavailable`]: its batch is sent again until it goes through.
    pub async fn run(&self, shutdown: CancellationToken) -> Result<RelayStats> {
        self.check_name()?;
        let mut stats = RelayStats::default();
        let mut lease = Lease::new(&self.key, self.lease_ttl);
        // Faults in a row, without an event delivered between them: the back-off grows
        // with them, and starts over once the relay gets through again.
        let (mut faults, mut delivered_at_fault) = (0, 0);
        loop {
            let held = match lease.acquire(self.leases(), &shutdown).await {
                Ok(false) => return Ok(stats),
                Ok(true) => self.deliver(&mut lease, &shutdown, &mut stats).await,
                Err(e) => Err(e),
            };
            // Whether it stopped, lost the lease or failed, let another relay in at once.
            lease.release(self.leases()).await;
            match held {
                Ok(Interrupted::ShutDown) => return Ok(stats),
                Ok(Interrupted::LeaseLost) => {
                    tracing::warn!(relay = %self.name, "lease lost; waiting to take it back");
                }
                // A lost connection or a timed-out statement: the store will be back, and
                // the relay resumes from its durable checkpoint.
                Err(e) if e.is_database() || e.is_timeout() => {
                    if stats.delivered > delivered_at_fault {
                        faults = 0;
                    }
                    (faults, delivered_at_fault) = (faults + 1, stats.delivered);
                    let pause = self.retry.delay(faults.min(16));
                    tracing::warn!(relay = %self.name, error = %e, ?pause, "store failed; resuming");
                    tokio::select! {
                        () = shutdown.cancelled() => return Ok(stats),
                        () = tokio::time::sleep(pause) => {}
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Refuses a name whose key (`relay/<name>`) no store keeps, naming the relay's own
    /// limit rather than the key's.
    fn check_name(&self) -> Result<()> {
        check_prefixed_name("relay", KEY_PREFIX, &self.name)
    }

    fn leases(&self) -> &dyn LeaseStore {
        &*self.store
    }

    /// Delivers while the lease holds, renewing it meanwhile; the last batch sent has
    /// its checkpoint saved before it returns. A send under way when the lease is lost
    /// (or not renewed in time) or at shutdown is dropped, its checkpoint not saved: the
    /// batch goes out again, from whichever relay holds the lease next.
    async fn deliver(
        &self,
        lease: &mut Lease,
        shutdown: &CancellationToken,
        stats: &mut RelayStats,
    ) -> Result<Interrupted> {
        let mut saving = Checkpointing::default();
        let kept = lease
            .keep_while(
                self.leases(),
                shutdown,
                self.deliver_batches(stats, &mut saving),
            )
            .await;
        let saved = saving.finish().await;
        let outcome = match kept? {
            // The followed stream ended: only when the store is being shut down.
            Ok(delivered) => delivered.map(|()| Interrupted::ShutDown)?,
            Err(interrupted) => interrupted,
        };
        saved.map(|()| outcome)
    }

    /// Delivers batch after batch, until the followed stream ends or fails.
    async fn deliver_batches(
        &self,
        stats: &mut RelayStats,
        saving: &mut Checkpointing,
    ) -> Result<()> {
        let checkpoint = self.store.load_checkpoint(&self.key).await?.unwrap_or(0);
        let store: Arc<dyn EventStore> = Arc::clone(&self.store) as Arc<dyn EventStore>;
        let mut events = follow(store, self.filter.clone(), Position::After(checkpoint));
        while let Some(first) = events.next().await {
            let batch = self.fill_batch(first?, &mut events).await?;
            let Some(last) = batch.last().map(StoredEvent::sequence) else {
                continue;
            };
            let span = tracing::info_span!(
                "relay_batch",
                relay = %self.name,
                first = batch[0].sequence(),
                last,
                events = batch.len()
            );
            // The previous batch's checkpoint was saved while this one was read; it
            // must be durable before this one goes out, so that a relay that dies
            // redelivers at most the batch it was sending.
            saving.finish().await?;
            self.send_batch(&batch, stats).instrument(span).await?;
            saving.start(Arc::clone(&self.store), self.key.clone(), last);
        }
        Ok(())
    }

    /// Fills a batch after its first event: with whatever follows within the linger
    /// time, up to the batch size. A backlog drains in full batches (one send and one
    /// checkpoint per batch, not per network read); a lone live event waits at most
    /// the linger.
    async fn fill_batch(
        &self,
        first: StoredEvent,
        events: &mut eventstore_core::EventStream,
    ) -> Result<Vec<StoredEvent>> {
        let mut batch = Vec::with_capacity(self.batch_size.min(1024));
        batch.push(first);
        let deadline = tokio::time::Instant::now() + self.linger;
        while batch.len() < self.batch_size {
            // An event already read needs no timer: arming one per event cost more than
            // taking the event when draining a backlog.
            let next = match events.next().now_or_never() {
                Some(next) => next,
                None => match tokio::time::timeout_at(deadline, events.next()).await {
                    Ok(next) => next,
                    Err(_) => break,
                },
            };
            match next {
                Some(event) => batch.push(event?),
                None => break,
            }
        }
        Ok(batch)
    }

    /// Sends a batch with retries, then event by event, handing an event that still
    /// fails to [`OnFailure`] (never for an unavailable destination, which
    /// [`send_with_retries`](Self::send_with_retries) waits out). Runs under the lease
    /// ([`Lease::keep_while`]), which drops it at shutdown or when the lease is lost.
    async fn send_batch(&self, batch: &[StoredEvent], stats: &mut RelayStats) -> Result<()> {
        match self.send_with_retries(batch, stats).await {
            Ok(()) => {
                stats.delivered += batch.len() as u64;
                return Ok(());
            }
            Err(_) if batch.len() > 1 => {}
            Err(error) => return self.give_up(&batch[0], &error, stats).await,
        }
        // Find the event the sender refuses: deliver one at a time.
        for event in batch {
            match self
                .send_with_retries(std::slice::from_ref(event), stats)
                .await
            {
                Ok(()) => stats.delivered += 1,
                Err(error) => self.give_up(event, &error, stats).await?,
            }
        }
        Ok(())
    }

    /// Sends `events` until the sender takes them or `max_attempts` of its failures were
    /// the events' fault (the last one's message). A failure the sender marks
    /// [`Unavailable`] is not the events' fault and counts toward nothing: the same
    /// events are sent again after the back-off, for as long as the outage lasts. Runs
    /// under the lease, which drops it at shutdown or when the lease is lost.
    async fn send_with_retries(
        &self,
        events: &[StoredEvent],
        stats: &mut RelayStats,
    ) -> std::result::Result<(), String> {
        let max_attempts = self.retry.max_attempts;
        // Failures that count toward giving up, and unavailable ones in a row (the
        // outage's back-off grows with them).
        let (mut attempt, mut outage) = (0, 0_u32);
        loop {
            let error = match self.sender.send(events).await {
                Ok(()) => {
                    if outage > 0 {
                        tracing::info!(relay = %self.name, failed_sends = outage, "destination available again");
                    }
                    return Ok(());
                }
                Err(error) => error,
            };
            stats.failed_attempts += 1;
            let pause = if Unavailable::is(&*error) {
                stats.unavailable_attempts += 1;
                outage = outage.saturating_add(1);
                let pause = self.retry.delay(outage);
                tracing::warn!(relay = %self.name, events = events.len(), failed_sends = outage, %error, ?pause, "destination unavailable; sending again once it is back");
                pause
            } else {
                attempt += 1;
                outage = 0;
                tracing::warn!(relay = %self.name, attempt, max_attempts, %error, "send failed");
                if attempt >= max_attempts {
                    return Err(error.to_string());
                }
                self.retry.delay(attempt)
            };
            tokio::time::sleep(pause).await;
        }
    }

    async fn give_up(
        &self,
        event: &StoredEvent,
        error: &str,
        stats: &mut RelayStats,
    ) -> Result<()> {
        tracing::error!(relay = %self.name, sequence = event.sequence(), %error, "undeliverable event");
        match &self.on_failure {
            OnFailure::DeadLetter => self.store.dead_letter(&self.name, event, error).await?,
            OnFailure::Handler(handler) => handler.dead_letter(&self.name, event, error).await?,
            OnFailure::Stop => {
                // The sender's failure, not the store's: typed so that `run` stops on
                // it rather than waiting it out as it does a lost connection.
                return Err(Error::Handler {
                    sequence: event.sequence(),
                    source: format!(
                        "relay {:?} stopped: event at sequence {} could not be delivered: {error}",
                        self.name,
                        event.sequence()
                    )
                    .into(),
                });
            }
        }
        stats.dead_lettered += 1;
        Ok(())
    }
}

impl std::fmt::Debug for OutboxRelay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxRelay")
            .field("name", &self.name)
            .field("batch_size", &self.batch_size)
            .field("retry", &self.retry)
            .field("on_failure", &self.on_failure)
            .field("lease_ttl", &self.lease_ttl)
            .finish_non_exhaustive()
    }
}

/// The checkpoint of the batch last sent, saved on a task of its own while the relay
/// reads the next batch: a backlog drains at the speed of reading, not of reading plus
/// one commit per batch.
#[derive(Default)]
struct Checkpointing(Option<tokio::task::JoinHandle<Result<()>>>);

impl Checkpointing {
    /// Starts saving `last` as the checkpoint under `key` (after [`finish`](Self::finish)
    /// settled the previous save, so saves land in order).
    fn start(&mut self, store: Arc<dyn RelayStore>, key: String, last: i64) {
        debug_assert!(self.0.is_none(), "one checkpoint save at a time");
        self.0 = Some(tokio::spawn(async move {
            store.save_checkpoint(&key, last).await
        }));
    }

    /// Waits for the save under way, if any. Dropped while waiting, it leaves the save
    /// to be waited for by the next call.
    async fn finish(&mut self) -> Result<()> {
        let Some(task) = &mut self.0 else {
            return Ok(());
        };
        let joined = task.await;
        self.0 = None;
        match joined {
            Ok(saved) => saved,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(Error::database(format!(
                "saving the relay's checkpoint: {e}"
            ))),
        }
    }
}
