//! How much work each workload does: full size, or `--quick` for a smoke test.

use serde_json::{Value, json};

use crate::append::AppendShape;
use crate::args::Args;

/// Concurrent writers in workloads 3 and 4.
pub(crate) const WRITERS: usize = 8;

/// Events per append in the batched workloads.
pub(crate) const BATCH: usize = 100;

/// The size of every workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sizes {
    /// Workload 1: single-event appends from one writer.
    pub(crate) single_appends: u64,
    /// Workload 2: events appended in batches from one writer.
    pub(crate) batched_events: u64,
    /// Workload 3: single-event appends from all writers together.
    pub(crate) concurrent_single_appends: u64,
    /// Workload 4: events appended in batches from all writers together.
    pub(crate) concurrent_batched_events: u64,
    /// Workloads 5 to 8: events in the read set.
    pub(crate) read_events: u64,
    /// Workload 6: stream reads.
    pub(crate) stream_calls: usize,
    /// Workload 7: type + time range queries.
    pub(crate) query_calls: usize,
    /// Workload 8: gets by `(source, id)`.
    pub(crate) get_calls: usize,
    /// Rounds of each throughput workload (1 to 5); the best is kept.
    pub(crate) rounds: u32,
}

impl Sizes {
    /// Full size: five to six minutes on the two-core VM this was written on, most of it
    /// SQLite writing to disk (loading the read set, the batched appends).
    const FULL: Self = Self {
        single_appends: 5_000,
        batched_events: 100_000,
        concurrent_single_appends: 8_000,
        concurrent_batched_events: 100_000,
        read_events: 1_000_000,
        stream_calls: 300,
        query_calls: 100,
        get_calls: 20_000,
        rounds: 2,
    };

    /// `--quick`: a few seconds.
    const QUICK: Self = Self {
        single_appends: 500,
        batched_events: 20_000,
        concurrent_single_appends: 800,
        concurrent_batched_events: 20_000,
        read_events: 50_000,
        stream_calls: 50,
        query_calls: 50,
        get_calls: 1_000,
        rounds: 1,
    };

    /// The sizes the command line asks for.
    pub(crate) fn from_args(args: &Args) -> Self {
        let mut sizes = if args.quick { Self::QUICK } else { Self::FULL };
        if let Some(events) = args.events {
            sizes.read_events = events;
        }
        if let Some(rounds) = args.rounds {
            sizes.rounds = rounds;
        }
        sizes
    }

    /// Workload 1.
    pub(crate) fn single(&self) -> AppendShape {
        AppendShape {
            writers: 1,
            batch: 1,
            events: self.single_appends,
        }
    }

    /// Workload 2.
    pub(crate) fn batched(&self) -> AppendShape {
        AppendShape {
            writers: 1,
            batch: BATCH,
            events: self.batched_events,
        }
    }

    /// Workload 3.
    pub(crate) fn concurrent_single(&self) -> AppendShape {
        AppendShape {
            writers: WRITERS,
            batch: 1,
            events: self.concurrent_single_appends,
        }
    }

    /// Workload 4.
    pub(crate) fn concurrent_batched(&self) -> AppendShape {
        AppendShape {
            writers: WRITERS,
            batch: BATCH,
            events: self.concurrent_batched_events,
        }
    }

    /// The sizes as JSON.
    pub(crate) fn to_json(self) -> Value {
        json!({
            "single_appends": self.single().total(),
            "batched_events": self.batched().total(),
            "concurrent_single_appends": self.concurrent_single().total(),
            "concurrent_batched_events": self.concurrent_batched().total(),
            "writers": WRITERS,
            "batch": BATCH,
            "read_events": self.read_events,
            "stream_calls": self.stream_calls,
            "query_calls": self.query_calls,
            "get_calls": self.get_calls,
            "rounds": self.rounds,
        })
    }
}
