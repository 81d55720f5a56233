//! What the append workloads of both backends share: their shape, how the events are
//! dealt out to writers, and the result of a store-against-baseline comparison.

use std::time::{Duration, Instant};

use eventstore_core::{Event, EventQuery, EventStore};
use futures::TryStreamExt as _;

use crate::measure::Throughput;
use crate::memory::{self, Peaks};

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
    /// Whether writers append to subjects of their own or share them.
    pub(crate) subjects: Subjects,
}

/// How the writers of an append workload divide the subjects between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Subjects {
    /// Each writer appends to subjects no other writer touches, as the request handlers
    /// of different aggregates, or the consumers of a partitioned topic, do: events are
    /// dealt out round-robin, and the data set puts event `i` on a subject of writer
    /// `i` modulo the writers.
    Own,
    /// Every writer appends to every subject: each writer takes a contiguous run of
    /// events, which spans all subjects, so concurrent batches (100 of the 1,000
    /// subjects each) almost always share some and queue on their stream versions.
    Shared,
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
    /// Each side's highest resident memory over its rounds.
    pub(crate) peaks: Peaks,
}

/// Runs `rounds` rounds of each side, alternating which goes first, and keeps each
/// side's best (noise from other work on the machine only slows a round down).
pub(crate) fn best_of(
    rounds: u32,
    mut store: impl FnMut() -> Throughput,
    mut raw: impl FnMut() -> Throughput,
) -> AppendResult {
    let (mut best_store, mut best_raw): (Option<Throughput>, Option<Throughput>) = (None, None);
    let mut peaks = Peaks::default();
    for round in 0..rounds.max(1) {
        let store_first = round % 2 == 0;
        for store_side in [store_first, !store_first] {
            if store_side {
                let (result, peak) = memory::peak(&mut store);
                best_store = Some(result.best(best_store));
                peaks.store(peak);
            } else {
                let (result, peak) = memory::peak(&mut raw);
                best_raw = Some(result.best(best_raw));
                peaks.raw(peak);
            }
        }
    }
    AppendResult {
        store: best_store.expect("at least one round"),
        raw: best_raw.expect("at least one round"),
        peaks,
    }
}

/// Deals `items` (event `i` at position `i`) out to the shape's writers, as each
/// writer's `batch`-sized batches: round-robin for [`Subjects::Own`], in contiguous runs
/// for [`Subjects::Shared`].
pub(crate) fn split<T>(items: Vec<T>, shape: AppendShape) -> Vec<Vec<Vec<T>>> {
    let writers = shape.writers;
    let per_writer = items.len() / writers;
    let mut hands: Vec<Vec<T>> = (0..writers)
        .map(|_| Vec::with_capacity(per_writer))
        .collect();
    for (i, item) in items.into_iter().take(per_writer * writers).enumerate() {
        let writer = match shape.subjects {
            Subjects::Own => i % writers,
            Subjects::Shared => i / per_writer,
        };
        hands[writer].push(item);
    }
    hands
        .into_iter()
        .map(|mine| {
            let batch = shape.batch;
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

/// Walks every event of `store` in pages of `page` with `after` (keyset pagination),
/// a query per page, taking each event as it arrives and dropping it, as the baselines
/// take rows: returns how many events it read. (Collecting each page first cost the
/// store side ~145 µs a page on SQLite in dropping the page at its end.)
pub(crate) async fn walk_pages<S: EventStore>(store: &S, page: u64) -> u64 {
    let (mut after, mut count) = (0, 0u64);
    loop {
        let mut events = store.query(EventQuery::new().after(after).limit(page));
        let mut read = 0;
        while let Some(event) = events.try_next().await.expect("the store reads") {
            after = event.sequence();
            read += 1;
        }
        if read == 0 {
            return count;
        }
        count += read;
    }
}

/// Every workload's name, as `--only` takes them.
pub(crate) const WORKLOADS: [&str; 18] = [
    "append_1x1",
    "append_100x1",
    "append_1x8",
    "append_100x8",
    "append_100x8_shared",
    "seed",
    "gin",
    "import",
    "full_read",
    "keyset",
    "stream",
    "type_time",
    "type_time_index",
    "since",
    "get",
    "mmap",
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
            "type_time_index",
            "since",
            "get",
            "mmap",
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
    use std::collections::HashSet;

    use super::*;

    fn shape(subjects: Subjects) -> AppendShape {
        AppendShape {
            writers: 2,
            batch: 3,
            events: 20,
            subjects,
        }
    }

    #[test]
    fn shared_subjects_deal_contiguous_runs_in_whole_batches() {
        let plan = split((0..20).collect(), shape(Subjects::Shared));
        assert_eq!(plan.len(), 2);
        assert_eq!(
            plan[0],
            vec![vec![0, 1, 2], vec![3, 4, 5], vec![6, 7, 8], vec![9]]
        );
        assert_eq!(plan[1][0], vec![10, 11, 12]);
    }

    #[test]
    fn own_subjects_deal_round_robin() {
        let plan = split((0..21).collect(), shape(Subjects::Own));
        assert_eq!(
            plan[0],
            vec![vec![0, 2, 4], vec![6, 8, 10], vec![12, 14, 16], vec![18]]
        );
        assert_eq!(plan[1][0], vec![1, 3, 5]);
        assert_eq!(plan.iter().flatten().flatten().count(), 20);
    }

    /// The subjects each writer of `shape` appends to.
    fn subjects_per_writer(shape: AppendShape) -> Vec<HashSet<String>> {
        let events = crate::dataset::Dataset::new(7).events(0..shape.total());
        split(events, shape)
            .iter()
            .map(|batches| {
                let events = batches.iter().flatten();
                events
                    .map(|e| e.subject().expect("a subject").to_owned())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn dealt_round_robin_writers_append_to_subjects_of_their_own_and_in_runs_share_them() {
        let own = AppendShape {
            writers: crate::sizes::WRITERS,
            batch: 100,
            events: 8_000,
            subjects: Subjects::Own,
        };
        let shared = AppendShape {
            subjects: Subjects::Shared,
            ..own
        };
        for (shape, apart) in [(own, true), (shared, false)] {
            let subjects = subjects_per_writer(shape);
            for (a, mine) in subjects.iter().enumerate() {
                for theirs in &subjects[a + 1..] {
                    assert_eq!(mine.is_disjoint(theirs), apart, "{:?}", shape.subjects);
                }
            }
        }
    }
}
