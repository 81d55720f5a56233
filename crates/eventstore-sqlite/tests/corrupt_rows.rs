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

/// JSON data edited outside the store, every way the read-side check must catch: each
/// reads as `Corrupt`, never as an event whose JSON text is not JSON. Valid JSON the
/// fast check does not vouch for (deep nesting, surrounding whitespace) still reads.
#[tokio::test(flavor = "multi_thread")]
async fn json_data_is_checked_again_on_every_read() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("events.db");
    let store = SqliteEventStore::open(&path).await.expect("store opens");
    let broken = [
        "{\"i\": 1} x",
        "{\"i\": 01}",
        "{\"i\": \"tab\there\"}",
        "{\"i\": \"\\x\"}",
        "[1,]",
        "",
        "   ",
    ];
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let padded = "  {\"i\": [1, 2]}\n";
    let edits: Vec<&str> = broken
        .iter()
        .copied()
        .chain([deep.as_str(), padded])
        .collect();
    store
        .append((0..edits.len() as u32).map(event).collect())
        .await
        .expect("appends");
    let conn = rusqlite::Connection::open(&path).expect("opens");
    for (i, text) in edits.iter().enumerate() {
        conn.execute(
            "UPDATE events SET data = ?1 WHERE id = ?2",
            rusqlite::params![text, format!("e{i}")],
        )
        .expect("edits the row");
    }
    drop(conn);

    for (i, text) in broken.iter().enumerate() {
        let read = store.get("/test", &format!("e{i}")).await;
        assert!(
            matches!(read, Err(Error::Corrupt { .. })),
            "{text:?} read as {read:?}"
        );
        let queried: Vec<_> = store
            .query(EventQuery::new().after(i as i64).limit(1))
            .collect()
            .await;
        assert!(
            matches!(queried.as_slice(), [Err(Error::Corrupt { .. })]),
            "{text:?} queried as {queried:?}"
        );
    }
    let deep_read = store
        .get("/test", &format!("e{}", broken.len()))
        .await
        .expect("valid JSON reads")
        .expect("the event exists");
    let json = deep_read
        .data()
        .and_then(|d| d.as_json())
        .expect("JSON data");
    assert_eq!(json.as_str(), deep);
    let padded_read = store
        .get("/test", &format!("e{}", broken.len() + 1))
        .await
        .expect("valid JSON reads")
        .expect("the event exists");
    let json = padded_read
        .data()
        .and_then(|d| d.as_json())
        .expect("JSON data");
    assert_eq!(
        json.as_str(),
        padded.trim(),
        "surrounding whitespace is trimmed"
    );
    assert_eq!(json.to_value(), serde_json::json!({ "i": [1, 2] }));
}

/// Columns edited outside the store into values of the wrong kind: each reads as
/// `Corrupt` naming the column, never as an event with the value dropped (a time that
/// is not a timestamp once read as an event without a time) or as a driver error.
#[tokio::test(flavor = "multi_thread")]
async fn a_column_of_the_wrong_kind_reads_as_corrupt_naming_it() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("events.db");
    let store = SqliteEventStore::open(&path).await.expect("store opens");
    let edits = [
        ("time = 'yesterday'", "time"),
        ("recorded_at = 42", "recorded_at"),
        ("stream_version = 'first'", "stream_version"),
        ("topic = CAST(X'FF00' AS TEXT)", "topic"),
    ];
    store
        .append((0..edits.len() as u32).map(event).collect())
        .await
        .expect("appends");
    let conn = rusqlite::Connection::open(&path).expect("opens");
    for (i, (set, _)) in edits.iter().enumerate() {
        conn.execute(&format!("UPDATE events SET {set} WHERE id = 'e{i}'"), [])
            .expect("edits the row");
    }
    drop(conn);

    for (i, (set, column)) in edits.iter().enumerate() {
        match store.get("/test", &format!("e{i}")).await {
            Err(Error::Corrupt { sequence, message }) => {
                assert_eq!(sequence, i as i64 + 1, "{set}");
                assert!(message.contains(column), "{set}: {message}");
            }
            other => panic!("{set} read as {other:?}"),
        }
    }
}
