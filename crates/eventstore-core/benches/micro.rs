//! Micro-benchmarks of core's hot paths: the CloudEvents JSON format (parse and write,
//! one event and a batch of 100) and the query builder. `cargo bench -p eventstore-core`.

#![allow(missing_docs)] // criterion's macros generate undocumented items.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use eventstore_core::sql::{Binder, Dialect, SqlValue, TableName, select_events, select_stream};
use eventstore_core::time::macros::datetime;
use eventstore_core::{Event, EventQuery, ExtensionValue, JsonFormat};

/// A realistic event: ~300 bytes of JSON data, a correlation id, two extensions.
fn event(i: u32) -> Event {
    let data = format!(
        "{{\"orderId\":\"order-{i:06}\",\"customer\":{{\"id\":\"cus-{i:06}\",\"name\":\"Customer {i}\",\
         \"email\":\"customer{i}@example.com\"}},\"items\":[{{\"sku\":\"SKU-00042\",\"quantity\":2,\
         \"unitPrice\":19.99}},{{\"sku\":\"SKU-00077\",\"quantity\":1,\"unitPrice\":5.5}}],\
         \"total\":45.48,\"currency\":\"EUR\",\"channel\":\"web\",\"note\":\"leave at the door\"}}"
    );
    Event::builder()
        .id(format!("4f0c2a9e-1b7d-4c3e-9a51-{i:012}"))
        .source("/shop/orders")
        .ty("com.example.order.created")
        .subject(format!("order-{}", i % 1000))
        .time(datetime!(2026-01-01 12:00:00.123456789 UTC))
        .correlationid(format!("corr-{i:016x}"))
        .datacontenttype("application/json")
        .extension(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .extension("priority", 3)
        .data(eventstore_core::Data::Json(
            eventstore_core::Json::from_string(data).expect("valid JSON"),
        ))
        .build()
        .expect("a valid event")
}

fn format(c: &mut Criterion) {
    let format = JsonFormat::new();
    let one = format.write_event(&event(1));
    let events: Vec<Event> = (0..100).map(event).collect();
    let batch = format.write_batch(&events);
    let mut g = c.benchmark_group("json_format");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse_event", |b| {
        b.iter(|| format.parse_event(black_box(&one)).expect("parses"))
    });
    let e = event(1);
    g.bench_function("write_event", |b| {
        b.iter(|| format.write_event(black_box(&e)))
    });
    g.throughput(Throughput::Elements(100));
    g.bench_function("parse_batch_100", |b| {
        b.iter(|| format.parse_batch(black_box(&batch)).expect("parses"))
    });
    g.bench_function("write_batch_100", |b| {
        b.iter(|| format.write_batch(black_box(&events)))
    });
    g.finish();
}

/// `$n` placeholders, as PostgreSQL's dialect writes them.
struct Numbered;

impl Dialect for Numbered {
    fn placeholder(&self, index: usize) -> String {
        format!("${index}")
    }

    fn event_columns(&self) -> &'static str {
        "sequence, stream_version, recorded_at, id, source, type, subject, time, data"
    }

    fn extension_equals(&self, name: &str, value: &ExtensionValue, b: &mut Binder<'_>) -> String {
        let v = b.bind(SqlValue::Text(value.to_string()));
        format!("extensions -> '{name}' = {v}")
    }
}

fn query_builder(c: &mut Criterion) {
    let table = TableName::new("events").expect("a valid name");
    let type_time = EventQuery::new()
        .ty("com.example.order.created")
        .time_from(datetime!(2026-01-01 00:00 UTC))
        .time_to(datetime!(2026-01-02 00:00 UTC))
        .limit(100);
    let keyset = EventQuery::new().after(123_456).limit(1000);
    let many = EventQuery::new()
        .types(["a.b.c", "d.e.f", "g.h.i"])
        .subjects(["order-1", "order-2"])
        .correlation_id("corr-1")
        .extension("priority", 3)
        .after(10)
        .limit(50);
    let mut g = c.benchmark_group("query_builder");
    for (name, query) in [
        ("type_time_limit", &type_time),
        ("keyset_page", &keyset),
        ("many_filters", &many),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                select_events(&Numbered, &table, black_box(query), Some(1000)).expect("builds")
            })
        });
    }
    g.bench_function("stream", |b| {
        b.iter(|| select_stream(&Numbered, &table, black_box("order-42"), 1, Some(1000)))
    });
    g.finish();
}

criterion_group!(benches, format, query_builder);
criterion_main!(benches);
