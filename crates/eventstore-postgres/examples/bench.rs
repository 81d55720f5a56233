//! The PostgreSQL workloads, each against tokio-postgres doing the plain SQL directly on
//! the same database and schema, in the same run.
//!
//! `cargo run --release -p eventstore-postgres --example bench -- [all|appends|reads|stream-rss]`
//! (`reads` reuses the 1M events of a previous full run; `BENCH_RUNS=n` repeats
//! the append workloads, and the reads, n times)
//! (`DATABASE_URL` as in the tests; it works in schema `eventstore_bench`, dropped
//! first). Figures go to stderr.

#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use eventstore_core::{Event, EventQuery, EventStore};
use eventstore_postgres::{PostgresEventStore, PostgresOptions};
use futures::{StreamExt as _, TryStreamExt as _};
use time::OffsetDateTime;
use tokio_postgres::types::ToSql;

const SCHEMA: &str = "eventstore_bench";
const COLUMNS: &str =
    "stream_version, recorded_at, id, source, type, subject, time, data_kind, data, extensions";

fn url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn base_time() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap()
}

/// Event `i` of a data set: 100,000 subjects of 10 events, 20 types, a time per
/// millisecond, small JSON data, an extension on every tenth.
fn event(tag: &str, i: u64) -> Event {
    let mut b = Event::builder()
        .id(format!("{tag}-{i}"))
        .source("/bench")
        .ty(format!("com.example.type{}", i % 20))
        .subject(format!("{tag}-subject-{}", i / 10))
        .time(base_time() + Duration::from_millis(i))
        .json(&serde_json::json!({"n": i, "name": "benchmark event"}));
    if i.is_multiple_of(10) {
        b = b.extension("tenant", format!("t{}", i % 7));
    }
    b.build().unwrap()
}

async fn store(table: &str, gin: bool) -> PostgresEventStore {
    PostgresOptions::from_url(&url())
        .unwrap()
        .schema(SCHEMA)
        .unwrap()
        .table(table)
        .unwrap()
        .extensions_index(gin)
        .pool_size(10)
        .unwrap()
        .open()
        .await
        .unwrap()
}

async fn raw_client() -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(&url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
}

