//! Scratch database files in a private temporary directory, removed at the end.

use std::cell::Cell;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use eventstore_core::EventStore as _;
use eventstore_sqlite::SqliteEventStore;

/// A directory under the system's temporary directory holding this run's databases.
#[derive(Debug)]
pub(crate) struct Scratch {
    /// The directory.
    dir: PathBuf,
    /// Numbers the files, so that every workload gets a fresh one.
    next: Cell<u32>,
}

impl Scratch {
    /// Creates `eventstore-bench-<pid>-<n>` in the temporary directory.
    pub(crate) fn new() -> io::Result<Self> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("eventstore-bench-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(Self {
            dir,
            next: Cell::new(0),
        })
    }

    /// A path for a new database file; `label` says what it is for.
    pub(crate) fn file(&self, label: &str) -> PathBuf {
        let n = self.next.get();
        self.next.set(n + 1);
        self.dir.join(format!("{n:03}-{label}.db"))
    }

    /// Removes a database file with its WAL and shared-memory files.
    pub(crate) fn remove(&self, path: &Path) {
        for suffix in ["", "-wal", "-shm"] {
            let mut file = path.as_os_str().to_owned();
            file.push(suffix);
            let _ = std::fs::remove_file(file);
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Opens the store on `path` once and closes it: its migrations create the schema the
/// baseline then writes to or reads from.
pub(crate) async fn create_schema(path: &Path) {
    let store = SqliteEventStore::open(path)
        .await
        .expect("the store opens a fresh file");
    store.close().await.expect("the store closes");
}
