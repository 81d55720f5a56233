//! Workloads 1 to 4: appends of one event or of 100-event batches per transaction, from
//! one writer or from several at once, each round on a fresh file.

use std::sync::Barrier;
use std::time::Instant;

use eventstore_core::{Event, EventStore as _};
use eventstore_sqlite::SqliteOptions;
use tokio::runtime::Runtime;

use crate::dataset::Dataset;
use crate::measure::Throughput;
use crate::sqlite::raw::{self, Columns};
use crate::sqlite::scratch::{Scratch, create_schema};
use crate::workload::{AppendResult, AppendShape, append_concurrently, best_of, split};

/// What the store's appends are compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Against {
    /// Plain rusqlite on the store's schema.
    Raw,
    /// Plain rusqlite on the seed's schema ([`crate::seed`]).
    Seed,
    /// The store itself without the optional `(type, time)` index, while the store's
    /// side has it: what the index costs appends.
    StoreWithoutTypeTimeIndex,
}

/// Runs `rounds` rounds of the store and of what it is compared `against`,
/// alternating which goes first, and keeps the best of each.
pub(crate) fn run(
    rt: &Runtime,
    scratch: &Scratch,
    dataset: Dataset,
    shape: AppendShape,
    rounds: u32,
    against: Against,
) -> AppendResult {
    let indexed = against == Against::StoreWithoutTypeTimeIndex;
    best_of(
        rounds,
        || store_round(rt, scratch, dataset, shape, indexed),
        || match against {
            Against::Raw => raw_round(rt, scratch, dataset, shape, false),
            Against::Seed => raw_round(rt, scratch, dataset, shape, true),
            Against::StoreWithoutTypeTimeIndex => store_round(rt, scratch, dataset, shape, false),
        },
    )
}

/// Turns the store's schema in `path` into the seed's: drops every index of the event
/// table but the unique `(source, id)`, and creates the seed's nine.
pub(super) fn seed_schema(path: &std::path::Path) -> rusqlite::Result<()> {
    let conn = raw::open(path)?;
    let names: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' \
             AND sql IS NOT NULL",
        )?
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for name in names.iter().filter(|n| !crate::seed::keeps(n)) {
        conn.execute_batch(&format!("DROP INDEX \"{name}\""))?;
    }
    for index in crate::seed::indexes("\"events\"", "") {
        conn.execute_batch(&index)?;
    }
    Ok(())
}

/// One round through the store: every writer a task appending its batches in turn; with
/// the optional `(type, time)` index when `type_time_index`.
fn store_round(
    rt: &Runtime,
    scratch: &Scratch,
    dataset: Dataset,
    shape: AppendShape,
    type_time_index: bool,
) -> Throughput {
    let path = scratch.file("store-append");
    let events = shape.total();
    let plan: Vec<Vec<Vec<Event>>> = split(dataset.events(0..events), shape);
    let elapsed = rt.block_on(async {
        let store = SqliteOptions::file(&path)
            .type_time_index(type_time_index)
            .open()
            .await
            .expect("the store opens");
        let elapsed = append_concurrently(&store, plan).await;
        store.close().await.expect("the store closes");
        elapsed
    });
    scratch.remove(&path);
    Throughput { events, elapsed }
}

/// One round through plain rusqlite: every writer a thread with its own connection,
/// all released at once; on the seed's schema when `seed`.
fn raw_round(
    rt: &Runtime,
    scratch: &Scratch,
    dataset: Dataset,
    shape: AppendShape,
    seed: bool,
) -> Throughput {
    let path = scratch.file("raw-append");
    rt.block_on(create_schema(&path));
    if seed {
        seed_schema(&path).expect("the seed's schema is created");
    }
    let events = shape.total();
    let rows: Vec<Columns> = dataset
        .events(0..events)
        .iter()
        .map(Columns::from)
        .collect();
    let plan = split(rows, shape);
    let start_line = Barrier::new(shape.writers + 1);
    let elapsed = std::thread::scope(|s| {
        let writers: Vec<_> = plan
            .iter()
            .map(|batches| {
                let (path, start_line) = (&path, &start_line);
                s.spawn(move || {
                    let mut conn = raw::open(path).expect("the baseline opens");
                    start_line.wait();
                    for batch in batches {
                        raw::append(&mut conn, batch).expect("the baseline appends");
                    }
                })
            })
            .collect();
        start_line.wait();
        let start = Instant::now();
        for writer in writers {
            writer.join().expect("a writer thread finishes");
        }
        start.elapsed()
    });
    drop(plan);
    scratch.remove(&path);
    Throughput { events, elapsed }
}
