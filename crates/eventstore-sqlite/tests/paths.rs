//! What a store's path names: every connection of the store (the writer, the readers
//! opened as they are needed, the checkpoint thread's) opens the one file the path named
//! when the store opened.
//!
//! One test here changes the process's current directory: every other test of this
//! file names its files by absolute paths.

use eventstore_core::{Error, Event, EventQuery, EventStore};
use eventstore_sqlite::{SqliteEventStore, SqliteOptions};
use futures::TryStreamExt as _;

fn event(id: &str) -> Event {
    Event::builder()
        .id(id)
        .source("/t")
        .ty("t")
        .subject("s")
        .build()
        .unwrap()
}

async fn count(store: &SqliteEventStore) -> usize {
    store
        .query(EventQuery::new())
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn a_relative_path_names_the_file_of_the_directory_current_at_open() {
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    std::env::set_current_dir(first.path()).unwrap();
    let store = SqliteOptions::file("events.db").open().await.unwrap();
    store.append(vec![event("1")]).await.unwrap();
    // The process moves on: readers opened from now on open the same file.
    std::env::set_current_dir(second.path()).unwrap();
    assert!(store.get("/t", "1").await.unwrap().is_some());
    assert_eq!(count(&store).await, 1);
    assert!(first.path().join("events.db").exists());
    assert!(!second.path().join("events.db").exists());
}

#[tokio::test]
async fn memory_names_an_in_memory_store_and_an_empty_path_is_refused() {
    let store = SqliteEventStore::open(":memory:").await.unwrap();
    store.append(vec![event("1")]).await.unwrap();
    assert!(store.get("/t", "1").await.unwrap().is_some());
    assert_eq!(count(&store).await, 1);
    assert_eq!(store.stream_version("s").await.unwrap(), Some(1));
    let other = SqliteOptions::file(":memory:").open().await.unwrap();
    assert_eq!(
        count(&other).await,
        0,
        "each store has a database of its own"
    );
    let error = SqliteEventStore::open("").await.unwrap_err();
    assert!(
        matches!(error, Error::Config(ref m) if m.contains("empty path")),
        "{error}"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn a_path_that_is_not_utf8_names_that_file() {
    use std::os::unix::ffi::OsStrExt as _;

    let dir = tempfile::tempdir().unwrap();
    let name = b"ev\xffents.db";
    let path = dir.path().join(std::ffi::OsStr::from_bytes(name));
    let store = SqliteEventStore::open(&path).await.unwrap();
    store.append(vec![event("1")]).await.unwrap();
    store.close().await.unwrap();
    drop(store);
    assert!(path.exists(), "the file is where the path says");
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let entry = entry.unwrap().file_name();
        assert!(entry.as_bytes().starts_with(name), "{entry:?}");
    }
    let reopened = SqliteEventStore::open(&path).await.unwrap();
    assert_eq!(count(&reopened).await, 1);
}