fn rate(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn report(name: &str, store: f64, raw: f64, unit: &str) {
    eprintln!(
        "{name:<34} store {store:>10.0} {unit}  raw {raw:>10.0} {unit}  ratio {:.2}",
        store / raw
    );
}

/// Appends `batches` batches of `size` events from each of `writers` writers.
async fn store_appends(
    store: &PostgresEventStore,
    tag: &str,
    writers: u64,
    size: u64,
    batches: u64,
) -> f64 {
    let start = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let store = store.clone();
            let tag = format!("{tag}w{w}");
            tokio::spawn(async move {
                for b in 0..batches {
                    let batch = (0..size).map(|i| event(&tag, b * size + i)).collect();
                    store.append(batch).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    rate(writers * size * batches, start.elapsed())
}

/// The same rows with plain SQL: one `INSERT … SELECT FROM unnest` per batch, stream
/// versions computed by the client, the same extensions (so the same GIN entries), and
/// the sequences returned, as an append must.
async fn raw_appends(table: &str, tag: &str, writers: u64, size: u64, batches: u64) -> f64 {
    let sql = format!(
        "INSERT INTO {SCHEMA}.{table} ({COLUMNS}) SELECT * FROM unnest($1::int8[], \
         $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
         $8::text[], $9::text[]::jsonb[], $10::text[]::jsonb[]) RETURNING sequence"
    );
    let start = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let sql = sql.clone();
            let tag = format!("{tag}w{w}");
            tokio::spawn(async move {
                let client = raw_client().await;
                let stmt = client.prepare(&sql).await.unwrap();
                for b in 0..batches {
                    let events: Vec<Event> = (0..size).map(|i| event(&tag, b * size + i)).collect();
                    let rows = columns(&events, b * size);
                    let p: Vec<&(dyn ToSql + Sync)> = vec![
                        &rows.0, &rows.1, &rows.2, &rows.3, &rows.4, &rows.5, &rows.6, &rows.7,
                        &rows.8, &rows.9,
                    ];
                    let sequences = client.query(&stmt, &p).await.unwrap();
                    assert_eq!(sequences.len() as u64, size);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    rate(writers * size * batches, start.elapsed())
}

type Columns = (
    Vec<i64>,
    Vec<OffsetDateTime>,
    Vec<String>,
    Vec<String>,
    Vec<String>,
    Vec<String>,
    Vec<String>,
    Vec<&'static str>,
    Vec<String>,
    Vec<Option<String>>,
);

fn columns(events: &[Event], first: u64) -> Columns {
    let now = OffsetDateTime::now_utc();
    (
        events
            .iter()
            .enumerate()
            .map(|(i, _)| ((first + i as u64) % 10 + 1) as i64)
            .collect(),
        events.iter().map(|_| now).collect(),
        events.iter().map(|e| e.id().to_owned()).collect(),
        events.iter().map(|e| e.source().to_owned()).collect(),
        events.iter().map(|e| e.ty().to_owned()).collect(),
        events
            .iter()
            .map(|e| e.subject().unwrap().to_owned())
            .collect(),
        events
            .iter()
            .map(|e| eventstore_core::timestamp::format_fixed(e.time().unwrap()))
            .collect(),
        events.iter().map(|_| "json").collect(),
        events
            .iter()
            .map(|e| e.data().unwrap().as_json().unwrap().as_str().to_owned())
            .collect(),
        events.iter().map(extensions_json).collect(),
    )
}

/// The `extensions` column the store writes for `e`: `{"name": {"<type>": value}}`.
fn extensions_json(e: &Event) -> Option<String> {
    eventstore_core::sql::extensions_column(e)
}

/// How many times each append workload runs (`BENCH_RUNS`, default 1), raw and store
/// alternating; with more than one, the spread of the ratios is reported too.
fn runs() -> usize {
    std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

async fn appends() {
    let s = store("appends", true).await;
    let _ = store("raw_appends", true).await;
    for (writers, size, batches) in [
        (1u64, 1u64, 2000u64),
        (1, 100, 100),
        (8, 1, 500),
        (8, 100, 25),
    ] {
        let (mut raws, mut stores, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for run in 0..runs() {
            let tag = format!("{writers}x{size}r{run}");
            let raw = raw_appends("raw_appends", &tag, writers, size, batches).await;
            let st = store_appends(&s, &tag, writers, size, batches).await;
            raws.push(raw);
            stores.push(st);
            ratios.push(st / raw);
        }
        let name = format!("append {size} x {writers} writers");
        report(&name, median(stores), median(raws), "ev/s");
        if ratios.len() > 1 {
            let (lo, hi) = ratios
                .iter()
                .fold((f64::MAX, f64::MIN), |(l, h), &r| (l.min(r), h.max(r)));
            eprintln!(
                "{:<34} {} runs: ratios {} (median {:.2}, min {lo:.2}, max {hi:.2})",
                "",
                ratios.len(),
                ratios
                    .iter()
                    .map(|r| format!("{r:.2}"))
                    .collect::<Vec<_>>()
                    .join(" "),
                median(ratios.clone())
            );
        }
    }
}

async fn seed_schema_and_gin() {
    let client = raw_client().await;
    let _ = store("seed_like", false).await;
    // The seed's shape: every column indexed on its own.
    client
        .batch_execute(&format!(
            "ALTER TABLE {SCHEMA}.seed_like DROP CONSTRAINT seed_like_source_id;
             DROP INDEX {SCHEMA}.seed_like_subject_version; DROP INDEX {SCHEMA}.seed_like_subject_sequence;
             DROP INDEX {SCHEMA}.seed_like_type_sequence; DROP INDEX {SCHEMA}.seed_like_correlationid_sequence;
             DROP INDEX {SCHEMA}.seed_like_topic_sequence; DROP INDEX {SCHEMA}.seed_like_destination_sequence;
             DROP INDEX {SCHEMA}.seed_like_time;
             CREATE INDEX ON {SCHEMA}.seed_like (id); CREATE INDEX ON {SCHEMA}.seed_like (source);
             CREATE INDEX ON {SCHEMA}.seed_like (type); CREATE INDEX ON {SCHEMA}.seed_like (subject);
             CREATE INDEX ON {SCHEMA}.seed_like (time); CREATE INDEX ON {SCHEMA}.seed_like (correlationid);
             CREATE INDEX ON {SCHEMA}.seed_like (topic); CREATE INDEX ON {SCHEMA}.seed_like (destination);
             CREATE INDEX ON {SCHEMA}.seed_like (recorded_at);"
        ))
        .await
        .unwrap();
    let seed = raw_appends("seed_like", "seed", 1, 100, 100).await;
    let gin = store("with_gin", true).await;
    let no_gin = store("without_gin", false).await;
    let with = store_appends(&gin, "gin", 1, 100, 100).await;
    let without = store_appends(&no_gin, "nogin", 1, 100, 100).await;
    eprintln!("raw 100 x 1 into the seed-like schema (9 single-column indexes): {seed:.0} ev/s");
    eprintln!(
        "store 100 x 1, GIN on extensions: {with:.0} ev/s, without: {without:.0} ev/s ({:.1}% cost)",
        (1.0 - with / without) * 100.0
    );
}

async fn import_and_reads() {
    let s = store("events", true).await;
    let n = 1_000_000u64;
    let start = Instant::now();
    s.import((0..n).map(|i| event("imp", i))).await.unwrap();
    let st = rate(n, start.elapsed());
    let _ = store("raw_copy", true).await;
    let client = raw_client().await;
    let start = Instant::now();
    let sink = client
        .copy_in(&format!(
            "COPY {SCHEMA}.raw_copy ({COLUMNS}) FROM STDIN (FORMAT binary)"
        ))
        .await
        .unwrap();
    use tokio_postgres::types::Type;
    let types = [
        Type::INT8,
        Type::TIMESTAMPTZ,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::JSONB,
        Type::JSONB,
    ];
    let writer = tokio_postgres::binary_copy::BinaryCopyInWriter::new(sink, &types);
    let mut writer = std::pin::pin!(writer);
    let now = OffsetDateTime::now_utc();
    for i in 0..n {
        let e = event("imp", i);
        let data = Json(e.data().unwrap().as_json().unwrap().as_str().to_owned());
        let extensions = extensions_json(&e).map(Json);
        let row: [&(dyn ToSql + Sync); 10] = [
            &((i % 10 + 1) as i64),
            &now,
            &e.id(),
            &e.source(),
            &e.ty(),
            &e.subject(),
            &eventstore_core::timestamp::format_fixed(e.time().unwrap()),
            &"json",
            &data,
            &extensions,
        ];
        writer.as_mut().write(&row).await.unwrap();
    }
    writer.finish().await.unwrap();
    let raw = rate(n, start.elapsed());
    report("import 1M (binary COPY)", st, raw, "ev/s");
    client
        .batch_execute(&format!("VACUUM ANALYZE {SCHEMA}.events"))
        .await
        .unwrap();

    for _ in 0..runs() {
        reads(&s, &client).await;
    }
}

/// The read workloads on the imported 1M events.
async fn reads(s: &PostgresEventStore, client: &tokio_postgres::Client) {
    // Full streamed read.
    let start = Instant::now();
    let count = s
        .query(EventQuery::new())
        .try_fold(0u64, |n, _| async move { Ok(n + 1) })
        .await
        .unwrap();
    let st = rate(count, start.elapsed());
    let start = Instant::now();
    let raw_count = raw_read(
        client,
        &format!("SELECT {} FROM {SCHEMA}.events ORDER BY sequence", ALL),
    )
    .await;
    let raw = rate(raw_count, start.elapsed());
    report("full streamed read 1M", st, raw, "ev/s");

    // Subject stream, and type + time range with LIMIT 100.
    // Ten blocks of 200 queries each side, alternating, so that the machine's
    // background load falls on both sides alike.
    let stmt = client
        .prepare(&format!("SELECT {ALL} FROM {SCHEMA}.events WHERE subject = $1 AND stream_version >= $2 ORDER BY stream_version"))
        .await
        .unwrap();
    let (mut st_time, mut raw_time, mut ratios) = (Duration::ZERO, Duration::ZERO, Vec::new());
    let block = 200u64;
    for b in 0..10u64 {
        let start = Instant::now();
        for r in b * block..(b + 1) * block {
            let subject = format!("imp-subject-{}", (r * 37) % 100_000);
            let n: Vec<_> = s.stream(&subject, 1).try_collect().await.unwrap();
            assert_eq!(n.len(), 10);
        }
        let st = start.elapsed();
        let start = Instant::now();
        for r in b * block..(b + 1) * block {
            let subject = format!("imp-subject-{}", (r * 37) % 100_000);
            let rows = client.query(&stmt, &[&subject, &1i64]).await.unwrap();
            touch(&rows);
        }
        let raw = start.elapsed();
        ratios.push(raw.as_secs_f64() / st.as_secs_f64());
        st_time += st;
        raw_time += raw;
    }
    let (st, raw) = (rate(2000, st_time), rate(2000, raw_time));
    report("subject stream (10 events)", st, raw, "q/s");
    let (lo, hi) = ratios
        .iter()
        .fold((f64::MAX, f64::MIN), |(l, h), &r| (l.min(r), h.max(r)));
    eprintln!(
        "{:<34} 10 blocks of 200: ratio median {:.2}, min {lo:.2}, max {hi:.2}",
        "",
        median(ratios.clone())
    );

    let reps = 1000u64;
    let start = Instant::now();
    for r in 0..reps {
        let from = base_time() + Duration::from_millis((r * 997) % 900_000);
        let q = EventQuery::new()
            .ty("com.example.type3")
            .time_from(from)
            .time_to(from + Duration::from_secs(60))
            .limit(100);
        let n: Vec<_> = s.query(q).try_collect().await.unwrap();
        assert!(!n.is_empty());
    }
    let st = rate(reps, start.elapsed());
    let stmt = client
        .prepare(&format!("SELECT {ALL} FROM {SCHEMA}.events WHERE type = $1 AND time >= $2 AND time < $3 ORDER BY sequence LIMIT 100"))
        .await
        .unwrap();
    let start = Instant::now();
    for r in 0..reps {
        let from = base_time() + Duration::from_millis((r * 997) % 900_000);
        let to = from + Duration::from_secs(60);
        let (from, to) = (
            eventstore_core::timestamp::format_fixed(from),
            eventstore_core::timestamp::format_fixed(to),
        );
        let rows = client
            .query(&stmt, &[&"com.example.type3", &from, &to])
            .await
            .unwrap();
        touch(&rows);
    }
    let raw = rate(reps, start.elapsed());
    report("type + time range, LIMIT 100", st, raw, "q/s");
}

const ALL: &str = "sequence, stream_version, recorded_at, id, source, type, subject, time, \
    datacontenttype, dataschema, correlationid, topic, destination, extensions::text, data_kind, \
    data::text, data_bytes";

/// Decodes every column the store decodes, as the types the store reads them as (the
/// store then also builds the event; that part is its own cost).
fn decode(row: &tokio_postgres::Row) -> usize {
    let sequence: i64 = row.get(0);
    let stream_version: Option<i64> = row.get(1);
    let recorded_at: Option<OffsetDateTime> = row.get(2);
    let strings: [Option<String>; 13] = std::array::from_fn(|i| row.get(i + 3));
    let bytes: Option<Vec<u8>> = row.get(16);
    std::hint::black_box((sequence, stream_version, recorded_at, &strings, &bytes));
    strings.iter().flatten().map(String::len).sum()
}

fn touch(rows: &[tokio_postgres::Row]) {
    for row in rows {
        decode(row);
    }
}

async fn raw_read(client: &tokio_postgres::Client, sql: &str) -> u64 {
    let rows = client
        .query_raw(sql, std::iter::empty::<i64>())
        .await
        .unwrap();
    rows.fold(0u64, |n, row| async move {
        decode(&row.unwrap());
        n + 1
    })
    .await
}

/// JSON text bound as jsonb.
#[derive(Debug)]
struct Json(String);

impl ToSql for Json {
    fn to_sql(
        &self,
        _: &tokio_postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use bytes::BufMut as _;
        out.put_u8(1);
        out.put_slice(self.0.as_bytes());
        Ok(tokio_postgres::types::IsNull::No)
    }
    fn accepts(ty: &tokio_postgres::types::Type) -> bool {
        *ty == tokio_postgres::types::Type::JSONB
    }
    tokio_postgres::types::to_sql_checked!();
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "all".to_owned());
    if mode == "stream-rss" {
        let s = store("events", true).await;
        let before = peak_rss_kib();
        let count = s
            .query(EventQuery::new())
            .try_fold(0u64, |n, _| async move { Ok(n + 1) })
            .await
            .unwrap();
        eprintln!(
            "streamed {count} events: peak RSS {} KiB (before the read {before} KiB)",
            peak_rss_kib()
        );
        return;
    }
    let client = raw_client().await;
    if mode == "reads" {
        // On the events a previous full run imported.
        let s = store("events", true).await;
        for _ in 0..runs() {
            reads(&s, &client).await;
        }
        return;
    }
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        .await
        .unwrap();
    appends().await;
    if mode == "appends" {
        return;
    }
    seed_schema_and_gin().await;
    import_and_reads().await;
}
