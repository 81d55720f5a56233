//! A row edited outside the store into something undecodable is reported as
//! `Error::Corrupt` by every read, after the events before it, and never as a
//! silently repaired event.

use eventstore_core::{Error, Event, EventQuery, EventStore as _};
use eventstore_sqlite::SqliteEventStore;
use futures::StreamExt as _;

fn event(i: u32) -> Event {
    Event::builder()
        .id(format!("e{i}"))
        .source("/test")
        .ty("t")
        .subject("s")
        .json(&serde_json::json!({ "i": i }))
        .build()
        .expect("valid")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_row_whose_json_data_was_broken_reads_as_corrupt() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("events.db");
    let store = SqliteEventStore::open(&path).await.expect("store opens");
    store
        .append((0..5).map(event).collect())
        .await
        .expect("appends");
    let conn = rusqlite::Connection::open(&path).expect("opens");
    conn.execute("UPDATE events SET data = '{\"i\": ' WHERE sequence = 3", [])
        .expect("edits the row");
    drop(conn);

    let results: Vec<_> = store.query(EventQuery::new()).collect().await;
    assert_eq!(
        results.len(),
        3,
        "two events, then the error ends the stream"
    );
    assert!(results[..2].iter().all(Result::is_ok));
    assert!(
        matches!(&results[2], Err(Error::Corrupt { sequence: 3, .. })),
        "{:?}",
        results[2]
    );
    let streamed: Vec<_> = store.stream("s", 1).collect().await;
    assert!(matches!(
        streamed.last(),
        Some(Err(Error::Corrupt { sequence: 3, .. }))
    ));
    assert!(
        store
            .get("/test", "e2")
            .await
            .is_err_and(|e| matches!(e, Error::Corrupt { .. }))
    );
    assert!(store.get("/test", "e1").await.expect("reads").is_some());
}
