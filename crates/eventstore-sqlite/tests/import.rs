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
