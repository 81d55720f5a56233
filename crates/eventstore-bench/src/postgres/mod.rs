//! The PostgreSQL side: `PostgresEventStore` against tokio-postgres issuing plain
//! statements on the same database and schema, in the same run, and against the same
//! statements on the seed's schema.

mod append;
mod db;
mod filtered_relay;
mod raw;
mod reads;
mod scale;
mod seeded;

use std::sync::Arc;

use serde_json::json;
use tokio::runtime::Runtime;

use crate::dataset::Dataset;
use crate::figures::{self, BATCHED_APPEND_TARGET, CONCURRENT_BATCHED_TARGET, RATIO_TARGET};
use crate::follow::{self, Followed};
use crate::report::{Figure, Section, Target, Unit};
use crate::sizes::Sizes;
use crate::workload::{Wants, best_of};
use db::Db;

/// The store's full read must reach this fraction of psql's own scan.
const PSQL_TARGET: f64 = 0.8;

/// Subscription latency p99 target across the network, in milliseconds.
const LATENCY_TARGET_MS: f64 = 50.0;

/// Runs the PostgreSQL workloads `wants` selects against the server at `url`.
pub(crate) fn run(
    rt: &Runtime,
    url: &str,
    dataset: Dataset,
    sizes: &Sizes,
    wants: &Wants,
) -> Section {
    let db = Db {
        url: url.to_owned(),
    };
    rt.block_on(db.drop_schema());
    let version = rt.block_on(async {
        let client = raw::connect(url).await;
        let row = client
            .query_one("SHOW server_version", &[])
            .await
            .expect("the server answers");
        row.get::<_, String>(0)
    });
    let mut out = Vec::new();

    // Reads first, as on SQLite: the full read's peak memory is then its own.
    if wants.reads() {
        progress!(
            "postgres: import of {} events (loads the read set)…",
            sizes.read_events
        );
        let (mut set, import) = reads::import(rt, &db, dataset, sizes.read_events);
        out.push(figures::import(set.events, "binary COPY", &import));
        if wants.has("full_read") {
            progress!("postgres: full read…");
            let best = best_of(
                sizes.rounds,
                || set.store_full_read(),
                || set.raw_full_read(),
            );
            out.extend(figures::full_read(
                set.events,
                best.store,
                best.raw,
                best.peaks,
                json!({}),
            ));
            if let Some(psql) = set.psql_scan(url) {
                out.push(Figure {
                    key: "full_read_vs_psql",
                    label: format!("full streamed read, {} events, raw: psql's own scan", set.events),
                    unit: Unit::EventsPerSec,
                    store: Some(best.store.per_sec()),
                    raw: Some(psql.per_sec()),
                    targets: vec![Target::RatioAtLeast(PSQL_TARGET)],
                    details: json!({
                        "how": "psql -At -c 'SELECT <the store's columns> … ORDER BY sequence' > /dev/null, one run, process start included",
                    }),
                });
            }
        }
        if wants.has("keyset") {
            progress!("postgres: keyset page walk…");
            out.extend(figures::keyset(
                set.events,
                reads::PAGE,
                set.keyset_walk(sizes.rounds),
            ));
        }
        if wants.has("stream") {
            progress!("postgres: subject streams…");
            out.extend(figures::stream(&set.streams(sizes.stream_calls)));
        }
        if wants.has("type_time") {
            progress!("postgres: type + time range queries…");
            out.push(figures::latency(
                "type_time_range_p50",
                format!("type + time range LIMIT {}, p50", reads::QUERY_LIMIT),
                &set.type_time_range(sizes.query_calls, set.twentieth()),
                vec![Target::RatioAtLeast(RATIO_TARGET)],
            ));
        }
        if wants.has("since") {
            progress!("postgres: events since a time…");
            out.push(figures::latency(
                "since_p50",
                format!("events since a time LIMIT {}, p50", reads::QUERY_LIMIT),
                &set.since(sizes.query_calls, false),
                vec![Target::RatioAtLeast(RATIO_TARGET)],
            ));
            // A generic plan walks the history up to the start: ~0.5 s a query at 1M.
            out.push(figures::latency(
                "since_generic_p50",
                format!(
                    "events since a time LIMIT {}, p50, raw with a generic plan",
                    reads::QUERY_LIMIT
                ),
                &set.since((sizes.query_calls / 5).max(4), true),
                Vec::new(),
            ));
        }
        if wants.has("get") {
            progress!("postgres: gets by (source, id)…");
            out.push(figures::latency(
                "get_by_id_p50",
                "get by (source, id), p50".to_owned(),
                &set.gets(sizes.get_calls),
                vec![Target::RatioAtLeast(RATIO_TARGET)],
            ));
        }
        if wants.has("follow") {
            progress!("postgres: replay, relay drain (all, one type), subscription latency…");
            let mut raw_read = || set.raw_full_read();
            let mut raw_relay = |batch| set.raw_relay(batch);
            let mut raw_filtered_relay = |ty: &str, batch| set.raw_filtered_relay(ty, batch);
            out.extend(follow::run(
                rt,
                Followed {
                    store: Arc::new(set.store.clone()),
                    events: set.events,
                    dataset,
                    raw_read: &mut raw_read,
                    raw_relay: &mut raw_relay,
                    raw_filtered_relay: &mut raw_filtered_relay,
                    latency_target_ms: LATENCY_TARGET_MS,
                    rounds: sizes.rounds,
                },
            ));
        }
        if wants.has("seed") {
            progress!("postgres: append 100 × 1 on the loaded table against a seed-schema copy…");
            let result = seeded::run(rt, &db, &set, sizes);
            out.push(figures::seed_loaded(set.events, sizes.batched(), result));
        }
        if wants.has("scale") && sizes.scale_events > set.events {
            out.extend(scale::run(&mut set, sizes));
        }
        rt.block_on(eventstore_core::EventStore::close(&set.store))
            .expect("the store closes");
    }

    for (key, label, shape) in sizes.appends() {
        if !wants.has(key) {
            continue;
        }
        progress!("postgres: {label}…");
        let result = append::run(rt, &db, dataset, shape, sizes.rounds, false);
        let mut targets = vec![Target::RatioAtLeast(RATIO_TARGET)];
        match key {
            "append_100x1" => targets.push(Target::StoreAtLeast(BATCHED_APPEND_TARGET)),
            "append_100x8" => targets.push(Target::StoreAtLeast(CONCURRENT_BATCHED_TARGET)),
            _ => {}
        }
        out.push(figures::append(key, label, shape, result, targets));
    }
    if wants.has("gin") {
        for shape in [sizes.batched(), sizes.concurrent_batched()] {
            progress!(
                "postgres: append {} × {} with the extensions' GIN index and without…",
                shape.batch,
                shape.writers
            );
            let result = append::gin_cost(rt, &db, dataset, shape, sizes.rounds);
            out.push(figures::gin_cost(dataset, shape, result));
        }
    }
    if wants.has("seed") {
        progress!("postgres: append 100 × 1 against the seed's schema…");
        let shape = sizes.batched();
        let result = append::run(rt, &db, dataset, shape, sizes.rounds, true);
        out.push(figures::seed_empty("tables", shape, result));
    }
    rt.block_on(db.drop_schema());
    Section {
        backend: "postgres",
        title: format!("PostgreSQL {version}: PostgresEventStore against plain tokio-postgres"),
        figures: out,
        notes: json!({ "server_version": version, "schema": db::schema() }),
    }
}
