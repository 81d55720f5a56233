//! Every query shape `EventQuery` produces is served by an index: SQLite's
//! `EXPLAIN QUERY PLAN` for each is checked here (and printed with `--nocapture`, which
//! is where docs/schema.md's plans come from).

#![allow(clippy::print_stdout)]

use eventstore_core::sql::{Sql, SqlValue, TableName, select_by_id, select_events, select_stream};
use eventstore_core::time::OffsetDateTime;
use eventstore_core::{Event, EventQuery, EventStore, Order};
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
            // A full scan is only acceptable as the primary key's own order.
            let full_scan = plan.iter().any(|step| {
                step.starts_with("SCAN") && !step.contains("INDEX") && !step.contains("PRIMARY KEY")
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
        assert!(uses(&q(query), "events_type_time"));
    }
    // Type alone, and its keyset pages, still walk (type, sequence): no sort.
    assert!(uses(
        &q(EventQuery::new().ty("type.3")),
        "events_type_sequence"
    ));
    assert!(uses(
        &q(EventQuery::new().ty("type.3").after(700)),
        "events_type_sequence"
    ));
}
