//! A call the caller stops waiting for (a time-out around it, a dropped future) leaves
//! nothing behind that the store's next calls wait for.

mod common;

use std::time::Duration;

use eventstore_core::EventStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_given_up_on_leaves_no_busy_connection_in_the_pool() {
    let schema = common::Schema::new("abandon");
    let store = schema.options().pool_size(1).unwrap().open().await.unwrap();
    // Another session holds the subject's append lock: an append to it waits.
    let mut other = common::admin().await;
    let tx = other.transaction().await.unwrap();
    let held = schema.open().await;
    held.append_in(
        &tx,
        vec![eventstore_testkit::data::on_subject("held", "s")],
        eventstore_core::AppendOptions::new(),
    )
    .await
    .unwrap();
    let given_up = tokio::time::timeout(
        Duration::from_millis(300),
        store.append(vec![eventstore_testkit::data::on_subject("waits", "s")]),
    )
    .await;
    assert!(given_up.is_err(), "the append waited for the lock");
    // The store's next call must not queue behind the abandoned statement.
    let next = tokio::time::timeout(Duration::from_secs(3), store.stream_version("t")).await;
    assert!(
        next.is_ok(),
        "the next call waited behind the abandoned append"
    );
    // And the abandoned statement is cancelled: once no statement waits for the lock
    // any more (a hang guard, not a timing), letting the lock go appends nothing.
    let admin = common::admin().await;
    let waiting = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
         AND query LIKE '%{}%'",
        schema.name
    );
    for _ in 0..100 {
        let count: i64 = admin.query_one(&waiting, &[]).await.unwrap().get(0);
        if count == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tx.rollback().await.unwrap();
    assert_eq!(store.stream_version("s").await.unwrap(), None);
    assert!(store.get("/testkit", "waits").await.unwrap().is_none());
}

/// The backend process behind the store's only pooled connection.
async fn backend(store: &eventstore_postgres::PostgresEventStore) -> i32 {
    let client = store.pool().get().await.unwrap();
    client
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0)
}

/// Reads that end, whether with their last row, at their limit, or with an error the
/// store returns, give their connection back to the pool: with a pool of one, the same
/// backend serves every call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_that_end_keep_their_connection() {
    use eventstore_core::EventQuery;
    use futures::{StreamExt as _, TryStreamExt as _};

    let schema = common::Schema::new("keep");
    let store = schema.options().pool_size(1).unwrap().open().await.unwrap();
    let events = (0..5)
        .map(|i| eventstore_testkit::data::event(format!("e{i}")))
        .collect();
    store.append(events).await.unwrap();
    let pid = backend(&store).await;

    let all: Vec<_> = store.query(EventQuery::new()).try_collect().await.unwrap();
    assert_eq!(all.len(), 5);
    assert_eq!(backend(&store).await, pid, "a read to its end");

    // One `next()` on a read limited to one event, then the stream dropped.
    let first = store.query(EventQuery::new().limit(1)).next().await;
    assert!(first.is_some_and(|e| e.is_ok()));
    assert_eq!(backend(&store).await, pid, "a read stopped at its limit");

    let refused = store
        .query(EventQuery::new().extension("BAD", "x"))
        .try_collect::<Vec<_>>()
        .await;
    assert!(matches!(
        refused,
        Err(eventstore_core::Error::InvalidQuery(_))
    ));
    assert_eq!(backend(&store).await, pid, "a read refused");

    let followed: Vec<_> = store
        .query(EventQuery::new().within_horizon(i64::MAX))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(followed.len(), 5);
    assert_eq!(backend(&store).await, pid, "a paged read");
}
