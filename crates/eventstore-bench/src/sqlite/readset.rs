//! The data set the read workloads share: one file loaded through the store's bulk
//! import, read by both the store and the baseline; and the import workload's baseline.

use std::path::PathBuf;
use std::time::Instant;

use eventstore_core::EventStore as _;
use eventstore_sqlite::SqliteEventStore;
use tokio::runtime::Runtime;

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
    /// How fast the store loaded it.
    pub(crate) load: Throughput,
}

/// Events per append while loading the read set.
const LOAD_BATCH: u64 = 10_000;

/// Appends events `0..events` of `dataset` through the store, [`LOAD_BATCH`] at a time,
/// then closes the store (checkpointing the WAL into the file). Appends, not `import`:
/// the import's 64 MiB page cache, once freed, stays resident in the process (the
/// allocator keeps it), and the full read's peak memory would start from it.
pub(crate) fn load(rt: &Runtime, scratch: &Scratch, dataset: Dataset, events: u64) -> ReadSet {
    let path = scratch.file("read-set");
    let elapsed = rt.block_on(async {
        let store = SqliteEventStore::open(&path)
            .await
            .expect("the store opens");
        let start = Instant::now();
        let mut next = 0;
        while next < events {
            let end = (next + LOAD_BATCH).min(events);
            store
                .append(dataset.events(next..end))
                .await
                .expect("the store loads");
            next = end;
        }
        let elapsed = start.elapsed();
        store.close().await.expect("the store closes");
        elapsed
    });
    ReadSet {
        path,
        dataset,
        events,
        load: Throughput { events, elapsed },
    }
}

/// The import workload: events `0..events` of `dataset` into a fresh file through the
/// store's `import` (one call, one transaction, the events made as they are written).
pub(crate) fn import(rt: &Runtime, scratch: &Scratch, dataset: Dataset, events: u64) -> Throughput {
    let path = scratch.file("store-import");
    let elapsed = rt.block_on(async {
        let store = SqliteEventStore::open(&path)
            .await
            .expect("the store opens");
        let start = Instant::now();
        let imported = store
            .import((0..events).map(move |i| dataset.event(i)))
            .await
            .expect("the store imports");
        let elapsed = start.elapsed();
        assert_eq!(imported.count, events);
        store.close().await.expect("the store closes");
        elapsed
    });
    scratch.remove(&path);
    Throughput { events, elapsed }
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
