//! The backend-agnostic relay suite (`eventstore_testkit::delivery`), on SQLite database
//! files: another handle is another opening of the file, as another process's would be.

use std::path::PathBuf;
use std::time::Duration;

use eventstore_sqlite::SqliteOptions;
use eventstore_testkit::delivery::Handle;

async fn fresh() -> Handle {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("events.db");
    let location = path.to_str().expect("a UTF-8 path").to_owned();
    open(&location, None).await.keep(dir)
}

/// The file at `location` opened again; `lock_wait` is its busy timeout.
async fn open(location: &str, lock_wait: Option<Duration>) -> Handle {
    let mut options = SqliteOptions::file(location);
    if let Some(wait) = lock_wait {
        options = options.busy_timeout(wait);
    }
    let store = options.open().await.expect("store opens");
    Handle::new(store, location)
}

/// Takes the database's write lock (`BEGIN IMMEDIATE`) on a connection of its own, and
/// keeps it for `hold` on a thread.
async fn hold_write_lock(location: &str, hold: Duration) {
    let path = PathBuf::from(location);
    let (locked, taken) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(path).expect("a connection of its own");
        conn.execute_batch("BEGIN IMMEDIATE")
            .expect("the write lock");
        locked.send(()).expect("the test waits");
        std::thread::sleep(hold);
        conn.execute_batch("COMMIT").expect("the lock released");
    });
    taken.await.expect("the lock is taken");
}

eventstore_testkit::delivery_suite!(fresh, open, hold_write_lock);
