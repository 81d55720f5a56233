//! The data set the read workloads share: one file loaded through the store's bulk
//! import (the import workload's store side), read by both the store and the baseline;
//! and the import workload's baseline.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use eventstore_core::EventStore as _;
use eventstore_sqlite::SqliteEventStore;
use tokio::runtime::Runtime;

use crate::args;
use crate::dataset::Dataset;
use crate::measure::Throughput;
use crate::sqlite::raw::{self, Columns};
use crate::sqlite::scratch::{Scratch, create_schema};

/// A loaded database file.
#[derive(Debug, Clone)]
pub(crate) struct ReadSet {
    /// The file.
    pub(crate) path: PathBuf,
    /// The generator of its events: event `i` has sequence `i + 1`.
    pub(crate) dataset: Dataset,
    /// How many events it holds.
    pub(crate) events: u64,
    /// How fast the store's `import` loaded it.
    pub(crate) load: Throughput,
}

/// Loads events `0..events` of `dataset` into a new file through the store's `import`,
/// in a child process of this program ([`args::IMPORT_SQLITE`], which runs
/// [`import_into`]). The import is the bulk import workload's store side, and the file
/// is the read set. A process of its own, because the import's 64 MiB page cache, once
/// freed, stays resident in the process that held it (the allocator keeps it), and the
/// full read's peak memory would start from it.
pub(crate) fn load(scratch: &Scratch, dataset: Dataset, events: u64) -> io::Result<ReadSet> {
    let path = scratch.file("read-set");
    let output = Command::new(std::env::current_exe()?)
        .arg(args::IMPORT_SQLITE)
        .arg(&path)
        .arg(events.to_string())
        .stderr(Stdio::inherit())
        .output()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let nanos = match text.trim().parse::<u64>() {
        Ok(nanos) if output.status.success() => nanos,
        _ => {
            return Err(io::Error::other(format!(
                "importing the SQLite read set failed ({}): {text:?}",
                output.status
            )));
        }
    };
    // The child makes its events from the run's seed: check that they are this
    // dataset's, first and last, so that a workload never reads a different data set.
    let conn = raw::open(&path).map_err(io::Error::other)?;
    for i in [0, events - 1] {
        let id: String = conn
            .query_row(
                "SELECT id FROM events WHERE sequence = ?1",
                [i as i64 + 1],
                |row| row.get(0),
            )
            .map_err(io::Error::other)?;
        if id != dataset.event(i).id() {
            return Err(io::Error::other(format!(
                "the imported read set's event {i} is not the run's data set's"
            )));
        }
    }
    drop(conn);
    Ok(ReadSet {
        path,
        dataset,
        events,
        load: Throughput {
            events,
            elapsed: Duration::from_nanos(nanos),
        },
    })
}

/// The import workload's store side, in the child process [`load`] starts: events
/// `0..events` of `dataset` into a fresh file through the store's `import` (one call,
/// one transaction, the events made as they are written); the store is then closed,
/// which checkpoints the log into the file. Returns the import's time.
pub(crate) fn import_into(rt: &Runtime, path: &Path, dataset: Dataset, events: u64) -> Duration {
    rt.block_on(async {
        let store = SqliteEventStore::open(path).await.expect("the store opens");
        let start = Instant::now();
        let imported = store
            .import((0..events).map(move |i| dataset.event(i)))
            .await
            .expect("the store imports");
        let elapsed = start.elapsed();
        assert_eq!(imported.count, events);
        store.close().await.expect("the store closes");
        elapsed
    })
}

/// The import workload's baseline: the same events into a fresh file of the same
/// schema in one transaction of the store's prepared insert (plain rusqlite, the
/// store's pragmas and the import's page cache), the rows made as they are written as
/// on the store's side.
pub(crate) fn raw_load(
    rt: &Runtime,
    scratch: &Scratch,
    dataset: Dataset,
    events: u64,
) -> Throughput {
    let path = scratch.file("raw-import");
    rt.block_on(create_schema(&path));
    let mut conn = raw::open(&path).expect("the baseline opens");
    // The store's pragmas, the import's page cache included: the figure is the store's
    // own cost, not a pragma's.
    conn.pragma_update(None, "cache_size", -eventstore_sqlite::IMPORT_CACHE_KIB)
        .expect("the baseline's cache");
    let start = Instant::now();
    raw::append(
        &mut conn,
        (0..events).map(|i| Columns::from(&dataset.event(i))),
    )
    .expect("the baseline loads");
    let elapsed = start.elapsed();
    drop(conn);
    scratch.remove(&path);
    Throughput { events, elapsed }
}
