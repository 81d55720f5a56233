//! Appending in a transaction the caller holds: a refused batch leaves nothing of
//! itself in the caller's transaction, which may still commit its own writes (as on
//! PostgreSQL, where the refusing statement inserts nothing).

use std::time::Duration;

use eventstore_core::{AppendOptions, Error, Event, EventStore, ExpectedVersion};
use eventstore_sqlite::SqliteEventStore;
use rusqlite::{Connection, TransactionBehavior};

fn on(id: &str, subject: &str) -> Event {
    Event::builder()
        .id(id)
        .source("/s")
        .ty("t")
        .subject(subject)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_batch_leaves_nothing_in_the_callers_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let store = SqliteEventStore::open(&path).await.unwrap();
    store.append(vec![on("stored", "x")]).await.unwrap();
    let refusals: Vec<(Vec<Event>, AppendOptions)> = vec![
        // A duplicate of a stored event after a fresh one.
        (vec![on("e1", "x"), on("stored", "x")], AppendOptions::new()),
        // A duplicate inside the batch.
        (vec![on("e2", "y"), on("e2", "y")], AppendOptions::new()),
        // An expectation that fails on a subject after a fresh event's.
        (
            vec![on("e3", "y")],
            AppendOptions::new().expect("x", ExpectedVersion::Exact(7)),
        ),
    ];
    let local = store.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = Connection::open(&path).unwrap();
        conn.busy_timeout(Duration::from_secs(30)).unwrap();
        conn.execute_batch("CREATE TABLE business (note TEXT)")
            .unwrap();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .unwrap();
        tx.execute("INSERT INTO business VALUES ('kept')", [])
            .unwrap();
        for (events, options) in &refusals {
            let refused = local.append_in(&tx, events, options);
            assert!(refused.is_err(), "{refused:?}");
        }
        // The transaction goes on: a later batch appends after the refused ones.
        local
            .append_in(&tx, &[on("e4", "x")], &AppendOptions::new())
            .unwrap();
        tx.commit().unwrap();
    })
    .await
    .unwrap();
    for refused in ["e1", "e2", "e3"] {
        assert_eq!(store.get("/s", refused).await.unwrap(), None, "{refused}");
    }
    assert_eq!(store.stream_version("x").await.unwrap(), Some(2));
    assert_eq!(store.stream_version("y").await.unwrap(), None);
    let kept: String = Connection::open(dir.path().join("events.db"))
        .unwrap()
        .query_row("SELECT note FROM business", [], |row| row.get(0))
        .unwrap();
    assert_eq!(kept, "kept");
}

/// As on PostgreSQL, a closed store refuses to append, in a caller's transaction too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_store_appends_nothing_in_the_callers_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let store = SqliteEventStore::open(&path).await.unwrap();
    store.close().await.unwrap();
    let refused = tokio::task::spawn_blocking({
        let path = path.clone();
        move || {
            let mut conn = Connection::open(&path).unwrap();
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .unwrap();
            let refused = store.append_in(&tx, &[on("late", "x")], &AppendOptions::new());
            tx.commit().unwrap();
            refused
        }
    })
    .await
    .unwrap();
    assert!(matches!(refused, Err(Error::Closed)), "{refused:?}");
    let stored: i64 = Connection::open(&path)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM events", [], |row| row.get(0))
        .unwrap();
    assert_eq!(stored, 0);
}
