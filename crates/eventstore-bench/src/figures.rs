//! The report's figures built from the workloads' results, with their targets.

use serde_json::json;

use crate::dataset::Dataset;
use crate::measure::{Latencies, Repeated, Throughput};
use crate::memory::Peaks;
use crate::report::{Figure, Target, Unit};
use crate::workload::{AppendResult, AppendShape};

/// Every workload's store must reach this fraction of the baseline's speed.
pub(crate) const RATIO_TARGET: f64 = 0.9;

/// Batched appends from one writer must reach at least this many events per second
/// (issue 3's figure, for PostgreSQL; SQLite is held to it too).
pub(crate) const BATCHED_APPEND_TARGET: f64 = 25_000.0;

/// Batched appends from eight writers must reach at least this many events per second.
pub(crate) const CONCURRENT_BATCHED_TARGET: f64 = 50_000.0;

/// A workload streaming the read set (full read, keyset walk, replay, relay drain, the
/// relay drain filtered on one type) must keep its peak resident memory under this
/// many MiB.
pub(crate) const STREAMING_RSS_TARGET: f64 = 64.0;

/// The store's bulk import must reach this fraction of the backend's raw bulk load
/// (binary `COPY` on PostgreSQL, one transaction of prepared inserts on SQLite).
pub(crate) const IMPORT_TARGET: f64 = 0.8;

/// Batched appends onto a loaded table must be at least this many times the seed
/// schema's raw rate.
pub(crate) const SEED_SCHEMA_TARGET: f64 = 2.0;

/// Batched appends must be at least this many times postgres-es's.
pub(crate) const PEER_TARGET: f64 = 3.0;

/// The figures of the full read: rate and peak memory. `details` adds to the rate's.
pub(crate) fn full_read(
    events: u64,
    store: Throughput,
    raw: Throughput,
    peaks: Peaks,
    details: serde_json::Value,
) -> [Figure; 2] {
    [
        Figure {
            key: "full_read",
            label: format!("full streamed read, {events} events"),
            unit: Unit::EventsPerSec,
            store: Some(store.per_sec()),
            raw: Some(raw.per_sec()),
            targets: vec![Target::RatioAtLeast(RATIO_TARGET)],
            details: json!({
                "store_seconds": store.elapsed.as_secs_f64(),
                "raw_seconds": raw.elapsed.as_secs_f64(),
                "more": details,
            }),
        },
        peak_rss("full_read_peak_rss", "full streamed read", peaks),
    ]
}

/// The figure of a streaming workload's peak resident memory (`what` names the
/// workload), each side's highest over its rounds, with the resident memory it started
/// from in the details.
pub(crate) fn peak_rss(key: &'static str, what: &str, peaks: Peaks) -> Figure {
    let Peaks { store, raw } = peaks;
    Figure {
        key,
        label: format!("{what}, peak RSS"),
        unit: Unit::MiB,
        store: store.map(|p| p.peak_mib),
        raw: raw.map(|p| p.peak_mib),
        targets: vec![Target::StoreAtMost(STREAMING_RSS_TARGET)],
        details: json!({
            "store_rss_at_start_mib": store.map(|p| p.start_mib),
            "raw_rss_at_start_mib": raw.map(|p| p.start_mib),
            "store_growth_mib": store.map(|p| p.peak_mib - p.start_mib),
            "raw_growth_mib": raw.map(|p| p.peak_mib - p.start_mib),
        }),
    }
}

/// The figures of the keyset page walk: rate and peak memory.
pub(crate) fn keyset(events: u64, page: u64, walk: AppendResult) -> [Figure; 2] {
    [
        Figure {
            key: "keyset_walk",
            label: format!("keyset page walk, {events} events in pages of {page}"),
            unit: Unit::EventsPerSec,
            store: Some(walk.store.per_sec()),
            raw: Some(walk.raw.per_sec()),
            targets: vec![Target::RatioAtLeast(RATIO_TARGET)],
            details: json!({
                "store_seconds": walk.store.elapsed.as_secs_f64(),
                "raw_seconds": walk.raw.elapsed.as_secs_f64(),
            }),
        },
        peak_rss("keyset_walk_peak_rss", "keyset page walk", walk.peaks),
    ]
}

/// The figures of workload 6: rate and p50 latency.
pub(crate) fn stream(streams: &Repeated) -> [Figure; 2] {
    let per_stream = streams.store.throughput().events as f64 / streams.store.calls() as f64;
    [
        Figure {
            key: "stream_subject",
            label: format!("subject stream (~{per_stream:.0} events)"),
            unit: Unit::EventsPerSec,
            store: Some(streams.store.throughput().per_sec()),
            raw: Some(streams.raw.throughput().per_sec()),
            targets: vec![Target::RatioAtLeast(RATIO_TARGET)],
            details: latency_details(streams),
        },
        latency(
            "stream_subject_p50",
            "subject stream, p50 per call".to_owned(),
            streams,
            vec![],
        ),
    ]
}

