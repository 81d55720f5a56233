//! Bulk import on SQLite database files: the backend-agnostic import tests, and what
//! only SQLite promises (an import survives reopening the file).

use eventstore_sqlite::{SqliteEventStore, SqliteOptions};
use eventstore_testkit::Fixture;
use eventstore_testkit::import::{Importer, RARE_POLLS, importer};

async fn fresh() -> (Fixture, Importer) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = SqliteOptions::file(dir.path().join("events.db"))
        .poll_interval(RARE_POLLS)
        .open()
        .await
        .expect("store opens");
    let import = importer(store.clone(), |store, events| {
        Box::pin(async move { store.import(events).await })
    });
    (Fixture::new(store).keep(dir), import)
}

eventstore_testkit::import_suite!(fresh);

/// A store reopened on the file sees the import: it was committed, not left in the
/// writer's transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_is_durable_across_reopening() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("events.db");
    let store = SqliteEventStore::open(&path).await.unwrap();
    let events: Vec<_> = (0..100)
        .map(|i| eventstore_testkit::data::on_subject(format!("e{i}"), "s"))
        .collect();
    store.import(events).await.unwrap();
    eventstore_core::EventStore::close(&store).await.unwrap();
    drop(store);
    let reopened = SqliteEventStore::open(&path).await.unwrap();
    assert_eq!(
        eventstore_core::EventStore::stream_version(&reopened, "s")
            .await
            .unwrap(),
        Some(100)
    );
}

/// An import given up on (its future dropped, here by a time-out) stops and writes
/// nothing, as on PostgreSQL: it neither holds the writer, and every append behind it,
/// for as long as its source lasts, nor commits for a caller that has gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_given_up_on_stops_and_writes_nothing() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    /// Ends the endless source when the test ends, passed or failed.
    struct Dry(Arc<AtomicBool>);
    impl Drop for Dry {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }

    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = SqliteEventStore::open(dir.path().join("events.db"))
        .await
        .unwrap();
    let dry = Dry(Arc::new(AtomicBool::new(false)));
    let source = {
        let dry = Arc::clone(&dry.0);
        (0..).map_while(move |i| {
            std::thread::sleep(Duration::from_millis(1));
            (!dry.load(Ordering::Relaxed))
                .then(|| eventstore_testkit::data::on_subject(format!("imported-{i}"), "s"))
        })
    };
    let given_up = tokio::time::timeout(Duration::from_millis(200), store.import(source)).await;
    assert!(given_up.is_err(), "the source never ends: {given_up:?}");
    let appended = tokio::time::timeout(
        Duration::from_secs(10),
        eventstore_core::EventStore::append(
            &store,
            vec![eventstore_testkit::data::on_subject("after", "s")],
        ),
    )
    .await;
    assert!(
        appended.is_ok(),
        "the append waited behind the import given up on"
    );
    appended.unwrap().unwrap();
    assert_eq!(
        eventstore_core::EventStore::stream_version(&store, "s")
            .await
            .unwrap(),
        Some(1),
        "nothing of the import was written"
    );
    drop(dry);
}
