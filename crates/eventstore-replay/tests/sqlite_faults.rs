//! A projection waits out a store outage while it applies an event: on a SQLite file,
//! whose write lock another connection takes for a second, past the store's busy
//! timeout. The test itself is the replay suite's (`eventstore_testkit::replay`), which
//! PostgreSQL runs with an outage of its own.

use std::sync::Arc;
use std::time::Duration;

use eventstore_sqlite::SqliteOptions;
use eventstore_testkit::replay::a_store_outage_while_applying_is_waited_out;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_store_outage_while_applying_is_waited_out_on_a_locked_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let store = SqliteOptions::file(&path)
        .busy_timeout(Duration::from_millis(50))
        .open()
        .await
        .unwrap();
    let outage = move || {
        let path = path.clone();
        let (locked, taken) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let conn = rusqlite::Connection::open(path).unwrap();
            conn.execute_batch("BEGIN IMMEDIATE").unwrap();
            locked.send(()).unwrap();
            std::thread::sleep(Duration::from_secs(1));
            conn.execute_batch("COMMIT").unwrap();
        });
        Box::pin(async move { taken.await.unwrap() }) as futures::future::BoxFuture<'static, ()>
    };
    a_store_outage_while_applying_is_waited_out(Arc::new(store), Box::new(outage)).await;
}
