//! Every query shape `EventQuery` produces is served by an index: SQLite's
//! `EXPLAIN QUERY PLAN` for each is checked here (and printed with `--nocapture`, which
//! is where docs/schema.md's plans come from).

#![allow(clippy::print_stdout)]

use eventstore_core::sql::{
    Binder, Dialect, Sql, SqlValue, TableName, select_by_id, select_events, select_stream,
};
use eventstore_core::time::OffsetDateTime;
use eventstore_core::{Event, EventQuery, EventStore, ExtensionValue, Order};
use eventstore_sqlite::{SqliteDialect, SqliteOptions};
use rusqlite::types::Value;

fn shapes() -> Vec<(&'static str, Sql, bool)> {
    let t = TableName::default();
    let d = &SqliteDialect;
    let at = OffsetDateTime::UNIX_EPOCH;
    let q = |query: EventQuery| select_events(d, &t, &query, Some(1000)).unwrap();
    vec![
        ("all, ascending", q(EventQuery::new()), true),
        (
            "all, descending",
            q(EventQuery::new().order(Order::Descending)),
            true,
        ),
        ("after (keyset page)", q(EventQuery::new().after(500)), true),
        (
            "sequence range",
            q(EventQuery::new().min_sequence(10).max_sequence(99)),
            true,
        ),
        ("type", q(EventQuery::new().ty("a")), true),
        ("type, after", q(EventQuery::new().ty("a").after(500)), true),
        ("types (IN)", q(EventQuery::new().types(["a", "b"])), true),
        (
            "type + time range",
            q(EventQuery::new().ty("a").time_from(at).time_to(at)),
            true,
        ),
        ("subject", q(EventQuery::new().subject("s")), true),
        (
            "subject, after, descending",
            q(EventQuery::new()
                .subject("s")
                .after(9)
                .order(Order::Descending)),
            true,
        ),
        ("source", q(EventQuery::new().source("/x")), true),
        (
            "correlation id",
            q(EventQuery::new().correlation_id("c")),
            true,
        ),
        (
            "time range",
            q(EventQuery::new().time_from(at).time_to(at)),
            true,
        ),
        (
            "topic (residual filter)",
            q(EventQuery::new().topic("t")),
            false,
        ),
        (
            "extension (residual filter)",
            q(EventQuery::new().extension("region", "eu")),
            false,
        ),
        (
            "stream(subject, from)",
            select_stream(d, &t, "s", 5, Some(1000)),
            true,
        ),
        ("get(source, id)", select_by_id(d, &t, "/x", "1"), true),
    ]
}

fn value(v: &SqlValue) -> Value {
    match v {
        SqlValue::Int(i) => Value::Integer(*i),
        SqlValue::Text(s) => Value::Text(s.clone()),
        SqlValue::Time(t) => Value::Text(eventstore_core::timestamp::format_fixed(*t)),
        other => Value::Text(format!("{other:?}")),
    }
}

/// A file of 5,000 events, spread like real traffic so that `ANALYZE`'s statistics mean
/// something, with the optional `(type, time)` index when `type_time_index`.
async fn analyzed_file(dir: &std::path::Path, type_time_index: bool) -> rusqlite::Connection {
    let path = dir.join("plans.db");
    let store = SqliteOptions::file(&path)
        .type_time_index(type_time_index)
        .open()
        .await
        .unwrap();
    // Enough rows, spread like real traffic, for ANALYZE's statistics to mean something.
    for batch in 0..5 {
        let events = (0..1000).map(|i| {
            let n = batch * 1000 + i;
            let mut b = Event::builder()
                .id(format!("{n}"))
                .source(format!("/service/{}", n % 4))
                .ty(format!("type.{}", n % 20))
                .subject(format!("subject-{}", n % 1000))
                .correlationid(format!("c{}", n / 3))
                .time(OffsetDateTime::UNIX_EPOCH + eventstore_core::time::Duration::seconds(n));
            if n % 10 == 0 {
                b = b.topic("orders").extension("region", "eu");
            }
            b.build().unwrap()
        });
        store.append(events.collect()).await.unwrap();
    }
    store.close().await.unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("ANALYZE").unwrap();
    conn
}

