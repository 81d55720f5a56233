//! An append whose caller stops waiting for it (its future dropped while it queues for
//! the writer) is not committed later by someone else's group commit.

use std::sync::mpsc;

use eventstore_core::{AppendOptions, Event, EventStore, TransactionalStore};
use eventstore_sqlite::{SqliteEventStore, SqliteWork};
use futures::FutureExt as _;

fn event(id: &str) -> Event {
    Event::builder()
        .id(id)
        .source("/cancel")
        .ty("t")
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_dropped_while_queued_is_not_committed_later() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteEventStore::open(dir.path().join("events.db"))
        .await
        .unwrap();
    // A transaction holds the writer until told to finish.
    let (started, has_started) = mpsc::channel();
    let (finish, may_finish) = mpsc::channel::<()>();
    let holder = tokio::spawn({
        let store = store.clone();
        async move {
            let work: SqliteWork<()> = Box::new(move |_tx| {
                started.send(()).unwrap();
                may_finish.recv().unwrap();
                Ok(((), Vec::new()))
            });
            store.transact(work, AppendOptions::new()).await.unwrap();
        }
    });
    tokio::task::spawn_blocking(move || has_started.recv().unwrap())
        .await
        .unwrap();
    // Queued behind the writer, then given up on.
    let mut cancelled = store.append(vec![event("cancelled")]);
    assert!(
        (&mut cancelled).now_or_never().is_none(),
        "it waits for the writer"
    );
    drop(cancelled);
    finish.send(()).unwrap();
    holder.await.unwrap();
    store.append(vec![event("later")]).await.unwrap();
    assert!(store.get("/cancel", "later").await.unwrap().is_some());
    assert_eq!(store.get("/cancel", "cancelled").await.unwrap(), None);
}