/// The figure of batched appends onto the loaded read set of `events` events, against
/// the plain statement on a copy of it with the seed's schema.
pub(crate) fn seed_loaded(events: u64, shape: AppendShape, result: AppendResult) -> Figure {
    append(
        "append_100x1_vs_seed_loaded",
        &format!("append 100 × 1 onto {events} events, raw on the seed's schema"),
        shape,
        result,
        vec![Target::RatioAtLeast(SEED_SCHEMA_TARGET)],
    )
}

/// The figure of batched appends onto empty tables (`what`: "tables", or "files" on
/// SQLite), against the plain statement on the seed's schema. It carries no target:
/// with no rows both schemas' indexes are small and cached, and what the store's schema
/// gains over the seed's shows on a loaded table ([`seed_loaded`], which carries the
/// 2× target). It stays in the report to show the cost of the indexes alone.
pub(crate) fn seed_empty(what: &str, shape: AppendShape, result: AppendResult) -> Figure {
    append(
        "append_100x1_vs_seed",
        &format!("append 100 × 1 onto empty {what}, raw on the seed's schema"),
        shape,
        result,
        vec![],
    )
}

/// The cost of the extensions' GIN index: the store with it (`store`) against the
/// store without it (`raw`), no target. The details say how many of the appended events
/// carry extensions other than the first-class ones, which are all the index holds.
pub(crate) fn gin_cost(dataset: Dataset, shape: AppendShape, result: AppendResult) -> Figure {
    let key = if shape.writers == 1 {
        "append_100x1_gin"
    } else {
        "append_100x8_gin"
    };
    let events = shape.total();
    let with_extensions = dataset
        .events(0..events)
        .iter()
        .filter(|e| !e.extensions().is_empty())
        .count();
    let mut figure = append(
        key,
        &format!(
            "append {} × {} with the extensions' GIN index, raw: the store without it",
            shape.batch, shape.writers
        ),
        shape,
        result,
        vec![],
    );
    figure.details["events_with_extensions"] = json!(with_extensions);
    figure
}

/// The cost of SQLite's optional `(type, time)` index: the store with it (`store`)
/// against the store without it (`raw`), no target.
pub(crate) fn type_time_index_cost(shape: AppendShape, result: AppendResult) -> Figure {
    append(
        "append_100x1_type_time_index",
        &format!(
            "append {} × {} with the (type, time) index, raw: the store without it",
            shape.batch, shape.writers
        ),
        shape,
        result,
        vec![],
    )
}

/// The figure of an append workload.
pub(crate) fn append(
    key: &'static str,
    label: &str,
    shape: AppendShape,
    result: AppendResult,
    targets: Vec<Target>,
) -> Figure {
    Figure {
        key,
        label: label.to_owned(),
        unit: Unit::EventsPerSec,
        store: Some(result.store.per_sec()),
        raw: Some(result.raw.per_sec()),
        targets,
        details: json!({
            "events": shape.total(),
            "writers": shape.writers,
            "batch": shape.batch,
            "store_seconds": result.store.elapsed.as_secs_f64(),
            "raw_seconds": result.raw.elapsed.as_secs_f64(),
        }),
    }
}

/// The bulk import figure: the store's `import` against the backend's raw bulk load,
/// named by `raw` ("binary COPY"), both generating the events as they write them.
pub(crate) fn import(events: u64, raw: &str, result: &AppendResult) -> Figure {
    Figure {
        key: "import",
        label: format!("bulk import, {events} events (raw: {raw})"),
        unit: Unit::EventsPerSec,
        store: Some(result.store.per_sec()),
        raw: Some(result.raw.per_sec()),
        targets: vec![Target::RatioAtLeast(IMPORT_TARGET)],
        details: json!({
            "store_seconds": result.store.elapsed.as_secs_f64(),
            "raw_seconds": result.raw.elapsed.as_secs_f64(),
            "note": "both sides generate the events as they write them",
        }),
    }
}

/// The p50 figure of a per-call workload.
pub(crate) fn latency(
    key: &'static str,
    label: String,
    calls: &Repeated,
    targets: Vec<Target>,
) -> Figure {
    Figure {
        key,
        label,
        unit: Unit::Micros,
        store: Some(calls.store.percentile_us(50.0)),
        raw: Some(calls.raw.percentile_us(50.0)),
        targets,
        details: latency_details(calls),
    }
}

/// Percentiles, mean and rates of a per-call workload, for the JSON.
pub(crate) fn latency_details(calls: &Repeated) -> serde_json::Value {
    let side = |l: &Latencies| {
        json!({
            "calls": l.calls(),
            "events": l.throughput().events,
            "events_per_sec": l.throughput().per_sec(),
            "calls_per_sec": l.calls() as f64 / l.throughput().elapsed.as_secs_f64().max(1e-9),
            "mean_us": l.mean_us(),
            "p50_us": l.percentile_us(50.0),
            "p90_us": l.percentile_us(90.0),
            "p99_us": l.percentile_us(99.0),
        })
    };
    json!({ "store": side(&calls.store), "raw": side(&calls.raw) })
}
