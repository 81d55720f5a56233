//! One runner of a projection applies at a time, even while handling an event or its
//! retries outlast the lease's time to live, and during a rebuild: on a SQLite file.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use eventstore_core::{EventStore, RetryPolicy, StoredEvent};
use eventstore_replay::{BoxError, Projection, ProjectionReport, ProjectionRunner};
use eventstore_sqlite::SqliteEventStore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const TTL: Duration = Duration::from_millis(500);
const EVENTS: i64 = 4;

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
        self.handled.lock().unwrap().clone()
    }

    /// Waits until every event was handled (a hang guard, not a timing).
    async fn wait_for_all(&self) {
        for _ in 0..2400 {
            let handled = self.handled();
            if (1..=EVENTS).all(|s| handled.contains(&s)) {
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

    /// One handler at a time; every event at least once, each first handled after
    /// every earlier one.
    fn assert_one_at_a_time_in_order(&self) {
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
        assert_eq!(first, (1..=EVENTS).collect::<Vec<_>>(), "out of order");
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
        self.seen.handled.lock().unwrap().push(event.sequence());
        Ok(())
    }
}

async fn store(dir: &tempfile::TempDir) -> Arc<SqliteEventStore> {
    let store = SqliteEventStore::open(dir.path().join("events.db"))
        .await
        .unwrap();
    let events = (0..EVENTS)
        .map(|i| eventstore_testkit::data::event(format!("e{i}")))
        .collect();
    store.append(events).await.unwrap();
    Arc::new(store)
}

fn runner(
    store: &Arc<SqliteEventStore>,
    seen: &Arc<Seen>,
    delay: Duration,
) -> ProjectionRunner<SqliteEventStore> {
    let projection = Slow {
        seen: Arc::clone(seen),
        delay,
    };
    ProjectionRunner::new(Arc::clone(store))
        .with(projection)
        .lease_ttl(TTL)
        .retry(RetryPolicy {
            max_attempts: 20,
            initial_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(40),
        })
}

fn spawn(
    runner: ProjectionRunner<SqliteEventStore>,
    shutdown: &CancellationToken,
) -> JoinHandle<Vec<ProjectionReport>> {
    let shutdown = shutdown.clone();
    tokio::spawn(async move { runner.run(shutdown).await })
}

/// A runner starts applying; then a second starts, and both run until every event
/// was handled.
async fn two_runners(store: &Arc<SqliteEventStore>, seen: &Arc<Seen>, delay: Duration) {
    let shutdown = CancellationToken::new();
    let first = spawn(runner(store, seen, delay), &shutdown);
    seen.wait_until_started().await;
    let second = spawn(runner(store, seen, delay), &shutdown);
    seen.wait_for_all().await;
    shutdown.cancel();
    for run in [first, second] {
        let reports = run.await.unwrap();
        assert!(reports[0].result.is_ok(), "{reports:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_event_slower_than_the_lease_keeps_one_runner_applying() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let seen = Arc::new(Seen::default());
    two_runners(&store, &seen, TTL * 8 / 5).await;
    seen.assert_one_at_a_time_in_order();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retries_outlasting_the_lease_keep_one_runner_applying() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    // Eight failures of 100 ms, with back-off between: twice the lease's time to live.
    let seen = Arc::new(Seen::default());
    seen.failures.store(8, Ordering::SeqCst);
    two_runners(&store, &seen, Duration::from_millis(100)).await;
    seen.assert_one_at_a_time_in_order();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rebuild_longer_than_the_lease_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let seen = Arc::new(Seen::default());
    let delay = TTL * 3 / 5; // the rebuild takes about five times the lease's time to live
    let rebuilding = runner(&store, &seen, delay);
    let rebuild = tokio::spawn(async move { rebuilding.rebuild("p").await });
    seen.wait_until_started().await;
    let shutdown = CancellationToken::new();
    let running = spawn(runner(&store, &seen, delay), &shutdown);
    assert_eq!(rebuild.await.unwrap().unwrap(), EVENTS as u64);
    shutdown.cancel();
    let reports = running.await.unwrap();
    assert!(reports[0].result.is_ok(), "{reports:?}");
    seen.assert_one_at_a_time_in_order();
}
