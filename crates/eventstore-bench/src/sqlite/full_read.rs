//! Workload 5: every event of the read set, streamed, with the peak memory it takes.

use std::hint::black_box;
use std::time::Instant;

use eventstore_core::{EventQuery, EventStore as _};
use eventstore_sqlite::SqliteEventStore;
use futures::TryStreamExt as _;
use tokio::runtime::Runtime;

use crate::measure::Throughput;
use crate::memory::{self, Peaks};
use crate::sqlite::raw::{self, Reader};
use crate::sqlite::readset::ReadSet;
use crate::workload::{AppendResult, best_of, walk_pages};

/// The best round of each side, and the highest peak memory any round reached.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FullRead {
    /// `store.query(EventQuery::new())` consumed with `try_next`.
    pub(crate) store: Throughput,
    /// One `SELECT` over all rows.
    pub(crate) raw: Throughput,
    /// The same `SELECT`, each row decoded into an event on the reading thread: the
    /// event model's cost without the store's machinery (a probe, no target).
    pub(crate) decoded: Throughput,
    /// Each side's highest resident memory over its rounds.
    pub(crate) peaks: Peaks,
}

/// Runs `rounds` rounds of each side (and of the probe), alternating which goes first.
pub(crate) fn run(rt: &Runtime, set: &ReadSet, rounds: u32) -> FullRead {
    let mut result: Option<FullRead> = None;
    for round in 0..rounds {
        let (store, raw, decoded) = if round % 2 == 0 {
            let store = memory::peak(|| store_round(rt, set));
            let raw = memory::peak(|| raw_round(set));
            (store, raw, decoded_round(set))
        } else {
            let decoded = decoded_round(set);
            let raw = memory::peak(|| raw_round(set));
            (memory::peak(|| store_round(rt, set)), raw, decoded)
        };
        let mut peaks = result.map(|best| best.peaks).unwrap_or_default();
        peaks.store(store.1);
        peaks.raw(raw.1);
        result = Some(FullRead {
            store: store.0.best(result.map(|best| best.store)),
            raw: raw.0.best(result.map(|best| best.raw)),
            decoded: decoded.best(result.map(|best| best.decoded)),
            peaks,
        });
    }
    result.expect("at least one round")
}

/// Streams every event through a freshly opened store.
fn store_round(rt: &Runtime, set: &ReadSet) -> Throughput {
    rt.block_on(async {
        let store = SqliteEventStore::open(&set.path)
            .await
            .expect("the store opens");
        let start = Instant::now();
        let mut events = store.query(EventQuery::new());
        let mut count = 0u64;
        while let Some(event) = events.try_next().await.expect("the store reads") {
            black_box(&event);
            count += 1;
        }
        let elapsed = start.elapsed();
        assert_eq!(count, set.events, "the store read every event");
        store.close().await.expect("the store closes");
        Throughput {
            events: count,
            elapsed,
        }
    })
}

/// Reads every row with one `SELECT` on a fresh connection.
pub(crate) fn raw_round(set: &ReadSet) -> Throughput {
    let reader = Reader::new(raw::open(&set.path).expect("the baseline opens"));
    let start = Instant::now();
    let count = reader.all(|row| {
        black_box(&row);
    });
    let elapsed = start.elapsed();
    assert_eq!(count as u64, set.events, "the baseline read every row");
    Throughput {
        events: count as u64,
        elapsed,
    }
}

/// The relay drain by hand: [`raw_round`]'s `SELECT`, its rows collected into batches
/// of `batch`, each batch handed to a no-op sender and then its last sequence saved with
/// the store's checkpoint statement on a second connection, before the next batch is
/// handed over (what the store's relay guarantees).
pub(crate) fn raw_relay(set: &ReadSet, batch: usize) -> Throughput {
    let reader = Reader::new(raw::open(&set.path).expect("the baseline opens"));
    let saver = raw::open(&set.path).expect("the baseline opens");
    let mut pending = Vec::with_capacity(batch);
    let send = |pending: &mut Vec<raw::RawRow>| {
        let last = black_box(&*pending).last().map(raw::RawRow::sequence);
        pending.clear();
        if let Some(last) = last {
            raw::save_checkpoint(&saver, "raw-relay", last).expect("the baseline saves");
        }
    };
    let start = Instant::now();
    let count = reader.all(|row| {
        pending.push(row);
        if pending.len() == batch {
            send(&mut pending);
        }
    });
    send(&mut pending);
    let elapsed = start.elapsed();
    assert_eq!(count as u64, set.events, "the baseline relayed every row");
    Throughput {
        events: count as u64,
        elapsed,
    }
}

/// Reads every row with one `SELECT` and decodes each into an event, on this thread.
fn decoded_round(set: &ReadSet) -> Throughput {
    let reader = Reader::new(raw::open(&set.path).expect("the baseline opens"));
    let start = Instant::now();
    let count = reader.all_decoded(|event| {
        black_box(&event);
    });
    let elapsed = start.elapsed();
    assert_eq!(count as u64, set.events, "the probe read every row");
    Throughput {
        events: count as u64,
        elapsed,
    }
}

/// Rows per page of the keyset walk.
pub(crate) const PAGE: u64 = 1_000;

/// Workload: the whole read set walked in pages of [`PAGE`] with `after` (keyset
/// pagination), a query per page, through the store and through plain SQL; the best of
/// `rounds` rounds of each.
pub(crate) fn keyset_walk(rt: &Runtime, set: &ReadSet, rounds: u32) -> AppendResult {
    best_of(
        rounds,
        || {
            rt.block_on(async {
                let store = SqliteEventStore::open(&set.path)
                    .await
                    .expect("the store opens");
                let start = Instant::now();
                let count = walk_pages(&store, PAGE).await;
                let elapsed = start.elapsed();
                assert_eq!(count, set.events, "the store walked every event");
                store.close().await.expect("the store closes");
                Throughput {
                    events: count,
                    elapsed,
                }
            })
        },
        || {
            let reader = Reader::new(raw::open(&set.path).expect("the baseline opens"));
            let start = Instant::now();
            let (mut after, mut count) = (0, 0u64);
            while let (n, Some(last)) = reader.page(after, PAGE as i64) {
                after = last;
                count += n as u64;
            }
            assert_eq!(count, set.events, "the baseline walked every row");
            Throughput {
                events: count,
                elapsed: start.elapsed(),
            }
        },
    )
}
