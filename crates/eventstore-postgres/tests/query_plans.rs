//! The plans PostgreSQL chooses for every query shape the store sends, as the store's
//! sessions plan them (generic plans, but for the reads
//! [`planned_with_values`](eventstore_postgres::statements::planned_with_values)), on
//! 20,000 events after `ANALYZE`: each shape docs/schema.md says an index serves is read
//! from that index, not a walk of the table. Printed with `--nocapture`.

#![allow(clippy::print_stdout)] // The plans are this test's report.

mod common;

use eventstore_core::sql::{Sql, SqlValue, TableName, select_by_id, select_events, select_stream};
use eventstore_core::timestamp::format_fixed;
use eventstore_core::{Event, EventQuery, EventStore, Order};
use eventstore_postgres::PostgresDialect;
use eventstore_postgres::statements::planned_with_values;
use eventstore_testkit::data::instant;

const EVENTS: i64 = 20_000;

/// Events over 20 common types and a rare one (every 500th event: a dense type is
/// rightly walked along the primary key, as its matches are near), 2,000 subjects, 4
/// common sources and a rare one (every 1,000th), one a millisecond; a correlation id
/// on every 50th, a topic on every 7th, a destination on every 11th and an extension on
/// every 10th.
fn event(i: i64) -> Event {
    let mut b = Event::builder()
        .id(format!("e{i}"))
        .source(if i % 1_000 == 0 {
            "/src/rare".to_owned()
        } else {
            format!("/src/{}", i % 4)
        })
        .ty(if i % 500 == 0 {
            "type.rare".to_owned()
        } else {
            format!("type.{}", i % 20)
        })
        .subject(format!("subject-{}", i % 2_000))
        .time(instant(i * 1_000_000))
        .json(&serde_json::json!({ "i": i }));
    if i % 50 == 0 {
        b = b.correlationid(format!("c{i}"));
    }
    if i % 7 == 0 {
        b = b.topic(format!("topic-{}", i % 100));
    }
    if i % 11 == 0 {
        b = b.destination(format!("dest-{}", i % 100));
    }
    if i % 10 == 0 {
        b = b.extension("region", format!("r{}", i % 1_000));
    }
    b.build().expect("a valid event")
}

/// A parameter as an SQL literal (the values are this test's own).
fn literal(value: &SqlValue) -> String {
    let quote = |s: &str| format!("'{}'", s.replace('\'', "''"));
    match value {
        SqlValue::Int(i) => i.to_string(),
        SqlValue::Text(t) => quote(t),
        SqlValue::Time(t) => quote(&format_fixed(*t)),
        SqlValue::Json(j) => quote(&j.to_string()),
        SqlValue::TextList(list) => {
            let items: Vec<String> = list.iter().map(|s| quote(s)).collect();
            format!("ARRAY[{}]::text[]", items.join(", "))
        }
    }
}

/// The plan of `sql` as a prepared statement, planned generically or with its values.
async fn plan(client: &tokio_postgres::Client, sql: &Sql, with_values: bool) -> String {
    let mode = if with_values {
        "force_custom_plan"
    } else {
        "force_generic_plan"
    };
    client
        .batch_execute(&format!(
            "DEALLOCATE ALL; SET plan_cache_mode = {mode}; PREPARE shape AS {}",
            sql.text
        ))
        .await
        .expect("the statement prepares");
    let args: Vec<String> = sql.params.iter().map(literal).collect();
    let explain = if args.is_empty() {
        "EXPLAIN (COSTS OFF) EXECUTE shape".to_owned()
    } else {
        format!("EXPLAIN (COSTS OFF) EXECUTE shape({})", args.join(", "))
    };
    let rows = client.query(&explain, &[]).await.expect("EXPLAIN runs");
    rows.iter()
        .map(|row| row.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_indexed_query_shape_is_index_served() {
    let schema = common::Schema::new("plans");
    let store = schema.open().await;
    let events: Vec<Event> = (0..EVENTS).map(event).collect();
    for batch in events.chunks(2_000) {
        store.append(batch.to_vec()).await.expect("append");
    }
    let client = common::admin().await;
    client
        .batch_execute(&format!(
            "SET search_path = \"{}\"; ANALYZE events",
            schema.name
        ))
        .await
        .expect("ANALYZE");
    let table = TableName::default();
    let q = EventQuery::new;
    let recent = instant((EVENTS - 50) * 1_000_000);
    // (shape, query, the index that must serve it)
    let shapes: Vec<(&str, EventQuery, &str)> = vec![
        ("all", q().limit(100), "events$pkey"),
        (
            "all, descending",
            q().order(Order::Descending).limit(100),
            "events$pkey",
        ),
        (
            "after (keyset page)",
            q().after(15_000).limit(100),
            "events$pkey",
        ),
        (
            "sequence range",
            q().min_sequence(100).max_sequence(200),
            "events$pkey",
        ),
        // A common type is walked along the primary key, its matches being near.
        ("common type", q().ty("type.3").limit(100), "events$pkey"),
        (
            "rare type",
            q().ty("type.rare").limit(100),
            "events$type_sequence",
        ),
        (
            "type, after",
            q().ty("type.rare").after(15_000).limit(100),
            "events$type_sequence",
        ),
        (
            "types (any)",
            q().types(["type.rare", "type.none"]).limit(100),
            "events$type_sequence",
        ),
        (
            "subject",
            q().subject("subject-42"),
            "events$subject_sequence",
        ),
        (
            "subject, after, descending",
            q().subject("subject-42")
                .after(15_000)
                .order(Order::Descending),
            "events$subject_sequence",
        ),
        (
            "source and id",
            q().source("/src/1").id("e4241"),
            "events$source_id",
        ),
        (
            "rare source",
            q().source("/src/rare").limit(100),
            "events$source_id",
        ),
        (
            "correlation id",
            q().correlation_id("c500"),
            "events$correlationid_sequence",
        ),
        ("topic", q().topic("topic-7"), "events$topic_sequence"),
        (
            "destination",
            q().destination("dest-11"),
            "events$destination_sequence",
        ),
        (
            "topic as an extension filter",
            q().extension("topic", "topic-7"),
            "events$topic_sequence",
        ),
        (
            "time range",
            q().time_from(instant(1_000 * 1_000_000))
                .time_to(instant(1_100 * 1_000_000)),
            "events$time",
        ),
        (
            "since a recent time",
            q().time_from(recent).limit(100),
            "events$time",
        ),
        (
            "extension (GIN)",
            q().extension("region", "r420"),
            "events$extensions",
        ),
    ];
    let mut failures = Vec::new();
    for (shape, query, index) in shapes {
        let with_values = planned_with_values(&query);
        let sql = select_events(&PostgresDialect, &table, &query, None).expect("valid query");
        let plan = plan(&client, &sql, with_values).await;
        println!("-- {shape}\n{plan}\n");
        if !plan.contains(index) || plan.contains("Seq Scan") {
            failures.push(format!("{shape}: expected {index}, got\n{plan}"));
        }
    }
    for (shape, sql, index) in [
        (
            "get(source, id)",
            select_by_id(&PostgresDialect, &table, "/src/1", "e4241"),
            "events$source_id",
        ),
        (
            "stream(subject, from)",
            select_stream(&PostgresDialect, &table, "subject-42", 3, None),
            "events$subject_version",
        ),
    ] {
        let plan = plan(&client, &sql, false).await;
        println!("-- {shape}\n{plan}\n");
        if !plan.contains(index) || plan.contains("Seq Scan") {
            failures.push(format!("{shape}: expected {index}, got\n{plan}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
