//! `EventStoreSender` on SQLite: what it delivers, and whose fault it says a failure is
//! (the destination's, [`Unavailable`], which a relay waits out; or the events').

use std::time::Duration;

use eventstore_core::{Error, EventQuery, EventStore, Limits, Sender, StoredEvent, Unavailable};
use eventstore_outbox::EventStoreSender;
use eventstore_sqlite::{SqliteEventStore, SqliteOptions};
use eventstore_testkit::data::order_created as created;
use futures::TryStreamExt as _;

/// `count` events as a relay reads them from its store.
async fn stored(count: usize) -> Vec<StoredEvent> {
    let source = SqliteEventStore::open_in_memory().await.unwrap();
    let events = (0..count).map(|i| created(&format!("o{i}"))).collect();
    source.append(events).await.unwrap();
    source.query(EventQuery::new()).try_collect().await.unwrap()
}

/// The store error an unmarked or unavailable send error holds.
fn store_error<'a>(error: &'a (dyn std::error::Error + 'static)) -> &'a Error {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(store_error) = error.downcast_ref::<Error>() {
            return store_error;
        }
        next = error.source();
    }
    panic!("no store error in {error}")
}

#[tokio::test]
async fn delivers_and_skips_redelivered_events() {
    let events = stored(3).await;
    let destination = SqliteEventStore::open_in_memory().await.unwrap();
    let sender = EventStoreSender::new(std::sync::Arc::new(destination.clone()));
    sender.send(&events).await.unwrap();
    sender.send(&events[1..]).await.unwrap();
    let kept: Vec<StoredEvent> = destination
        .query(EventQuery::new())
        .try_collect()
        .await
        .unwrap();
    let ids: Vec<&str> = kept.iter().map(|e| e.id()).collect();
    assert_eq!(ids, ["o0-created", "o1-created", "o2-created"]);
}

#[tokio::test]
async fn an_event_the_destination_refuses_is_the_events_fault() {
    let events = stored(1).await;
    let destination = SqliteOptions::in_memory()
        .limits(Limits::default().max_event_bytes(16))
        .open()
        .await
        .unwrap();
    let sender = EventStoreSender::new(std::sync::Arc::new(destination));
    let error = sender.send(&events).await.unwrap_err();
    assert!(!Unavailable::is(&*error), "{error}");
    assert!(store_error(&*error).is_invalid(), "{error}");
}

#[tokio::test]
async fn a_closed_destination_is_unavailable() {
    let events = stored(1).await;
    let destination = SqliteEventStore::open_in_memory().await.unwrap();
    destination.close().await.unwrap();
    let sender = EventStoreSender::new(std::sync::Arc::new(destination));
    let error = sender.send(&events).await.unwrap_err();
    assert!(Unavailable::is(&*error), "{error}");
    assert!(
        matches!(store_error(&*error), Error::Closed),
        "the cause is kept: {error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_locked_past_its_busy_timeout_is_unavailable_until_it_is_free() {
    let events = stored(2).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("destination.db");
    let destination = SqliteOptions::file(&path)
        .busy_timeout(Duration::from_millis(50))
        .open()
        .await
        .unwrap();
    let sender = EventStoreSender::new(std::sync::Arc::new(destination));

    // Another process holds the write lock until told to let it go.
    let (locked, taken) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        locked.send(()).unwrap();
        let _ = released.recv();
        conn.execute_batch("COMMIT").unwrap();
    });
    taken.recv().unwrap();

    let error = sender.send(&events).await.unwrap_err();
    assert!(Unavailable::is(&*error), "{error}");
    assert!(store_error(&*error).is_timeout(), "{error}");

    release.send(()).unwrap();
    holder.join().unwrap();
    sender.send(&events).await.unwrap();
}
