//! One relay of a name sends at a time, even while a send or its retries outlast the
//! lease's time to live, and shutdown does not wait for a send: on a SQLite file.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use eventstore_core::{CheckpointStore, Event, EventStore, SendError, Sender, StoredEvent};
use eventstore_outbox::{OutboxRelay, RelayStats, RetryPolicy};
use eventstore_sqlite::{SqliteEventStore, SqliteOptions};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const TTL: Duration = Duration::from_millis(500);

/// What every sender of a test saw, whichever relay it belongs to.
#[derive(Default)]
struct Broker {
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
    started: AtomicUsize,
    /// Sends dropped before they finished.
    dropped: AtomicUsize,
    /// Calls left to fail.
    failures: AtomicUsize,
    /// The sequences taken, in the order they were taken.
    taken: Mutex<Vec<i64>>,
}

impl Broker {
    fn failing(calls: usize) -> Arc<Self> {
        let broker = Self::default();
        broker.failures.store(calls, Ordering::SeqCst);
        Arc::new(broker)
    }

    fn started(&self) -> usize {
        self.started.load(Ordering::SeqCst)
    }

    fn taken(&self) -> Vec<i64> {
        self.taken.lock().unwrap().clone()
    }

    /// Waits until every sequence in `1..=last` was taken (a hang guard, not a timing).
    async fn wait_for(&self, last: i64) {
        for _ in 0..2400 {
            let taken = self.taken();
            if (1..=last).all(|s| taken.contains(&s)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("not every event was delivered: {:?}", self.taken());
    }

    async fn wait_until_started(&self, sends: usize) {
        for _ in 0..2400 {
            if self.started() >= sends {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no send started");
    }

    /// Every event at least once, and each first taken after every earlier one.
    fn assert_in_order(&self, last: i64) {
        let mut first_takes = Vec::new();
        for sequence in self.taken() {
            if !first_takes.contains(&sequence) {
                first_takes.push(sequence);
            }
        }
        assert_eq!(first_takes, (1..=last).collect::<Vec<_>>(), "out of order");
    }

    fn assert_one_in_flight(&self) {
        assert_eq!(
            self.most_in_flight.load(Ordering::SeqCst),
            1,
            "two relays of one name were sending at once: {:?}",
            self.taken()
        );
    }
}

/// One in-flight send, counted out however it ends (dropped included).
struct InFlight<'a> {
    broker: &'a Broker,
    finished: bool,
}

impl<'a> InFlight<'a> {
    fn start(broker: &'a Broker) -> Self {
        let now = broker.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        broker.most_in_flight.fetch_max(now, Ordering::SeqCst);
        broker.started.fetch_add(1, Ordering::SeqCst);
        Self {
            broker,
            finished: false,
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.broker.in_flight.fetch_sub(1, Ordering::SeqCst);
        if !self.finished {
            self.broker.dropped.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// A sender to the shared broker taking `delay` per send; `None` never finishes.
struct Slow {
    broker: Arc<Broker>,
    delay: Option<Duration>,
}

#[async_trait]
impl Sender for Slow {
    async fn send(&self, events: &[StoredEvent]) -> Result<(), SendError> {
        let mut in_flight = InFlight::start(&self.broker);
        match self.delay {
            Some(delay) => tokio::time::sleep(delay).await,
            None => std::future::pending().await,
        }
        in_flight.finished = true;
        let failures = &self.broker.failures;
        if failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err("broker unavailable".into());
        }
        let mut taken = self.broker.taken.lock().unwrap();
        taken.extend(events.iter().map(StoredEvent::sequence));
        Ok(())
    }
}

async fn store_with(dir: &Path, events: usize, busy_timeout: Duration) -> Arc<SqliteEventStore> {
    let store = SqliteOptions::file(dir.join("outbox.db"))
        .busy_timeout(busy_timeout)
        .open()
        .await
        .unwrap();
    let events = (0..events)
        .map(|i| {
            Event::builder()
                .id(format!("e{i}"))
                .source("/shop")
                .ty("order.created")
                .subject(format!("order-{}", i % 3))
                .build()
                .unwrap()
        })
        .collect();
    store.append(events).await.unwrap();
    Arc::new(store)
}

fn relay(store: &Arc<SqliteEventStore>, broker: &Arc<Broker>, delay: Duration) -> OutboxRelay {
    let sender = Arc::new(Slow {
        broker: Arc::clone(broker),
        delay: Some(delay),
    });
    OutboxRelay::new("shared", store.clone(), sender)
        .batch_size(10)
        .lease_ttl(TTL)
        .retry(RetryPolicy {
            max_attempts: 20,
            initial_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(40),
        })
}

fn spawn(relay: OutboxRelay, shutdown: &CancellationToken) -> JoinHandle<RelayStats> {
    let shutdown = shutdown.clone();
    tokio::spawn(async move { relay.run(shutdown).await.unwrap() })
}

/// A relay starts sending; then a second of the same name starts, and both run until
/// every event was delivered.
async fn two_relays(store: &Arc<SqliteEventStore>, broker: &Arc<Broker>, delay: Duration) {
    let shutdown = CancellationToken::new();
    let first = spawn(relay(store, broker, delay), &shutdown);
    broker.wait_until_started(1).await;
    let second = spawn(relay(store, broker, delay), &shutdown);
    broker.wait_for(30).await;
    shutdown.cancel();
    first.await.unwrap();
    second.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_send_slower_than_the_lease_keeps_one_relay_of_a_name_sending() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), 30, Duration::from_secs(5)).await;
    let broker = Arc::new(Broker::default());
    two_relays(&store, &broker, TTL * 8 / 5).await;
    broker.assert_one_in_flight();
    broker.assert_in_order(30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retries_outlasting_the_lease_keep_one_relay_of_a_name_sending() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), 30, Duration::from_secs(5)).await;
    // Eight failures of 100 ms, with back-off between: twice the lease's time to live.
    let broker = Broker::failing(8);
    two_relays(&store, &broker, Duration::from_millis(100)).await;
    broker.assert_one_in_flight();
    broker.assert_in_order(30);
}

/// Another connection holds the database's write lock past the lease's deadline while
/// the first relay sends: its renewals fail, and it drops the send before the lease can
/// pass to the second.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_relay_that_cannot_renew_drops_its_send_before_another_takes_over() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), 30, Duration::from_millis(50)).await;
    let broker = Arc::new(Broker::default());
    let shutdown = CancellationToken::new();
    // A send far longer than the lock, so a renewal falls in it while the send is out.
    let first = spawn(relay(&store, &broker, TTL * 6), &shutdown);
    broker.wait_until_started(1).await;
    hold_write_lock(dir.path().join("outbox.db"), TTL * 2).await;
    let second = spawn(relay(&store, &broker, TTL / 5), &shutdown);
    broker.wait_for(30).await;
    shutdown.cancel();
    first.await.unwrap();
    second.await.unwrap();
    broker.assert_one_in_flight();
    broker.assert_in_order(30);
    assert!(
        broker.dropped.load(Ordering::SeqCst) >= 1,
        "the first send was dropped"
    );
}

/// Takes the write lock on another connection, and keeps it for `hold` on a thread.
async fn hold_write_lock(path: PathBuf, hold: Duration) {
    let (locked, taken) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        locked.send(()).unwrap();
        std::thread::sleep(hold);
        conn.execute_batch("COMMIT").unwrap();
    });
    taken.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_returns_at_shutdown_while_a_send_never_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), 3, Duration::from_secs(5)).await;
    let broker = Arc::new(Broker::default());
    let sender = Arc::new(Slow {
        broker: Arc::clone(&broker),
        delay: None,
    });
    let shutdown = CancellationToken::new();
    let run = spawn(OutboxRelay::new("stuck", store.clone(), sender), &shutdown);
    broker.wait_until_started(1).await;
    shutdown.cancel();
    // A hang guard, not a timing: `run` used to wait for the send forever.
    let stats = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("run returned after shutdown")
        .unwrap();
    assert_eq!(stats.delivered, 0);
    assert_eq!(broker.dropped.load(Ordering::SeqCst), 1);
    assert_eq!(
        store.load_checkpoint("relay/stuck").await.unwrap(),
        None,
        "the dropped batch's checkpoint is not saved"
    );
}
