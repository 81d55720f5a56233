//! The data set the read workloads share: one file loaded through the store, read by
//! both the store and the baseline.

use std::path::PathBuf;
use std::time::Instant;

use eventstore_core::EventStore as _;
use eventstore_sqlite::SqliteEventStore;
use tokio::runtime::Runtime;

use crate::dataset::Dataset;
use crate::measure::Throughput;
use crate::sqlite::scratch::Scratch;

/// Events per append while loading: large batches, as a bulk import would use.
pub(crate) const LOAD_BATCH: u64 = 10_000;

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

/// Appends events `0..events` of `dataset` through the store, [`LOAD_BATCH`] at a time,
/// then closes the store (checkpointing the WAL into the file).
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
