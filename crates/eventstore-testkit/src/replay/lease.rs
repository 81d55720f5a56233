//! One runner of a projection applies at a time, even while handling an event or its
//! retries outlast the lease's time to live, and during a rebuild. The second runner
//! works through a handle of its own on the database, as another process would.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use eventstore_core::{
    CheckpointStore, Error, EventStore, LeaseStore, RetryPolicy, StoredEvent, TransactionalStore,
};
use eventstore_replay::{BoxError, Projection, ProjectionReport, ProjectionRunner};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::ReplayFixture;
use crate::data::event;

const TTL: Duration = Duration::from_millis(500);
const EVENTS: usize = 4;

/// What every copy of the projection saw, whichever runner it belongs to.
#[derive(Default)]
struct Seen {
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
    started: AtomicUsize,
    /// Calls left to fail.
    failures: AtomicUsize,
    /// The sequences handled, in the order they were.
    handled: Mutex<Vec<i64>>,
}

impl Seen {
    fn handled(&self) -> Vec<i64> {
        self.handled.lock().expect("not poisoned").clone()
    }

    /// Waits until every one of `sequences` was handled (a hang guard, not a timing).
    async fn wait_for_all(&self, sequences: &[i64]) {
        for _ in 0..2400 {
            let handled = self.handled();
            if sequences.iter().all(|s| handled.contains(s)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("not every event was handled: {:?}", self.handled());
    }

    async fn wait_until_started(&self) {
        for _ in 0..2400 {
            if self.started.load(Ordering::SeqCst) > 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no event handled");
    }

    /// One handler at a time; every one of `sequences` at least once, each first
    /// handled after every earlier one.
    fn assert_one_at_a_time_in_order(&self, sequences: &[i64]) {
        assert_eq!(
            self.most_in_flight.load(Ordering::SeqCst),
            1,
            "two runners of one projection were applying at once: {:?}",
            self.handled()
        );
        let mut first = Vec::new();
        for sequence in self.handled() {
            if !first.contains(&sequence) {
                first.push(sequence);
            }
        }
        assert_eq!(first, sequences, "out of order");
    }
}

/// One handler call under way, counted out however it ends (dropped included).
struct InFlight<'a>(&'a Seen);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A projection named "p" taking `delay` per event.
struct Slow {
    seen: Arc<Seen>,
    delay: Duration,
}

#[async_trait]
impl Projection for Slow {
    fn name(&self) -> &str {
        "p"
    }

    async fn handle(&self, event: &StoredEvent) -> Result<(), BoxError> {
        let now = self.seen.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        let _in_flight = InFlight(&self.seen);
        self.seen.most_in_flight.fetch_max(now, Ordering::SeqCst);
        self.seen.started.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        let failures = &self.seen.failures;
        if failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err("index unavailable".into());
        }
        self.seen
            .handled
            .lock()
            .expect("not poisoned")
            .push(event.sequence());
        Ok(())
    }
}

/// The fixture's store with [`EVENTS`] events, their sequences, and a second handle on
/// the database.
async fn stores<F: ReplayFixture>(fixture: &F) -> (Arc<F::Store>, Arc<F::Store>, Vec<i64>) {
    let store = Arc::clone(fixture.store());
    let events = (0..EVENTS).map(|i| event(format!("e{i}"))).collect();
    let appended = store.append(events).await.expect("the events append");
    let sequences = appended.appended.iter().map(|a| a.sequence).collect();
    let other = Arc::new(F::open(&fixture.location()).await);
    (store, other, sequences)
}

fn runner<S>(store: &Arc<S>, seen: &Arc<Seen>, delay: Duration) -> ProjectionRunner<S>
where
    S: TransactionalStore + CheckpointStore + LeaseStore + 'static,
{
    let projection = Slow {
        seen: Arc::clone(seen),
        delay,
    };
    ProjectionRunner::new(Arc::clone(store))
        .with(projection)
        .lease_ttl(TTL)
        .expect("a valid lease time to live")
        .retry(RetryPolicy {
            max_attempts: 20,
            initial_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(40),
        })
        .expect("a valid retry policy")
}

fn spawn<S>(
    runner: ProjectionRunner<S>,
    shutdown: &CancellationToken,
) -> JoinHandle<Vec<ProjectionReport>>
where
    S: TransactionalStore + CheckpointStore + LeaseStore + 'static,
{
    let shutdown = shutdown.clone();
    tokio::spawn(async move { runner.run(shutdown).await })
}

/// A runner starts applying; then a second starts, on the other handle, and both run
/// until every event was handled.
async fn two_runners<F: ReplayFixture>(fixture: &F, seen: &Arc<Seen>, delay: Duration) -> Vec<i64> {
    let (store, other, sequences) = stores(fixture).await;
    let shutdown = CancellationToken::new();
    let first = spawn(runner(&store, seen, delay), &shutdown);
    seen.wait_until_started().await;
    let second = spawn(runner(&other, seen, delay), &shutdown);
    seen.wait_for_all(&sequences).await;
    shutdown.cancel();
    for run in [first, second] {
        let reports = run.await.expect("the runner finishes");
        assert!(reports[0].result.is_ok(), "{reports:?}");
    }
    sequences
}

/// Handling an event takes longer than the lease's time to live: the runner renews its
/// lease meanwhile, and a second runner never applies beside it.
pub async fn an_event_slower_than_the_lease_keeps_one_runner_applying<F: ReplayFixture>(
    fixture: F,
) {
    let seen = Arc::new(Seen::default());
    let sequences = two_runners(&fixture, &seen, TTL * 8 / 5).await;
    seen.assert_one_at_a_time_in_order(&sequences);
}

/// An event's failures and their back-off last twice the lease's time to live: the
/// runner keeps its lease through its retries, and a second runner never applies
/// beside it.
pub async fn retries_outlasting_the_lease_keep_one_runner_applying<F: ReplayFixture>(fixture: F) {
    // Eight failures of 100 ms, with back-off between: twice the lease's time to live.
    let seen = Arc::new(Seen::default());
    seen.failures.store(8, Ordering::SeqCst);
    let sequences = two_runners(&fixture, &seen, Duration::from_millis(100)).await;
    seen.assert_one_at_a_time_in_order(&sequences);
}

/// A rebuild lasting about five times the lease's time to live keeps the lease all
/// along: a runner started meanwhile, on the other handle, waits for it.
pub async fn a_rebuild_longer_than_the_lease_keeps_it<F: ReplayFixture>(fixture: F) {
    let (store, other, sequences) = stores(&fixture).await;
    let seen = Arc::new(Seen::default());
    let delay = TTL * 3 / 5;
    let rebuilding = runner(&store, &seen, delay);
    let rebuild = tokio::spawn(async move { rebuilding.rebuild("p").await });
    seen.wait_until_started().await;
    let shutdown = CancellationToken::new();
    let running = spawn(runner(&other, &seen, delay), &shutdown);
    let rebuilt = rebuild.await.expect("the rebuild finishes");
    assert_eq!(rebuilt.expect("the rebuild succeeds"), EVENTS as u64);
    shutdown.cancel();
    let reports = running.await.expect("the runner finishes");
    assert!(reports[0].result.is_ok(), "{reports:?}");
    seen.assert_one_at_a_time_in_order(&sequences);
}

/// A rebuild asked for while the projection runs elsewhere (here on the other handle, as
/// in another process) is refused at once with [`Error::Config`] saying so, before it
/// resets anything, and the running projection goes on.
pub async fn a_rebuild_while_the_projection_runs_elsewhere_is_refused<F: ReplayFixture>(
    fixture: F,
) {
    let (store, other, sequences) = stores(&fixture).await;
    let seen = Arc::new(Seen::default());
    let shutdown = CancellationToken::new();
    let running = spawn(runner(&store, &seen, Duration::ZERO), &shutdown);
    seen.wait_for_all(&sequences).await;
    let refused = runner(&other, &seen, Duration::ZERO).rebuild("p").await;
    assert!(
        matches!(&refused, Err(Error::Config(message)) if message.contains("running elsewhere")),
        "{refused:?}"
    );
    let more = store
        .append(vec![event("after-the-refusal")])
        .await
        .expect("the event appends");
    seen.wait_for_all(&[more.appended[0].sequence]).await;
    shutdown.cancel();
    let reports = running.await.expect("the runner finishes");
    assert!(reports[0].result.is_ok(), "{reports:?}");
    let mut all = sequences;
    all.push(more.appended[0].sequence);
    seen.assert_one_at_a_time_in_order(&all);
}
