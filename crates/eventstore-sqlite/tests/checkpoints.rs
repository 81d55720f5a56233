//! The write-ahead log is checkpointed on a thread of the store's own: appends go on
//! while it runs, the log stays bounded, and closing the store ends the thread. One
//! test binary of its own, so that counting the process's threads sees only this
//! test's store.

use std::path::Path;
use std::time::{Duration, Instant};

use eventstore_core::{Event, EventStore as _};
use eventstore_sqlite::{SqliteEventStore, SqliteOptions};

/// Pages the log may hold before a checkpoint, in these tests.
const THRESHOLD: u32 = 32;

fn batch(first: u32, size: u32) -> Vec<Event> {
    (first..first + size)
        .map(|i| {
            Event::builder()
                .id(format!("e{i}"))
                .source("/checkpoints")
                .ty("t")
                .subject(format!("s{}", i % 50))
                .json(&serde_json::json!({ "i": i, "pad": "x".repeat(300) }))
                .build()
                .expect("valid")
        })
        .collect()
}

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

fn wal(path: &Path) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push("-wal");
    name.into()
}

/// Threads of this process named as the checkpoint thread (Linux shows the first 15
/// bytes of a name).
fn checkpoint_threads() -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim_end() == "eventstore-sqli")
        .count()
}

/// Waits (a little) for the count of checkpoint threads to reach `n`: a new thread
/// takes its name once it runs, and a joined one may be listed for a moment while it
/// exits.
async fn settles_at(n: usize) -> bool {
    let deadline = Instant::now() + Duration::from_secs(2);
    while checkpoint_threads() != n {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    true
}

/// Appends 3,000 events in batches of 50 and returns the largest the `-wal` file grew.
async fn append_and_watch_the_log(store: &SqliteEventStore, path: &Path) -> u64 {
    let mut largest = 0;
    for b in 0..60 {
        store.append(batch(b * 50, 50)).await.expect("appends");
        largest = largest.max(size(&wal(path)));
    }
    largest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_is_checkpointed_off_the_writer_and_stays_bounded() {
    let dir = tempfile::tempdir().expect("a temporary directory");

    // Without checkpoints, the log holds every page the appends wrote.
    let unchecked = dir.path().join("unchecked.db");
    let store = SqliteOptions::file(&unchecked)
        .wal_autocheckpoint(0)
        .open()
        .await
        .expect("opens");
    let unbounded = append_and_watch_the_log(&store, &unchecked).await;
    drop(store);

    let path = dir.path().join("checked.db");
    let store = SqliteOptions::file(&path)
        .wal_autocheckpoint(THRESHOLD)
        .open()
        .await
        .expect("opens");
    let file_at_open = size(&path);
    let largest = append_and_watch_the_log(&store, &path).await;
    // A 50-event batch writes a few dozen pages; the log is checkpointed from
    // THRESHOLD pages on, and past four times that a write waits for a checkpoint:
    // never near what it holds without checkpoints.
    let page = 4096 + 24;
    let bound = page * u64::from(THRESHOLD) * 4 + page * 200;
    assert!(
        largest <= bound,
        "the log grew to {largest} bytes, past {bound} (without checkpoints: {unbounded})"
    );
    assert!(
        unbounded > 2 * bound,
        "without checkpoints the log should outgrow the bound: {unbounded} bytes"
    );

    // The checkpoints copied the events into the database file, which only a
    // checkpoint writes in WAL mode: every event is there once the store is closed,
    // and the file grew while it was open.
    let deadline = Instant::now() + Duration::from_secs(10);
    while size(&path) <= file_at_open && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(size(&path) > file_at_open, "no checkpoint reached the file");
    store.close().await.expect("closes");
    drop(store);
    let conn = rusqlite::Connection::open(&path).expect("opens");
    let count: i64 = conn
        .query_row("SELECT count(*) FROM events", [], |row| row.get(0))
        .expect("counts");
    assert_eq!(count, 3000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_store_ends_its_checkpoint_thread_and_memory_stores_start_none() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let before = checkpoint_threads();

    let memory = SqliteEventStore::open_in_memory().await.expect("opens");
    assert_eq!(checkpoint_threads(), before, "no log, no thread");
    drop(memory);
    let unchecked = SqliteOptions::file(dir.path().join("off.db"))
        .wal_autocheckpoint(0)
        .open()
        .await
        .expect("opens");
    assert_eq!(checkpoint_threads(), before, "checkpoints off, no thread");
    drop(unchecked);

    let store = SqliteEventStore::open(dir.path().join("one.db"))
        .await
        .expect("opens");
    assert!(settles_at(before + 1).await, "a file store starts one");
    store.append(batch(0, 50)).await.expect("appends");
    store.close().await.expect("closes");
    assert!(settles_at(before).await, "close ends the thread");

    // Dropping the last handle without closing ends it too.
    let dropped = SqliteEventStore::open(dir.path().join("two.db"))
        .await
        .expect("opens");
    assert!(settles_at(before + 1).await, "a file store starts one");
    drop(dropped);
    assert!(
        settles_at(before).await,
        "dropping the store ends the thread"
    );
}
