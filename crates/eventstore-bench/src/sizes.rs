//! How much work each workload does: full size, or `--quick` for a smoke test.

use serde_json::{Value, json};

use crate::args::Args;
use crate::workload::{AppendShape, Subjects};

/// Concurrent writers in workloads 3 and 4.
pub(crate) const WRITERS: usize = 8;

/// Events per append in the batched workloads.
pub(crate) const BATCH: usize = 100;

/// The size of every workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sizes {
    /// single-event appends from one writer.
    pub(crate) single_appends: u64,
    /// events appended in batches from one writer.
    pub(crate) batched_events: u64,
    /// single-event appends from all writers together.
    pub(crate) concurrent_single_appends: u64,
    /// events appended in batches from all writers together.
    pub(crate) concurrent_batched_events: u64,
    /// The read workloads: events in the read set.
    pub(crate) read_events: u64,
    /// Subject stream reads.
    pub(crate) stream_calls: usize,
    /// Type + time range queries, and events-since queries (SQLite: five times as many
    /// with the `(type, time)` index, a quarter as many since a time).
    pub(crate) query_calls: usize,
    /// Gets by `(source, id)`.
    pub(crate) get_calls: usize,
    /// Events of the large scale point (0: none).
    pub(crate) scale_events: u64,
    /// Rounds of each throughput workload; the best is kept.
    pub(crate) rounds: u32,
}

impl Sizes {
    /// The default: both backends in well under fifteen minutes on the two-core VM this
    /// was written on, most of it writing to disk (loading the read sets, the batched
    /// appends).
    const FULL: Self = Self {
        single_appends: 2_000,
        batched_events: 50_000,
        concurrent_single_appends: 8_000,
        concurrent_batched_events: 50_000,
        read_events: 1_000_000,
        stream_calls: 300,
        query_calls: 100,
        get_calls: 20_000,
        scale_events: 0,
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
        scale_events: 0,
        rounds: 1,
    };

    /// The sizes the command line asks for.
    pub(crate) fn from_args(args: &Args) -> Self {
        let mut sizes = if args.quick { Self::QUICK } else { Self::FULL };
        if args.full {
            sizes.scale_events = 10_000_000;
        }
        if let Some(events) = args.events {
            sizes.read_events = events;
        }
        if let Some(events) = args.scale_events {
            sizes.scale_events = events;
        }
        if let Some(rounds) = args.rounds {
            sizes.rounds = rounds;
        }
        sizes
    }

    /// The append workloads: name, label and shape.
    pub(crate) fn appends(&self) -> [(&'static str, &'static str, AppendShape); 5] {
        [
            ("append_1x1", "append 1 event × 1 writer", self.single()),
            (
                "append_100x1",
                "append 100-event batches × 1 writer",
                self.batched(),
            ),
            (
                "append_1x8",
                "append 1 event × 8 writers",
                self.concurrent_single(),
            ),
            (
                "append_100x8",
                "append 100-event batches × 8 writers",
                self.concurrent_batched(),
            ),
            (
                "append_100x8_shared",
                "append 100-event batches × 8 writers sharing subjects",
                AppendShape {
                    subjects: Subjects::Shared,
                    ..self.concurrent_batched()
                },
            ),
        ]
    }

    /// Single-event appends from one writer.
    pub(crate) fn single(&self) -> AppendShape {
        AppendShape {
            writers: 1,
            batch: 1,
            events: self.single_appends,
            subjects: Subjects::Own,
        }
    }

    /// Batched appends from one writer.
    pub(crate) fn batched(&self) -> AppendShape {
        AppendShape {
            writers: 1,
            batch: BATCH,
            events: self.batched_events,
            subjects: Subjects::Own,
        }
    }

    /// Single-event appends from all writers, each to subjects of its own.
    pub(crate) fn concurrent_single(&self) -> AppendShape {
        AppendShape {
            writers: WRITERS,
            batch: 1,
            events: self.concurrent_single_appends,
            subjects: Subjects::Own,
        }
    }

    /// Batched appends from all writers, each to subjects of its own.
    pub(crate) fn concurrent_batched(&self) -> AppendShape {
        AppendShape {
            writers: WRITERS,
            batch: BATCH,
            events: self.concurrent_batched_events,
            subjects: Subjects::Own,
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
            "scale_events": self.scale_events,
            "rounds": self.rounds,
        })
    }
}
