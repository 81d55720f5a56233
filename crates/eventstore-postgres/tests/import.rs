//! Bulk import (binary `COPY`): the backend-agnostic import tests, each in a schema of
//! its own, and how an import and appends in other transactions wait for each other.

mod common;

use std::sync::Arc;
use std::time::Duration;

use eventstore_core::{AppendOptions, EventStore, ExpectedVersion, Limits};
use eventstore_postgres::{PostgresEventStore, PostgresOptions};
use eventstore_testkit::Fixture;
use eventstore_testkit::data::{all, event, on_subject};
use eventstore_testkit::import::{Importer, RARE_POLLS, an_import_wakes_a_follower_on, importer};

async fn fresh() -> (Fixture, Importer) {
    let schema = common::Schema::new("imp");
    let store = open(schema.options()).await;
    (Fixture::new(store.clone()).keep(schema), import(store))
}

async fn open(options: PostgresOptions) -> PostgresEventStore {
    options
        .poll_interval(RARE_POLLS)
        .open()
        .await
        .expect("store opens")
}

fn import(store: PostgresEventStore) -> Importer {
    importer(store, |store, events| {
        Box::pin(async move { store.import(events).await })
    })
}

eventstore_testkit::import_suite!(fresh);

/// Whether the backend `$1` waits for a lock another holds.
const WAITS: &str = "SELECT cardinality(pg_blocking_pids($1)) > 0";

/// Whether another backend waits for a lock the backend `$1` holds.
const BLOCKS: &str =
    "SELECT count(*) > 0 FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))";

/// Waits until `condition` ([`WAITS`] or [`BLOCKS`]) holds for the backend `pid`, or
/// `done`; panics after 10 s.
async fn until(condition: &str, pid: i32, done: impl Fn() -> bool) {
    let admin = common::admin().await;
    for _ in 0..1_000 {
        let row = admin.query_one(condition, &[&pid]).await.unwrap();
        if row.get(0) || done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{condition} never held for backend {pid}");
}

/// The pid of the backend serving `tx`.
async fn backend_pid(tx: &tokio_postgres::Transaction<'_>) -> i32 {
    tx.query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0)
}

/// An append in a caller's transaction (no expectation) to a subject an import has
/// written but not committed waits for the import, which holds the table's append lock,
/// and is appended after it: it does not fail with a conflict on the stream version.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_append_in_a_transaction_waits_for_an_import_writing_its_subject() {
    let schema = common::Schema::new("impwait");
    // One event a chunk: each imported event's data alone reaches the batch-bytes limit,
    // so the import has written the first two when it asks its iterator for the third.
    let store = open(
        schema
            .options()
            .limits(Limits::default().max_batch_bytes(1024)),
    )
    .await;
    let (reached, at_third) = tokio::sync::oneshot::channel();
    let (resume, resumed) = std::sync::mpsc::channel::<()>();
    let mut reached = Some(reached);
    let events = (0..3).map(move |i| {
        if i == 2
            && let Some(reached) = reached.take()
        {
            reached.send(()).unwrap();
            tokio::task::block_in_place(|| resumed.recv().unwrap());
        }
        on_subject(format!("imp{i}"), "s")
            .into_builder()
            .binary(vec![0u8; 1024])
            .build()
            .unwrap()
    });
    let importing = tokio::spawn({
        let store = store.clone();
        async move { store.import(events).await }
    });
    at_third.await.unwrap();

    let mut client = store.pool().get().await.unwrap();
    let tx = client.transaction().await.unwrap();
    let pid = backend_pid(&tx).await;
    let appending = store.append_in(
        &*tx,
        vec![on_subject("appended", "s")],
        AppendOptions::new(),
    );
    let release = async {
        until(WAITS, pid, || false).await;
        resume.send(()).unwrap();
    };
    let (appended, ()) = tokio::join!(appending, release);
    let appended = appended.expect("the append waits for the import, then lands");
    assert_eq!(appended.appended[0].stream_version, Some(4));
    tx.commit().await.unwrap();
    assert_eq!(importing.await.unwrap().unwrap().count, 3);
    let ids: Vec<String> = all(&store)
        .await
        .iter()
        .map(|e| e.id().to_owned())
        .collect();
    assert_eq!(ids, ["imp0", "imp1", "imp2", "appended"]);
}

/// A transaction that checked a subject it does not write (an expectation) holds that
/// subject's lock and the table's append lock until it ends: an import writing the
/// subject waits for it, so the stream the transaction checked cannot change before it
/// commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_waits_for_a_transaction_that_checked_its_subject() {
    let schema = common::Schema::new("impcheck");
    let store = open(schema.options()).await;
    store.append(vec![on_subject("s1", "s")]).await.unwrap();
    let mut client = store.pool().get().await.unwrap();
    let tx = client.transaction().await.unwrap();
    let pid = backend_pid(&tx).await;
    let checked = AppendOptions::new().expect("s", ExpectedVersion::Exact(1));
    store
        .append_in(&*tx, vec![on_subject("t1", "t")], checked)
        .await
        .unwrap();

    let importing = tokio::spawn({
        let store = store.clone();
        async move { store.import(vec![on_subject("s2", "s")]).await }
    });
    until(BLOCKS, pid, || importing.is_finished()).await;
    assert!(
        !importing.is_finished(),
        "the import wrote a stream an open transaction checked"
    );
    assert_eq!(store.stream_version("s").await.unwrap(), Some(1));
    tx.commit().await.unwrap();
    assert_eq!(importing.await.unwrap().unwrap().count, 1);
    assert_eq!(store.stream_version("s").await.unwrap(), Some(2));
    assert_eq!(store.stream_version("t").await.unwrap(), Some(1));
}

/// An import wakes followers in other processes (a store of their own on the same
/// table, woken through LISTEN/NOTIFY), not only its own store's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_wakes_followers_in_other_processes() {
    let schema = common::Schema::new("impwake");
    let store = open(schema.options()).await;
    let other = open(schema.options()).await;
    an_import_wakes_a_follower_on(Arc::new(other), Arc::new(store.clone()), import(store)).await;
}

/// A store on the application's pool leaves the pool open when it is closed: an import
/// through it is refused all the same, and writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_on_a_closed_store_on_the_applications_pool_writes_nothing() {
    let schema = common::Schema::new("impclosed");
    let owner = open(schema.options()).await;
    let on_pool = open(
        PostgresOptions::from_pool(owner.pool().clone())
            .schema(&schema.name)
            .unwrap(),
    )
    .await;
    on_pool.close().await.unwrap();
    let imported: Result<_, _> = on_pool.import(vec![event("late")]).await;
    assert!(
        matches!(imported, Err(eventstore_core::Error::Closed)),
        "{imported:?}"
    );
    assert!(all(&owner).await.is_empty(), "nothing written");
}
