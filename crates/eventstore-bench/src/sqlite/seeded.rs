//! Batched appends on a loaded file: the store appending to a copy of the read set
//! against plain rusqlite appending to a copy of it on the seed's schema (as on
//! PostgreSQL, see `postgres/seeded.rs`). Where the seed's single-column indexes cost
//! most is a loaded table: a subject's current version is found through its `subject`
//! index by visiting every event of the subject, where the store's `(subject,
//! stream_version)` index reads one entry.

use std::path::Path;
use std::time::Instant;

use eventstore_core::EventStore as _;
use eventstore_sqlite::SqliteEventStore;
use tokio::runtime::Runtime;

use super::raw::{self, Columns};
use super::readset::ReadSet;
use super::scratch::Scratch;
use crate::measure::Throughput;
use crate::sizes::Sizes;
use crate::workload::{AppendResult, best_of};

/// Data set indexes of the events appended here: apart from every other workload's.
const APPEND_BASE: u64 = 700_000_000;

/// Copies the read set twice (one copy turned to the seed's schema), then runs rounds of
/// 100-event appends from one writer on each side, each round onto fresh copies.
pub(crate) fn run(rt: &Runtime, scratch: &Scratch, set: &ReadSet, sizes: &Sizes) -> AppendResult {
    // A twentieth of the other batched workloads: on the seed's schema each batch
    // visits every stored event of its ~100 subjects.
    let events = (sizes.batched().total() / 20).max(100) / 100 * 100;
    let rounds = std::cell::Cell::new(0u64);
    let next_base = || {
        rounds.set(rounds.get() + 1);
        APPEND_BASE + rounds.get() * 10_000_000
    };
    let batches = |base: u64| {
        (base..base + events)
            .step_by(100)
            .map(|first| (first..first + 100).map(|i| set.dataset.event(i)).collect())
    };
    best_of(
        sizes.rounds,
        || {
            let path = copy(scratch, &set.path, "seeded-store");
            let base = next_base();
            let elapsed = rt.block_on(async {
                let store = SqliteEventStore::open(&path)
                    .await
                    .expect("the store opens");
                let start = Instant::now();
                for batch in batches(base) {
                    store.append(batch).await.expect("the store appends");
                }
                let elapsed = start.elapsed();
                store.close().await.expect("the store closes");
                elapsed
            });
            scratch.remove(&path);
            Throughput { events, elapsed }
        },
        || {
            let path = copy(scratch, &set.path, "seeded-raw");
            super::append::seed_schema(&path).expect("the seed's schema is created");
            let rows: Vec<Vec<Columns>> = batches(next_base())
                .map(|batch: Vec<_>| batch.iter().map(Columns::from).collect())
                .collect();
            let mut conn = raw::open(&path).expect("the baseline opens");
            conn.execute_batch("ANALYZE").expect("the copy is analyzed");
            let start = Instant::now();
            for batch in &rows {
                raw::append(&mut conn, batch).expect("the baseline appends");
            }
            let elapsed = start.elapsed();
            drop(conn);
            scratch.remove(&path);
            Throughput { events, elapsed }
        },
    )
}

/// A consistent copy of the database at `from` (`VACUUM INTO`), in the scratch folder.
fn copy(scratch: &Scratch, from: &Path, name: &str) -> std::path::PathBuf {
    let to = scratch.file(name);
    let conn = raw::open(from).expect("the read set opens");
    conn.execute("VACUUM INTO ?1", [to.to_string_lossy()])
        .expect("the read set is copied");
    to
}
