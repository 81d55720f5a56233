//! Scale points: the append and query workloads on the read set, then again after
//! importing up to the `--full` size (10M events by default), to show how cost grows.

use std::time::Instant;

use eventstore_core::EventStore as _;
use serde_json::json;

use super::reads::ReadSet;
use crate::dataset::Dataset;
use crate::measure::{Repeated, Throughput};
use crate::report::{Figure, Target, Unit};
use crate::sizes::Sizes;

/// The append rate may fall by at most this much from the small to the large table.
const APPEND_TARGET: f64 = 0.8;

/// Query latencies may at most double from the small to the large table.
const LATENCY_TARGET: f64 = 0.5;

/// Data set indexes of the events the scale points append: far above the read set's.
const APPEND_BASE: u64 = 500_000_000;

/// What one scale point measures.
struct Point {
    /// Events in the table.
    events: u64,
    /// Store appends of 100-event batches from one writer.
    append: Throughput,
    /// WAL the server wrote while they ran, per event appended.
    wal_per_event: f64,
    /// Type + time range queries over windows as long as the small point's: the same
    /// query on a longer history.
    type_time: Repeated,
    /// Type + time range queries over windows of a twentieth of this point's events
    /// (at the small point, the same windows as `type_time`, not measured twice).
    type_time_wide: Option<Repeated>,
    /// Gets by `(source, id)`.
    get: Repeated,
    /// Keyset pages.
    page: Repeated,
}

/// Measures at the read set's size, imports up to `sizes.scale_events`, measures again.
pub(crate) fn run(set: &mut ReadSet<'_>, sizes: &Sizes) -> Vec<Figure> {
    progress!("postgres: scale point at {} events…", set.events);
    let window = set.twentieth();
    let small = point(set, sizes, 0, window);
    let more = sizes.scale_events - set.events;
    progress!("postgres: importing {more} more events for the scale point…");
    let start = Instant::now();
    set.rt
        .block_on(
            set.store
                .import((set.events..sizes.scale_events).map(|i| set.dataset.event(i))),
        )
        .expect("the store imports");
    let import = Throughput {
        events: more,
        elapsed: start.elapsed(),
    };
    set.rt
        .block_on(
            set.client
                .batch_execute(&format!("VACUUM ANALYZE {}", set.table)),
        )
        .expect("the table is analyzed");
    set.events = sizes.scale_events;
    progress!("postgres: scale point at {} events…", sizes.scale_events);
    let large = point(set, sizes, 1, window);
    let label = |what: &str| {
        format!(
            "{what}: {} vs {} events",
            count(large.events),
            count(small.events)
        )
    };
    let details = json!({
        "small_events": small.events,
        "large_events": large.events,
        "import_events_per_sec": import.per_sec(),
        "type_time_window": {
            "events": window,
            "seconds": (Dataset::base_time(window) - Dataset::base_time(0)).as_seconds_f64(),
        },
        "wal_bytes_per_appended_event": {
            "small": small.wal_per_event,
            "large": large.wal_per_event,
        },
        "note": "store: the figure on the large table; raw: the store's figure on the small one",
    });
    let latency = |key, what: &str, s: &Repeated, l: &Repeated| Figure {
        key,
        label: label(what),
        unit: Unit::Micros,
        store: Some(l.store.percentile_us(50.0)),
        raw: Some(s.store.percentile_us(50.0)),
        targets: vec![Target::RatioAtLeast(LATENCY_TARGET)],
        details: details.clone(),
    };
    let wide = large.type_time_wide.as_ref().map(|wide| Figure {
        targets: Vec::new(),
        ..latency(
            "scale_type_time_wide_p50",
            "type + time LIMIT 100, window a twentieth of the table, p50",
            &small.type_time,
            wide,
        )
    });
    let mut figures = vec![
        Figure {
            key: "scale_append_100x1",
            label: label("append 100 × 1"),
            unit: Unit::EventsPerSec,
            store: Some(large.append.per_sec()),
            raw: Some(small.append.per_sec()),
            targets: vec![Target::RatioAtLeast(APPEND_TARGET)],
            details: details.clone(),
        },
        latency(
            "scale_type_time_p50",
            "type + time LIMIT 100, same-length window, p50",
            &small.type_time,
            &large.type_time,
        ),
        latency(
            "scale_get_p50",
            "get by (source, id), p50",
            &small.get,
            &large.get,
        ),
        latency(
            "scale_page_p50",
            "keyset page of 1,000, p50",
            &small.page,
            &large.page,
        ),
    ];
    figures.extend(wide);
    figures
}

/// One scale point; `n` keeps the appended events of the points apart, `window` is
/// the type + time queries' window in events (see [`Point::type_time`]). Its appends
/// start right after a `CHECKPOINT`, so that both points pay the same full-page writes
/// (the first change of each page after a checkpoint writes the whole page to the WAL)
/// rather than whatever the load before them left.
fn point(set: &ReadSet<'_>, sizes: &Sizes, n: u64, window: u64) -> Point {
    let events = sizes.batched().total();
    let base = APPEND_BASE + n * 100_000_000;
    let wal_position = || async {
        let row = set
            .client
            .query_one(
                "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::int8",
                &[],
            )
            .await
            .expect("the WAL position reads");
        row.get::<_, i64>(0)
    };
    let (append, wal) = set.rt.block_on(async {
        if let Err(e) = set.client.batch_execute("CHECKPOINT").await {
            // Needs a superuser or pg_checkpoint; the point is then measured as it comes.
            progress!("postgres: no CHECKPOINT before the scale point's appends: {e}");
        }
        let wal_before = wal_position().await;
        let start = Instant::now();
        let mut next = base;
        while next < base + events {
            let batch = (next..next + 100).map(|i| set.dataset.event(i)).collect();
            set.store.append(batch).await.expect("the store appends");
            next += 100;
        }
        let elapsed = start.elapsed();
        (
            Throughput { events, elapsed },
            wal_position().await - wal_before,
        )
    });
    Point {
        events: set.events,
        append,
        wal_per_event: wal as f64 / events as f64,
        type_time: set.type_time_range(sizes.query_calls, window),
        type_time_wide: (set.twentieth() != window)
            .then(|| set.type_time_range(sizes.query_calls, set.twentieth())),
        get: set.gets(sizes.get_calls / 4),
        page: set.pages(sizes.query_calls),
    }
}

/// `n` events written short: `10M`, `250k`, or the number.
fn count(n: u64) -> String {
    match n {
        n if n >= 1_000_000 && n.is_multiple_of(1_000_000) => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n.is_multiple_of(1_000) => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}
