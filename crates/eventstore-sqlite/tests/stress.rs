//! The concurrency stress harness of the testkit on a SQLite file: writers racing, some
//! batches refused, some appended in a transaction of another connection held open and
//! committed or rolled back, with a live follower and an outbox relay. `STRESS_EVENTS`
//! and `STRESS_REPEATS` size it (`cargo xtask stress`); the default is the short CI run.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use eventstore_core::{AppendOptions, Error, EventStore};
use eventstore_outbox::OutboxRelay;
use eventstore_sqlite::SqliteEventStore;
use eventstore_testkit::sender::Recorder;
use eventstore_testkit::stress::{Hold, StressSize, writers_followed_and_relayed};
use rusqlite::{Connection, TransactionBehavior};
use tokio_util::sync::CancellationToken;

fn hold(store: SqliteEventStore, path: PathBuf) -> Hold {
    Arc::new(move |events, held_for: Duration, commit| {
        let (store, path) = (store.clone(), path.clone());
        Box::pin(async move {
            let notify = store.clone();
            let committed = tokio::task::spawn_blocking(move || {
                let mut conn = Connection::open(&path).map_err(Error::database)?;
                conn.busy_timeout(Duration::from_secs(30))
                    .map_err(Error::database)?;
                let tx = conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(Error::database)?;
                store.append_in(&tx, &events, &AppendOptions::new())?;
                // The writer lock is held meanwhile: every other append waits.
                std::thread::sleep(held_for);
                if commit {
                    tx.commit().map_err(Error::database)?;
                } else {
                    tx.rollback().map_err(Error::database)?;
                }
                Ok::<_, Error>(commit)
            })
            .await
            .expect("the held append ran")?;
            notify.notify_committed();
            Ok(committed)
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writers_followed_and_relayed_lose_nothing() {
    let size = StressSize::from_env();
    for round in 0..size.repeats {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("events.db");
        let store = SqliteEventStore::open(&path).await.expect("store opens");
        let recorder = Arc::new(Recorder::default());
        let relay = OutboxRelay::new("stress", Arc::new(store.clone()), recorder.clone());
        let stop = CancellationToken::new();
        let relaying = tokio::spawn({
            let stop = stop.clone();
            async move { relay.run(stop).await }
        });
        let shared: Arc<dyn EventStore> = Arc::new(store.clone());
        let held = Some(hold(store.clone(), path));
        let report = writers_followed_and_relayed(shared, recorder, held, size).await;
        stop.cancel();
        relaying.await.expect("relay task").expect("relay ran");
        eprintln!("sqlite round {round}: {report:?}");
    }
}
