//! Workloads 1 to 4: appends of one event or of 100-event batches per transaction, from
//! one writer or from several at once, each round on a fresh file.

use std::sync::Barrier;
use std::time::Instant;

use eventstore_core::{Event, EventStore as _};
use eventstore_sqlite::SqliteEventStore;
use tokio::runtime::Runtime;

use crate::dataset::Dataset;
use crate::measure::Throughput;
use crate::raw::{self, Columns};
use crate::scratch::{Scratch, create_schema};

/// The shape of an append workload.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AppendShape {
    /// Concurrent writers: tokio tasks sharing the store, or threads with a connection
    /// each for the baseline.
    pub(crate) writers: usize,
    /// Events per append (one transaction).
    pub(crate) batch: usize,
    /// Events in all (rounded down to whole batches per writer).
    pub(crate) events: u64,
}

impl AppendShape {
    /// The events actually appended: whole batches, the same number per writer.
    pub(crate) fn total(&self) -> u64 {
        let unit = (self.writers * self.batch) as u64;
        (self.events / unit).max(1) * unit
    }
}

/// The best round of the store and of the baseline.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AppendResult {
    /// Through `SqliteEventStore::append`.
    pub(crate) store: Throughput,
    /// Through plain rusqlite.
    pub(crate) raw: Throughput,
}

/// Runs `rounds` rounds of each side, alternating which goes first, and keeps the best.
pub(crate) fn run(
    rt: &Runtime,
    scratch: &Scratch,
    dataset: Dataset,
    shape: AppendShape,
    rounds: u32,
) -> AppendResult {
    let mut store: Option<Throughput> = None;
    let mut raw: Option<Throughput> = None;
    for round in 0..rounds {
        if round % 2 == 0 {
            store = Some(store_round(rt, scratch, dataset, shape).best(store));
            raw = Some(raw_round(rt, scratch, dataset, shape).best(raw));
        } else {
            raw = Some(raw_round(rt, scratch, dataset, shape).best(raw));
            store = Some(store_round(rt, scratch, dataset, shape).best(store));
        }
    }
    AppendResult {
        store: store.expect("at least one round"),
        raw: raw.expect("at least one round"),
    }
}

/// Deals `items` out as `writers` contiguous runs of `batch`-sized batches.
fn split<T>(items: Vec<T>, writers: usize, batch: usize) -> Vec<Vec<Vec<T>>> {
    let per_writer = items.len() / writers;
    let mut items = items.into_iter();
    (0..writers)
        .map(|_| {
            let mine: Vec<T> = items.by_ref().take(per_writer).collect();
            let mut batches = Vec::with_capacity(per_writer.div_ceil(batch));
            let mut mine = mine.into_iter().peekable();
            while mine.peek().is_some() {
                batches.push(mine.by_ref().take(batch).collect());
            }
            batches
        })
        .collect()
}

/// One round through the store: every writer a task appending its batches in turn.
fn store_round(
    rt: &Runtime,
    scratch: &Scratch,
    dataset: Dataset,
    shape: AppendShape,
) -> Throughput {
    let path = scratch.file("store-append");
    let events = shape.total();
    let plan: Vec<Vec<Vec<Event>>> = split(dataset.events(0..events), shape.writers, shape.batch);
    let elapsed = rt.block_on(async {
        let store = SqliteEventStore::open(&path)
            .await
            .expect("the store opens");
        let start = Instant::now();
        let writers: Vec<_> = plan
            .into_iter()
            .map(|batches| {
                let store = store.clone();
                tokio::spawn(async move {
                    for batch in batches {
                        store.append(batch).await.expect("the store appends");
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.await.expect("a writer task finishes");
        }
        let elapsed = start.elapsed();
        store.close().await.expect("the store closes");
        elapsed
    });
    scratch.remove(&path);
    Throughput { events, elapsed }
}

/// One round through plain rusqlite: every writer a thread with its own connection,
/// all released at once.
fn raw_round(rt: &Runtime, scratch: &Scratch, dataset: Dataset, shape: AppendShape) -> Throughput {
    let path = scratch.file("raw-append");
    rt.block_on(create_schema(&path));
    let events = shape.total();
    let rows: Vec<Columns> = dataset
        .events(0..events)
        .iter()
        .map(Columns::from)
        .collect();
    let plan = split(rows, shape.writers, shape.batch);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_deals_whole_batches() {
        let plan = split((0..20).collect(), 2, 3);
        assert_eq!(plan.len(), 2);
        assert_eq!(
            plan[0],
            vec![vec![0, 1, 2], vec![3, 4, 5], vec![6, 7, 8], vec![9]]
        );
        assert_eq!(plan[1][0], vec![10, 11, 12]);
    }
}
