//! A projection waits out a store outage while it applies an event: on a SQLite file,
//! whose write lock another connection takes. The rest of the replay behaviour is the
//! backend-agnostic suite's (`eventstore_testkit::replay`), which every backend runs.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use eventstore_core::{CheckpointStore, EventStore, RetryPolicy, StoredEvent};
use eventstore_replay::{BoxError, Projection, ProjectionRunner};
use eventstore_sqlite::SqliteOptions;
use tokio_util::sync::CancellationToken;

const EVENTS: i64 = 5;

/// On its first event, has another connection hold the database's write lock for a
/// second: saving the checkpoint times out, again and again past the retries.
struct LocksTheStoreOnce {
    path: PathBuf,
    locked: AtomicBool,
    handled: Mutex<Vec<i64>>,
}

#[async_trait]
impl Projection for LocksTheStoreOnce {
    fn name(&self) -> &str {
        "p"
    }

    async fn handle(&self, event: &StoredEvent) -> Result<(), BoxError> {
        if !self.locked.swap(true, Ordering::SeqCst) {
            let path = self.path.clone();
            let (locked, taken) = tokio::sync::oneshot::channel();
            std::thread::spawn(move || {
                let conn = rusqlite::Connection::open(path).unwrap();
                conn.execute_batch("BEGIN IMMEDIATE").unwrap();
                locked.send(()).unwrap();
                std::thread::sleep(Duration::from_secs(1));
                conn.execute_batch("COMMIT").unwrap();
            });
            taken.await.unwrap();
        }
        self.handled.lock().unwrap().push(event.sequence());
        Ok(())
    }
}

async fn seeded(
    path: &std::path::Path,
    busy_timeout: Duration,
) -> eventstore_sqlite::SqliteEventStore {
    let store = SqliteOptions::file(path)
        .busy_timeout(busy_timeout)
        .open()
        .await
        .unwrap();
    let events = (0..EVENTS)
        .map(|i| eventstore_testkit::data::event(format!("e{i}")))
        .collect();
    store.append(events).await.unwrap();
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_store_outage_while_applying_is_waited_out() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let store = seeded(&path, Duration::from_millis(50)).await;
    let projection = Arc::new(LocksTheStoreOnce {
        path,
        locked: AtomicBool::new(false),
        handled: Mutex::new(Vec::new()),
    });
    let runner = ProjectionRunner::new(Arc::new(store.clone()))
        .with(Shared(Arc::clone(&projection)))
        .retry(RetryPolicy {
            max_attempts: 3,
            initial_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(40),
        });
    let shutdown = CancellationToken::new();
    let run = runner.run(shutdown.clone());
    tokio::pin!(run);
    // Until every event's checkpoint is saved, or the runner ends (a hang guard, not
    // a timing).
    let through = async {
        for _ in 0..2400 {
            if store.load_checkpoint("projection/p").await.ok().flatten() == Some(EVENTS) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let reports = tokio::select! {
        reports = &mut run => reports,
        () = through => {
            shutdown.cancel();
            run.await
        }
    };
    assert!(
        reports[0].result.is_ok(),
        "the projection stopped: {:?}",
        reports[0].result
    );
    let mut handled = projection.handled.lock().unwrap().clone();
    assert!(
        handled.len() > EVENTS as usize,
        "the outage was felt: the first event handled again ({handled:?})"
    );
    handled.dedup();
    assert_eq!(handled, (1..=EVENTS).collect::<Vec<_>>());
}

/// A projection shared with the test, to look at what it handled.
struct Shared<P>(Arc<P>);

#[async_trait]
impl<P: Projection> Projection for Shared<P> {
    fn name(&self) -> &str {
        self.0.name()
    }

    async fn handle(&self, event: &StoredEvent) -> Result<(), BoxError> {
        self.0.handle(event).await
    }
}
