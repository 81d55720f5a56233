//! The report's figures built from the workloads' results, with their targets.

use serde_json::json;

use crate::append::{AppendResult, AppendShape};
use crate::full_read::FullRead;
use crate::lookups::Repeated;
use crate::measure::Latencies;
use crate::readset::ReadSet;
use crate::report::{Figure, Target, Unit};

/// Every workload's store must reach this fraction of the baseline's speed.
pub(crate) const RATIO_TARGET: f64 = 0.9;

/// Workload 2's store must append at least this many events per second.
pub(crate) const BATCHED_APPEND_TARGET: f64 = 50_000.0;

/// The full read's peak resident memory must stay under this many MiB.
pub(crate) const FULL_READ_RSS_TARGET: f64 = 64.0;

/// The figures of workload 5: rate and peak memory.
pub(crate) fn full_read(set: &ReadSet, full: FullRead) -> [Figure; 2] {
    [
        Figure {
            key: "full_read",
            label: format!("5 full read, {} events", set.events),
            unit: Unit::EventsPerSec,
            store: Some(full.store.per_sec()),
            raw: Some(full.raw.per_sec()),
            targets: vec![Target::RatioAtLeast(RATIO_TARGET)],
            details: json!({
                "store_seconds": full.store.elapsed.as_secs_f64(),
                "raw_seconds": full.raw.elapsed.as_secs_f64(),
                "raw_decoding_events_per_sec": full.decoded.per_sec(),
                "store_over_raw_decoding": full.store.per_sec() / full.decoded.per_sec(),
            }),
        },
        Figure {
            key: "full_read_peak_rss",
            label: "5 full read, peak RSS".to_owned(),
            unit: Unit::MiB,
            store: full.store_peak.map(|p| p.peak_mib),
            raw: full.raw_peak.map(|p| p.peak_mib),
            targets: vec![Target::StoreAtMost(FULL_READ_RSS_TARGET)],
            details: json!({
                "store_rss_at_start_mib": full.store_peak.map(|p| p.start_mib),
                "raw_rss_at_start_mib": full.raw_peak.map(|p| p.start_mib),
                "store_growth_mib": full.store_peak.map(|p| p.peak_mib - p.start_mib),
                "raw_growth_mib": full.raw_peak.map(|p| p.peak_mib - p.start_mib),
            }),
        },
    ]
}

/// The figures of workload 6: rate and p50 latency.
pub(crate) fn stream(streams: &Repeated) -> [Figure; 2] {
    let per_stream = streams.store.throughput().events as f64 / streams.store.calls() as f64;
    [
        Figure {
            key: "stream_subject",
            label: format!("6 subject stream (~{per_stream:.0} events)"),
            unit: Unit::EventsPerSec,
            store: Some(streams.store.throughput().per_sec()),
            raw: Some(streams.raw.throughput().per_sec()),
            targets: vec![Target::RatioAtLeast(RATIO_TARGET)],
            details: latency_details(streams),
        },
        latency(
            "stream_subject_p50",
            "6 subject stream, p50 per call".to_owned(),
            streams,
            vec![],
        ),
    ]
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
