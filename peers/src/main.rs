//! `eventstore-peers`: postgres-es (cqrs-es's PostgreSQL repository) appending the
//! benchmark harness's events on the same PostgreSQL, in the harness's append workloads.
//!
//! `eventstore-peers URL DIR`: reads `DIR/peer-plan.json` and `DIR/peer-events.jsonl`
//! (written by `eventstore-bench --export-peers DIR`), writes `DIR/peers.json`.
//! `cargo xtask bench --peers` runs it between the two.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use cqrs_es::persist::{PersistedEventRepository, SerializedEvent};
use cqrs_es::{Aggregate, DomainEvent};
use postgres_es::PostgresEventRepository;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::postgres::PgPoolOptions;

/// The schema the peers' tables live in, dropped at the start and the end.
const SCHEMA: &str = "eventstore_peers";

/// The aggregate every event is persisted as: postgres-es binds its type name; nothing
/// else of it runs (the benchmark measures the repository's append, not a command).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Stream;

/// What the aggregate's events would be; never built, the events go in serialized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Happened;

impl DomainEvent for Happened {
    fn event_type(&self) -> String {
        "happened".to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

#[async_trait]
impl Aggregate for Stream {
    type Command = ();
    type Event = Happened;
    type Error = std::io::Error;
    type Services = ();

    fn aggregate_type() -> String {
        "cloudevent".to_owned()
    }

    async fn handle(&self, _: (), _: &()) -> Result<Vec<Happened>, std::io::Error> {
        Ok(Vec::new())
    }

    fn apply(&mut self, _: Happened) {}
}

/// A CloudEvent as postgres-es stores it: the subject is the aggregate id, its stream
/// version the sequence, the type the event type, `data` the payload and every other
/// attribute the metadata.
fn serialized(mut event: Value, versions: &mut HashMap<String, usize>) -> SerializedEvent {
    let object = event.as_object_mut().expect("an event is a JSON object");
    let subject = object
        .remove("subject")
        .and_then(|s| s.as_str().map(str::to_owned))
        .unwrap_or_default();
    let ty = object
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let payload = object.remove("data").unwrap_or(Value::Null);
    let version = versions.entry(subject.clone()).or_insert(0);
    *version += 1;
    SerializedEvent::new(
        subject,
        *version,
        Stream::aggregate_type(),
        ty,
        "1.0".to_owned(),
        payload,
        event,
    )
}

/// One workload of the plan.
#[derive(Debug, Deserialize)]
struct Workload {
    key: String,
    writers: usize,
    batch: usize,
    events: usize,
    /// Whether the writers share subjects (each takes a contiguous run of the events) or
    /// have their own (the events dealt out round-robin; the harness's data set puts
    /// event `i` on a subject of writer `i` modulo the writers).
    #[serde(default)]
    shared_subjects: bool,
}

/// The plan the harness wrote.
#[derive(Debug, Deserialize)]
struct Plan {
    rounds: u32,
    workloads: Vec<Workload>,
}

/// Creates fresh tables for one round (postgres-es's own DDL, from its repository's
/// `db/init.sql`) and returns a repository on them.
async fn fresh_repository(pool: &sqlx::PgPool, round: usize) -> PostgresEventRepository {
    let (events, snapshots) = (
        format!("{SCHEMA}.events_{round}"),
        format!("{SCHEMA}.snapshots_{round}"),
    );
    let ddl = format!(
        "CREATE TABLE {events} (
            aggregate_type text NOT NULL, aggregate_id text NOT NULL,
            sequence bigint CHECK (sequence >= 0) NOT NULL, event_type text NOT NULL,
            event_version text NOT NULL, payload json NOT NULL, metadata json NOT NULL,
            PRIMARY KEY (aggregate_type, aggregate_id, sequence));
         CREATE TABLE {snapshots} (
            aggregate_type text NOT NULL, aggregate_id text NOT NULL,
            last_sequence bigint CHECK (last_sequence >= 0) NOT NULL,
            current_snapshot bigint CHECK (current_snapshot >= 0) NOT NULL,
            payload json NOT NULL,
            PRIMARY KEY (aggregate_type, aggregate_id, last_sequence))"
    );
    sqlx::raw_sql(&ddl)
        .execute(pool)
        .await
        .expect("the peer's tables are created");
    PostgresEventRepository::new(pool.clone()).with_tables(&events, &snapshots)
}

/// Writer `w`'s events of `workload`, dealt out as the harness deals them.
fn hand(events: &[SerializedEvent], workload: &Workload, w: usize) -> Vec<SerializedEvent> {
    let per_writer = workload.events / workload.writers;
    if workload.shared_subjects {
        events[w * per_writer..(w + 1) * per_writer].to_vec()
    } else {
        events[..per_writer * workload.writers]
            .iter()
            .skip(w)
            .step_by(workload.writers)
            .cloned()
            .collect()
    }
}

/// One round: the events dealt out to the writers in batches, every batch one
/// `persist`, the writers concurrent.
async fn round(
    pool: &sqlx::PgPool,
    n: usize,
    workload: &Workload,
    events: &[SerializedEvent],
) -> Duration {
    let repository = Arc::new(fresh_repository(pool, n).await);
    let hands: Vec<Vec<SerializedEvent>> = (0..workload.writers)
        .map(|w| hand(events, workload, w))
        .collect();
    let start = Instant::now();
    let tasks: Vec<_> = hands
        .into_iter()
        .map(|mine| {
            let repository = Arc::clone(&repository);
            let batch = workload.batch;
            tokio::spawn(async move {
                for chunk in mine.chunks(batch) {
                    repository
                        .persist::<Stream>(chunk, None)
                        .await
                        .expect("postgres-es persists");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a writer finishes");
    }
    start.elapsed()
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(url), Some(dir)) = (args.next(), args.next()) else {
        eprintln!("usage: eventstore-peers URL DIR");
        std::process::exit(2);
    };
    let dir = Path::new(&dir);
    let plan: Plan = serde_json::from_str(
        &std::fs::read_to_string(dir.join("peer-plan.json")).expect("the plan is there"),
    )
    .expect("the plan parses");
    let mut versions = HashMap::new();
    let events: Vec<SerializedEvent> = std::fs::read_to_string(dir.join("peer-events.jsonl"))
        .expect("the events are there")
        .lines()
        .map(|line| {
            serialized(
                serde_json::from_str(line).expect("an event parses"),
                &mut versions,
            )
        })
        .collect();
    // As many connections as the harness gives the store.
    let pool = PgPoolOptions::new()
        .max_connections(10)
        .connect(&url)
        .await
        .expect("the peer connects");
    let reset = format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE; CREATE SCHEMA {SCHEMA}");
    sqlx::raw_sql(&reset)
        .execute(&pool)
        .await
        .expect("the schema is reset");
    let mut figures = serde_json::Map::new();
    let mut n = 0;
    for workload in &plan.workloads {
        let mut best = Duration::MAX;
        let events = &events[..workload.events.min(events.len())];
        for _ in 0..plan.rounds.max(1) {
            best = best.min(round(&pool, n, workload, events).await);
            n += 1;
        }
        let rate = events.len() as f64 / best.as_secs_f64();
        eprintln!("postgres-es {}: {rate:.0} events/s", workload.key);
        figures.insert(workload.key.clone(), json!(rate));
    }
    sqlx::raw_sql(&format!("DROP SCHEMA {SCHEMA} CASCADE"))
        .execute(&pool)
        .await
        .expect("the schema drops");
    let report =
        json!({ "peers": [{ "name": "postgres-es", "version": "0.4.12", "figures": figures }] });
    std::fs::write(
        dir.join("peers.json"),
        serde_json::to_string_pretty(&report).expect("JSON") + "\n",
    )
    .expect("peers.json is written");
}
