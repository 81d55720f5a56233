//! The SQLite side: `SqliteEventStore` on a file against plain rusqlite issuing the
//! same statements on the same schema with the same pragmas, in the same run.

mod append;
mod filtered_relay;
mod full_read;
mod handoff;
mod lookups;
mod raw;
mod readset;
mod scratch;
mod seeded;

use std::sync::Arc;

use eventstore_core::EventStore as _;
use serde_json::json;
use tokio::runtime::Runtime;

use crate::dataset::Dataset;
use crate::figures::{self, RATIO_TARGET};
use crate::follow::{self, Followed};
use crate::memory::Peaks;
use crate::report::{Section, Target};
use crate::sizes::Sizes;
use crate::workload::{AppendResult, Wants};
use append::Against;
use lookups::{QUERY_LIMIT, Readers};
use scratch::Scratch;

/// Subscription latency p99 target in process, in milliseconds.
const LATENCY_TARGET_MS: f64 = 10.0;

/// The memory map of the `mmap` workload: more than the read set's file, so all of it
/// (SQLite caps it just under 2 GiB).
const MMAP_BYTES: u64 = 2 << 30;

pub(crate) use readset::import_into as import_read_set;

/// Runs the SQLite workloads `wants` selects.
pub(crate) fn run(
    rt: &Runtime,
    dataset: Dataset,
    sizes: &Sizes,
    wants: &Wants,
) -> std::io::Result<Section> {
    let scratch = Scratch::new()?;
    let mut figures = Vec::new();
    let mut load = None;
    // Reads first: the full read's peak memory is only its own in a process that has
    // not yet held the append workloads' data.
    if wants.reads() {
        progress!(
            "sqlite: importing {} events through the store (a child process)…",
            sizes.read_events
        );
        let set = readset::load(&scratch, dataset, sizes.read_events)?;
        load = Some(set.load);
        if wants.has("full_read") {
            progress!("sqlite: full read…");
            let speedup = crate::machine::two_thread_speedup();
            let full = full_read::run(rt, &set, sizes.rounds);
            let probe = json!({
                "two_thread_speedup_before": speedup,
                "raw_decoding_events_per_sec": full.decoded.per_sec(),
                "store_over_raw_decoding": full.store.per_sec() / full.decoded.per_sec(),
            });
            figures.extend(figures::full_read(
                set.events, full.store, full.raw, full.peaks, probe,
            ));
        }
        if wants.has("keyset") {
            progress!("sqlite: keyset page walk…");
            let walk = full_read::keyset_walk(rt, &set, sizes.rounds);
            figures.extend(figures::keyset(set.events, full_read::PAGE, walk));
        }
        // The streaming workloads before the per-call ones: their peak memory is then
        // their own, not what the per-call workloads' connections left in the heap
        // (replay and the relay drain peaked at ~59 MiB after them, ~25 MiB before).
        if wants.has("follow") {
            progress!("sqlite: replay, relay drain (all, one type), subscription latency…");
            let store = rt
                .block_on(eventstore_sqlite::SqliteEventStore::open(&set.path))
                .expect("the store opens");
            let mut raw_read = || full_read::raw_round(&set);
            let mut raw_relay = |batch| full_read::raw_relay(&set, batch);
            let mut raw_filtered_relay =
                |ty: &str, batch| filtered_relay::raw_filtered_relay(&set, ty, batch);
            figures.extend(follow::run(
                rt,
                Followed {
                    store: Arc::new(store.clone()),
                    events: set.events,
                    dataset,
                    raw_read: &mut raw_read,
                    raw_relay: &mut raw_relay,
                    raw_filtered_relay: &mut raw_filtered_relay,
                    latency_target_ms: LATENCY_TARGET_MS,
                    rounds: sizes.rounds,
                },
            ));
            rt.block_on(store.close()).expect("the store closes");
        }
        let readers = Readers::open(rt, &set, false, 0);
        if wants.has("stream") {
            progress!("sqlite: subject streams…");
            figures.extend(figures::stream(&readers.streams(sizes.stream_calls)));
        }
        if wants.has("type_time") {
            progress!("sqlite: type + time range queries…");
            figures.push(figures::latency(
                "type_time_range_p50",
                format!("type + time range LIMIT {QUERY_LIMIT}, p50"),
                &readers.type_time_range(sizes.query_calls),
                vec![Target::RatioAtLeast(RATIO_TARGET)],
            ));
        }
        if wants.has("type_time_index") {
            progress!("sqlite: type + time range queries with the (type, time) index…");
            let indexed = Readers::open(rt, &set, true, 0);
            figures.push(figures::latency(
                "type_time_range_indexed_p50",
                format!("type + time range LIMIT {QUERY_LIMIT}, p50, (type, time) index"),
                // About a millisecond each: more calls than without the index, or the
                // ratio is noise.
                &indexed.type_time_range(sizes.query_calls * 5),
                Vec::new(),
            ));
            drop(indexed);
            // The read set's other workloads measure the default schema.
            raw::open(&set.path)
                .and_then(|conn| conn.execute_batch("DROP INDEX \"events$type_time\""))
                .expect("the (type, time) index is dropped");
        }
        if wants.has("since") {
            progress!("sqlite: events since a time…");
            figures.push(figures::latency(
                "since_p50",
                format!("events since a time LIMIT {QUERY_LIMIT}, p50"),
                // Fewer than the type + time queries: each walks most of the table.
                &readers.since((sizes.query_calls / 4).max(4)),
                vec![Target::RatioAtLeast(RATIO_TARGET)],
            ));
        }
        if wants.has("mmap") {
            progress!("sqlite: subject streams and gets, memory-mapped…");
            let mapped = Readers::open(rt, &set, false, MMAP_BYTES);
            figures.push(figures::latency(
                "stream_subject_mmap_p50",
                "subject stream, p50 per call, both memory-mapped".to_owned(),
                &mapped.streams(sizes.stream_calls),
                Vec::new(),
            ));
            figures.push(figures::latency(
                "get_by_id_mmap_p50",
                "get by (source, id), p50, both memory-mapped".to_owned(),
                &mapped.gets(sizes.get_calls, false),
                Vec::new(),
            ));
        }
        if wants.has("get") {
            progress!("sqlite: gets by (source, id)…");
            figures.push(figures::latency(
                "get_by_id_p50",
                "get by (source, id), p50".to_owned(),
                &readers.gets(sizes.get_calls, false),
                vec![Target::RatioAtLeast(RATIO_TARGET)],
            ));
            figures.push(figures::latency(
                "get_by_id_handed_off_p50",
                "get by (source, id), p50, raw under block_in_place".to_owned(),
                &readers.gets(sizes.get_calls, true),
                Vec::new(),
            ));
        }
        drop(readers);
        if wants.has("import") {
            // The store's side loaded the read set. The baseline's after the reads: the
            // import's page cache stays resident once freed.
            progress!("sqlite: bulk import, raw (one transaction)…");
            let raw = readset::raw_load(rt, &scratch, dataset, set.events);
            let result = AppendResult {
                store: set.load,
                raw,
                peaks: Peaks::default(),
            };
            figures.push(figures::import(
                set.events,
                "one-transaction inserts",
                &result,
            ));
        }
        if wants.has("seed") {
            progress!("sqlite: append 100 × 1 on the loaded file against a seed-schema copy…");
            let result = seeded::run(rt, &scratch, &set, sizes);
            figures.push(figures::seed_loaded(set.events, sizes.batched(), result));
        }
        scratch.remove(&set.path);
    }

    let mut appends = Vec::new();
    for (key, label, shape) in sizes.appends() {
        if !wants.has(key) {
            continue;
        }
        progress!("sqlite: {label}…");
        let result = append::run(rt, &scratch, dataset, shape, sizes.rounds, Against::Raw);
        let targets = vec![Target::RatioAtLeast(RATIO_TARGET)];
        appends.push(figures::append(key, label, shape, result, targets));
    }
    if wants.has("type_time_index") {
        progress!("sqlite: append 100 × 1 with the (type, time) index…");
        let shape = sizes.batched();
        let against = Against::StoreWithoutTypeTimeIndex;
        let result = append::run(rt, &scratch, dataset, shape, sizes.rounds, against);
        appends.push(figures::type_time_index_cost(shape, result));
    }
    if wants.has("seed") {
        progress!("sqlite: append 100 × 1 against the seed's schema…");
        let shape = sizes.batched();
        let result = append::run(rt, &scratch, dataset, shape, sizes.rounds, Against::Seed);
        appends.push(figures::seed_empty("files", shape, result));
    }
    appends.extend(figures);

    let trips = handoff::spawn_blocking_round_trips(rt, 5_000);
    let notes = json!({
        "database_dir": std::env::temp_dir(),
        "sqlite": rusqlite::version(),
        "spawn_blocking_round_trip_us": {
            "p50": trips.percentile_us(50.0),
            "p90": trips.percentile_us(90.0),
            "p99": trips.percentile_us(99.0),
        },
        "load": load.map(|load| json!({
            "how": "the read set is loaded through the store's import, one call, in a child process",
            "events": load.events,
            "events_per_sec": load.per_sec(),
        })),
    });
    Ok(Section {
        backend: "sqlite",
        title: format!(
            "SQLite {} (file in {}): SqliteEventStore against plain rusqlite",
            rusqlite::version(),
            std::env::temp_dir().display()
        ),
        figures: appends,
        notes,
    })
}