/// SQLite's plan for `sql`, one step a string.
fn plan(conn: &rusqlite::Connection, sql: &Sql) -> Vec<String> {
    let mut stmt = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {}", sql.text))
        .unwrap();
    let params = rusqlite::params_from_iter(sql.params.iter().map(value));
    stmt.query_map(params, |row| row.get::<_, String>(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[tokio::test]
async fn every_query_shape_is_index_served() {
    let dir = tempfile::tempdir().unwrap();
    let conn = analyzed_file(dir.path(), false).await;
    for (name, sql, indexed) in shapes() {
        let plan = plan(&conn, &sql);
        println!("{name}\n    {}\n    -> {}", sql.text, plan.join("; "));
        if indexed {
            // A full scan is only acceptable as the primary key's own order. A time
            // range's probe scans its own bounded result (`SCAN probe`).
            let full_scan = plan.iter().any(|step| {
                step.starts_with("SCAN")
                    && step != "SCAN probe"
                    && !step.contains("INDEX")
                    && !step.contains("PRIMARY KEY")
            });
            let unfiltered = sql.text.find("WHERE").is_none();
            assert!(!full_scan || unfiltered, "{name} scans the table: {plan:?}");
        }
    }
}

#[tokio::test]
async fn the_type_time_index_serves_type_and_time_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let conn = analyzed_file(dir.path(), true).await;
    let t = TableName::default();
    let q = |query: EventQuery| select_events(&SqliteDialect, &t, &query, Some(100)).unwrap();
    let from = OffsetDateTime::UNIX_EPOCH + eventstore_core::time::Duration::seconds(1000);
    let to = from + eventstore_core::time::Duration::seconds(500);
    let uses = |sql: &Sql, index: &str| {
        let plan = plan(&conn, sql);
        println!("{}\n    -> {}", sql.text, plan.join("; "));
        plan.iter()
            .any(|step| step.contains(&format!("INDEX {index} ")))
    };
    for query in [
        EventQuery::new().ty("type.3").time_from(from).time_to(to),
        EventQuery::new()
            .types(["type.3", "type.4"])
            .time_from(from)
            .time_to(to),
    ] {
        assert!(uses(&q(query), "events$type_time"));
    }
    // Type alone, and its keyset pages, still walk (type, sequence): no sort.
    assert!(uses(
        &q(EventQuery::new().ty("type.3")),
        "events$type_sequence"
    ));
    assert!(uses(
        &q(EventQuery::new().ty("type.3").after(700)),
        "events$type_sequence"
    ));
}

/// SQLite's dialect with a probe of `rows` `(time)` entries (none: without the probe),
/// so that a test file of 5,000 events holds ranges both within and beyond it.
struct Probing {
    rows: Option<u64>,
}

impl Dialect for Probing {
    fn placeholder(&self, index: usize) -> String {
        SqliteDialect.placeholder(index)
    }
    fn event_columns(&self) -> &'static str {
        SqliteDialect.event_columns()
    }
    fn extension_equals(&self, name: &str, value: &ExtensionValue, b: &mut Binder<'_>) -> String {
        SqliteDialect.extension_equals(name, value, b)
    }
    fn time_probe_rows(&self, _bounded: bool) -> Option<u64> {
        self.rows
    }
}

/// The sequences `sql` returns, and the virtual machine steps SQLite took for them.
fn run(conn: &rusqlite::Connection, sql: &Sql) -> (Vec<i64>, i32) {
    let mut stmt = conn.prepare(&sql.text).unwrap();
    let params = rusqlite::params_from_iter(sql.params.iter().map(value));
    let sequences = stmt
        .query_map(params, |row| row.get::<_, i64>(0))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let steps = stmt.get_status(rusqlite::StatementStatus::VmStep);
    (sequences, steps)
}

#[tokio::test]
async fn a_read_with_a_time_range_starts_where_its_first_match_lies() {
    let dir = tempfile::tempdir().unwrap();
    let conn = analyzed_file(dir.path(), false).await;
    let t = TableName::default();
    let second = |n: i64| OffsetDateTime::UNIX_EPOCH + eventstore_core::time::Duration::seconds(n);
    // Event n has time n s. The plain statement is the same query without the probe.
    let plain = |query: &EventQuery| {
        run(
            &conn,
            &select_events(&Probing { rows: None }, &t, query, None).unwrap(),
        )
    };
    for (name, query) in [
        ("the last 100 s", EventQuery::new().time_from(second(4900))),
        ("from the start", EventQuery::new().time_from(second(0))),
        (
            "a range of 300 s mid-history",
            EventQuery::new()
                .time_from(second(2500))
                .time_to(second(2800)),
        ),
        (
            "an extension in the last 1,000 s",
            EventQuery::new()
                .extension("region", "eu")
                .time_from(second(4000)),
        ),
        (
            "nothing after the end",
            EventQuery::new().time_from(second(9000)),
        ),
    ] {
        let query = query.limit(100);
        let (expected, _) = plain(&query);
        // A probe of 10 entries holds none of these ranges but the empty one, so the
        // read walks from the start of the history, as the plain statement may.
        let mut steps = Vec::new();
        for rows in [10, 50_000] {
            let sql = select_events(&Probing { rows: Some(rows) }, &t, &query, None).unwrap();
            let (got, taken) = run(&conn, &sql);
            println!(
                "{name}, probe of {rows}: {} events, {taken} steps",
                got.len()
            );
            assert_eq!(got, expected, "{name}, probe of {rows}");
            steps.push(taken);
        }
        if name.starts_with("the last") || name.starts_with("a range") {
            // Held by the probe, the range is read from its first match on, which takes
            // fewer steps than the walk from the start of the history (a probed entry
            // costs about twice a walked row).
            assert!(steps[1] < steps[0], "{name}: {steps:?}");
        }
    }
    // The probe uses the (time) index; a keyset page walks from its position.
    let sql = select_events(
        &SqliteDialect,
        &t,
        &EventQuery::new().time_from(second(4900)),
        Some(100),
    )
    .unwrap();
    assert!(
        plan(&conn, &sql)
            .iter()
            .any(|step| step.contains("COVERING INDEX events$time"))
    );
    let typed = EventQuery::new().ty("type.3").time_from(second(4900));
    let typed = select_events(&SqliteDialect, &t, &typed, Some(100)).unwrap();
    assert!(
        !typed.text.contains("SELECT CASE"),
        "a type's index serves it"
    );
    let page = select_events(
        &SqliteDialect,
        &t,
        &EventQuery::new().time_from(second(4900)).after(4950),
        Some(100),
    )
    .unwrap();
    assert!(!page.text.contains("SELECT CASE"));
}
