//! Bulk import on SQLite database files: the backend-agnostic import tests, and what
//! only SQLite promises (an import beside appends to its own subjects always lands).

use std::sync::Arc;

use eventstore_sqlite::SqliteEventStore;
use eventstore_testkit::Fixture;
use eventstore_testkit::import::{Importer, import_beside_appends, importer};

async fn fresh() -> (Fixture, Importer) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = SqliteEventStore::open(dir.path().join("events.db"))
        .await
        .expect("store opens");
    let import = importer(store.clone(), |store, events| {
        Box::pin(async move { store.import(events).await })
    });
    (Fixture::new(store).keep(dir), import)
}

eventstore_testkit::import_suite!(fresh);

/// SQLite's import takes the writer as appends do, so appends to its subjects wait for
/// it instead of making it conflict.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn appends_to_the_imported_subjects_wait_and_the_import_lands() {
    let (fixture, import) = fresh().await;
    assert!(import_beside_appends(Arc::clone(&fixture.store), import).await);
}

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
