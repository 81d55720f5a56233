//! What the append workloads of both backends share: their shape, how the events are
//! dealt out to writers, and the result of a store-against-baseline comparison.

use std::time::{Duration, Instant};

use eventstore_core::{Event, EventStore};

use crate::measure::Throughput;

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
    /// Through the store's `append`.
    pub(crate) store: Throughput,
    /// Through the plain SQL.
    pub(crate) raw: Throughput,
}

/// Runs `rounds` rounds of each side, alternating which goes first, and keeps each
/// side's best (noise from other work on the machine only slows a round down).
pub(crate) fn best_of(
    rounds: u32,
    mut store: impl FnMut() -> Throughput,
    mut raw: impl FnMut() -> Throughput,
) -> AppendResult {
    let (mut best_store, mut best_raw): (Option<Throughput>, Option<Throughput>) = (None, None);
    for round in 0..rounds.max(1) {
        if round % 2 == 0 {
            best_store = Some(store().best(best_store));
            best_raw = Some(raw().best(best_raw));
        } else {
            best_raw = Some(raw().best(best_raw));
            best_store = Some(store().best(best_store));
        }
    }
    AppendResult {
        store: best_store.expect("at least one round"),
        raw: best_raw.expect("at least one round"),
    }
}

/// Deals `items` out as `writers` contiguous runs of `batch`-sized batches.
pub(crate) fn split<T>(items: Vec<T>, writers: usize, batch: usize) -> Vec<Vec<Vec<T>>> {
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

/// Appends each writer's batches in turn, the writers as concurrent tasks sharing
/// `store`; returns the wall-clock time from the first append to the last commit.
pub(crate) async fn append_concurrently<S>(store: &S, plan: Vec<Vec<Vec<Event>>>) -> Duration
where
    S: EventStore + Clone + 'static,
{
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
    start.elapsed()
}

/// Every workload's name, as `--only` takes them.
pub(crate) const WORKLOADS: [&str; 13] = [
    "append_1x1",
    "append_100x1",
    "append_1x8",
    "append_100x8",
    "seed",
    "import",
    "full_read",
    "keyset",
    "stream",
    "type_time",
    "get",
    "follow",
    "scale",
];

/// The workloads a run includes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Wants(Vec<String>);

impl Wants {
    /// Those named (all of them when `only` is empty).
    pub(crate) fn new(only: &[String]) -> Self {
        if only.is_empty() {
            Self(WORKLOADS.iter().map(|w| (*w).to_owned()).collect())
        } else {
            Self(only.to_vec())
        }
    }

    /// Whether the run includes workload `name`.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.0.iter().any(|w| w == name)
    }

    /// Whether it includes a workload that needs the loaded read set.
    pub(crate) fn reads(&self) -> bool {
        [
            "import",
            "full_read",
            "keyset",
            "stream",
            "type_time",
            "get",
            "follow",
            "scale",
            "seed",
        ]
        .iter()
        .any(|w| self.has(w))
    }
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
