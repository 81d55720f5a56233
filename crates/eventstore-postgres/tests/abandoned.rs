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
