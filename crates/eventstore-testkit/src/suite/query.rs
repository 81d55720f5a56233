//! Queries: every filter against an in-memory model of the same data, orders, limits,
//! offsets, keyset pages.

use eventstore_core::time::OffsetDateTime;
use eventstore_core::{Event, EventQuery, EventStore, EventStream, ExtensionValue, Order};
use futures::TryStreamExt as _;

use crate::data::{all, instant};

/// One filter combination, kept in a form both the store and the model understand.
#[derive(Debug, Clone, Default)]
struct Filter {
    types: Option<Vec<&'static str>>,
    sources: Option<Vec<&'static str>>,
    subjects: Option<Vec<&'static str>>,
    correlation_ids: Option<Vec<&'static str>>,
    topics: Option<Vec<&'static str>>,
    destinations: Option<Vec<&'static str>>,
    ids: Option<Vec<&'static str>>,
    data_content_types: Option<Vec<&'static str>>,
    data_schemas: Option<Vec<&'static str>>,
    extension: Option<(&'static str, ExtensionValue)>,
    time_from: Option<OffsetDateTime>,
    time_to: Option<OffsetDateTime>,
    min_sequence: Option<usize>,
    max_sequence: Option<usize>,
}

const TYPES: [&str; 4] = [
    "order.created",
    "order.paid",
    "order.shipped",
    "user.signed_up",
];
const SOURCES: [&str; 3] = ["/shop", "/billing", "/users"];

fn dataset() -> Vec<Event> {
    (0..240usize)
        .map(|i| {
            let mut b = Event::builder()
                .id(format!("e{i}"))
                .source(SOURCES[i % 3])
                .ty(TYPES[i % 4])
                .extension("region", if i % 2 == 0 { "eu" } else { "us" })
                .extension("priority", (i % 3) as i32)
                .extension("urgent", i % 5 == 0);
            if i % 11 != 0 {
                b = b.subject(format!("s{}", i % 7));
            }
            if i % 6 != 0 {
                b = b.correlationid(format!("c{}", i % 5));
            }
            if i % 9 != 0 {
                b = b.topic(if i % 2 == 0 { "orders" } else { "users" });
            }
            if i % 4 == 1 {
                b = b.destination(format!("d{}", i % 3));
            }
            if i % 13 != 0 {
                // Times out of sequence order, 1 µs apart plus odd nanoseconds.
                b = b.time(instant(((i * 7919) % 240) as i64 * 1000 + (i % 7) as i64));
            }
            if i % 4 == 2 {
                b = b.dataschema(format!("https://example.com/schemas/{}", i % 3));
            }
            // JSON data (`application/json`, or a content type of its own), text data,
            // and no data at all, so no content type.
            match i % 10 {
                3 => b = b.text(format!("event {i}")).datacontenttype("text/plain"),
                7 => {
                    b = b
                        .datacontenttype("application/json; charset=utf-8")
                        .json(&serde_json::json!({ "i": i }));
                }
                9 => {}
                _ => b = b.json(&serde_json::json!({ "i": i })),
            }
            b.build().unwrap()
        })
        .collect()
}

fn matches(f: &Filter, e: &Event, sequence: i64, sequences: &[i64]) -> bool {
    let among = |list: &Option<Vec<&str>>, value: Option<&str>| {
        list.as_ref()
            .is_none_or(|l| value.is_some_and(|v| l.contains(&v)))
    };
    among(&f.types, Some(e.ty()))
        && among(&f.sources, Some(e.source()))
        && among(&f.subjects, e.subject())
        && among(&f.correlation_ids, e.correlationid())
        && among(&f.topics, e.topic())
        && among(&f.destinations, e.destination())
        && among(&f.ids, Some(e.id()))
        && among(&f.data_content_types, e.datacontenttype())
        && among(&f.data_schemas, e.dataschema())
        && f.extension
            .as_ref()
            .is_none_or(|(n, v)| e.extension(n).as_ref() == Some(v))
        && f.time_from
            .is_none_or(|t| e.time().is_some_and(|et| et >= t))
        && f.time_to.is_none_or(|t| e.time().is_some_and(|et| et < t))
        && f.min_sequence.is_none_or(|i| sequence >= sequences[i])
        && f.max_sequence.is_none_or(|i| sequence <= sequences[i])
}

fn to_query(f: &Filter, sequences: &[i64]) -> EventQuery {
    let mut q = EventQuery::new();
    if let Some(v) = &f.types {
        q = q.types(v.iter().copied());
    }
    if let Some(v) = &f.sources {
        q = q.sources(v.iter().copied());
    }
    if let Some(v) = &f.subjects {
        q = q.subjects(v.iter().copied());
    }
    for c in f.correlation_ids.iter().flatten() {
        q = q.correlation_id(*c);
    }
    for t in f.topics.iter().flatten() {
        q = q.topic(*t);
    }
    for d in f.destinations.iter().flatten() {
        q = q.destination(*d);
    }
    if let Some(v) = &f.ids {
        q = q.ids(v.iter().copied());
    }
    for t in f.data_content_types.iter().flatten() {
        q = q.data_content_type(*t);
    }
    for s in f.data_schemas.iter().flatten() {
        q = q.data_schema(*s);
    }
    if let Some((name, value)) = &f.extension {
        q = q.extension(*name, value.clone());
    }
    if let Some(t) = f.time_from {
        q = q.time_from(t);
    }
    if let Some(t) = f.time_to {
        q = q.time_to(t);
    }
    if let Some(i) = f.min_sequence {
        q = q.min_sequence(sequences[i]);
    }
    if let Some(i) = f.max_sequence {
        q = q.max_sequence(sequences[i]);
    }
    q
}

fn filters() -> Vec<Filter> {
    let base = Filter::default;
    vec![
        base(),
        Filter {
            types: Some(vec!["order.created"]),
            ..base()
        },
        Filter {
            types: Some(vec!["order.created", "order.paid"]),
            ..base()
        },
        Filter {
            types: Some(vec![]),
            ..base()
        },
        Filter {
            sources: Some(vec!["/billing"]),
            ..base()
        },
        Filter {
            sources: Some(vec!["/billing", "/users"]),
            ..base()
        },
        Filter {
            subjects: Some(vec!["s3"]),
            ..base()
        },
        Filter {
            subjects: Some(vec!["s1", "s2", "nope"]),
            ..base()
        },
        Filter {
            correlation_ids: Some(vec!["c2"]),
            ..base()
        },
        Filter {
            topics: Some(vec!["orders"]),
            ..base()
        },
        Filter {
            destinations: Some(vec!["d1"]),
            ..base()
        },
        Filter {
            extension: Some(("region", "eu".into())),
            ..base()
        },
        Filter {
            extension: Some(("priority", ExtensionValue::Integer(2))),
            ..base()
        },
        Filter {
            extension: Some(("priority", ExtensionValue::String("2".into()))),
            ..base()
        },
        Filter {
            extension: Some(("urgent", true.into())),
            ..base()
        },
        // The three extensions kept in columns of their own, filtered as extensions.
        Filter {
            extension: Some(("topic", "orders".into())),
            ..base()
        },
        Filter {
            extension: Some(("correlationid", "c3".into())),
            time_from: Some(instant(20_000)),
            ..base()
        },
        Filter {
            extension: Some(("destination", "d1".into())),
            types: Some(vec!["order.paid"]),
            ..base()
        },
        Filter {
            time_from: Some(instant(100_000)),
            ..base()
        },
        Filter {
            time_to: Some(instant(50_003)),
            ..base()
        },
        Filter {
            time_from: Some(instant(20_000)),
            time_to: Some(instant(180_000)),
            ..base()
        },
        Filter {
            min_sequence: Some(17),
            max_sequence: Some(200),
            ..base()
        },
        Filter {
            types: Some(vec!["order.paid", "order.shipped"]),
            subjects: Some(vec!["s2", "s5"]),
            time_from: Some(instant(10_000)),
            ..base()
        },
        Filter {
            sources: Some(vec!["/shop"]),
            correlation_ids: Some(vec!["c1", "c3"]),
            topics: Some(vec!["orders"]),
            ..base()
        },
        Filter {
            types: Some(vec!["order.created"]),
            extension: Some(("urgent", false.into())),
            min_sequence: Some(30),
            time_to: Some(instant(200_000)),
            ..base()
        },
        Filter {
            destinations: Some(vec!["d0", "d2"]),
            subjects: Some(vec!["s4"]),
            ..base()
        },
        // The attributes no index serves alone: alone, and narrowing an indexed filter.
        Filter {
            ids: Some(vec!["e17"]),
            ..base()
        },
        Filter {
            ids: Some(vec!["e3", "e40", "e41", "nope"]),
            sources: Some(vec!["/shop", "/billing"]),
            ..base()
        },
        Filter {
            ids: Some(vec![]),
            ..base()
        },
        Filter {
            data_content_types: Some(vec!["application/json"]),
            ..base()
        },
        Filter {
            data_content_types: Some(vec!["text/plain", "application/json; charset=utf-8"]),
            types: Some(vec!["order.paid", "user.signed_up"]),
            ..base()
        },
        Filter {
            data_schemas: Some(vec!["https://example.com/schemas/1"]),
            ..base()
        },
        Filter {
            data_schemas: Some(vec!["https://example.com/schemas/0"]),
            data_content_types: Some(vec!["application/json"]),
            time_from: Some(instant(30_000)),
            ..base()
        },
    ]
}

async fn seed(store: &dyn EventStore) -> (Vec<Event>, Vec<i64>) {
    let events = dataset();
    let mut sequences = Vec::new();
    for chunk in events.chunks(40) {
        let result = store.append(chunk.to_vec()).await.unwrap();
        sequences.extend(result.sequences());
    }
    (events, sequences)
}

async fn ids(store: &dyn EventStore, query: EventQuery) -> Vec<String> {
    let events: Vec<_> = store.query(query.clone()).try_collect().await.unwrap();
    events.iter().map(|e| e.id().to_owned()).collect()
}

/// Every filter, alone and combined, in both orders, with and without limit and offset,
/// returns exactly what an in-memory model of the same events returns.
pub async fn every_filter_matches_the_model(store: &dyn EventStore) {
    let (events, sequences) = seed(store).await;
    for filter in filters() {
        let mut expected: Vec<String> = events
            .iter()
            .zip(&sequences)
            .filter(|(e, s)| matches(&filter, e, **s, &sequences))
            .map(|(e, _)| e.id().to_owned())
            .collect();
        // The unindexed attributes' cases select some events and leave some out.
        let unindexed = filter.ids.as_ref().is_some_and(|l| !l.is_empty())
            || filter.data_content_types.is_some()
            || filter.data_schemas.is_some();
        assert!(
            !unindexed || (1..events.len()).contains(&expected.len()),
            "a vacuous case: {filter:?} selects {} events",
            expected.len()
        );
        let query = to_query(&filter, &sequences);
        assert_eq!(ids(store, query.clone()).await, expected, "{filter:?}");
        let paged: Vec<String> = expected.iter().skip(3).take(7).cloned().collect();
        assert_eq!(
            ids(store, query.clone().offset(3).limit(7)).await,
            paged,
            "{filter:?}"
        );
        expected.reverse();
        let desc = query.order(Order::Descending);
        assert_eq!(
            ids(store, desc.clone()).await,
            expected,
            "{filter:?} descending"
        );
        let paged: Vec<String> = expected.iter().skip(2).take(5).cloned().collect();
        assert_eq!(
            ids(store, desc.offset(2).limit(5)).await,
            paged,
            "{filter:?} descending"
        );
    }
}

/// A filter with a long list of values (40,000 ids, past SQLite's 32,766 parameters a
/// statement; with a type list of 2,000 beside it) selects what it names, as a short
/// one does.
pub async fn long_lists_are_answered(store: &dyn EventStore) {
    let (events, _) = seed(store).await;
    let mut wanted: Vec<String> = (0..40_000).map(|i| format!("absent-{i}")).collect();
    wanted.extend(["e5", "e17", "e230"].map(String::from));
    let mut types: Vec<String> = (0..2_000).map(|i| format!("absent.type.{i}")).collect();
    types.extend(TYPES.map(String::from));
    let expected: Vec<String> = events
        .iter()
        .map(|e| e.id().to_owned())
        .filter(|id| wanted.contains(id))
        .collect();
    assert_eq!(expected.len(), 3);
    let query = EventQuery::new().ids(wanted.clone()).types(types);
    assert_eq!(ids(store, query).await, expected);
    let query = EventQuery::new()
        .ids(wanted)
        .order(Order::Descending)
        .limit(2);
    assert_eq!(ids(store, query).await, ["e230", "e17"]);
}

/// Keyset pages (`after` the last sequence seen) walk the whole store in either order
/// with no gap and no repeat; a limit of 0 returns nothing; an offset past the end
/// returns nothing.
pub async fn orders_limits_offsets_and_keyset_pages(store: &dyn EventStore) {
    seed(store).await;
    let everything = all(store).await;
    assert_eq!(everything.len(), 240);
    assert!(
        everything
            .windows(2)
            .all(|w| w[0].sequence() < w[1].sequence())
    );
    for order in [Order::Ascending, Order::Descending] {
        let mut walked = Vec::new();
        let mut after = None;
        loop {
            let mut query = EventQuery::new().order(order).limit(17);
            if let Some(a) = after {
                query = query.after(a);
            }
            let page: Vec<_> = store.query(query).try_collect().await.unwrap();
            if page.is_empty() {
                break;
            }
            after = page.last().map(|e| e.sequence());
            walked.extend(page);
        }
        let mut expected = everything.clone();
        if order == Order::Descending {
            expected.reverse();
        }
        assert_eq!(walked, expected, "{order:?}");
    }
    assert!(ids(store, EventQuery::new().limit(0)).await.is_empty());
    assert!(ids(store, EventQuery::new().offset(240)).await.is_empty());
    assert_eq!(ids(store, EventQuery::new().offset(239)).await, ["e239"]);
    assert_eq!(
        ids(store, EventQuery::new().limit(u64::MAX)).await.len(),
        240
    );
    let last = everything.last().unwrap().sequence();
    assert!(ids(store, EventQuery::new().after(last)).await.is_empty());
    assert_eq!(
        ids(
            store,
            EventQuery::new()
                .after(last)
                .order(Order::Descending)
                .limit(1)
        )
        .await,
        ["e238"]
    );
}

/// Extension filters compare type and value: the integer 2 is not the string "2". They
/// find `correlationid`, `topic` and `destination`, which are strings, as they find
/// any other extension; a time no event can hold is refused.
pub async fn extension_filters_match_typed_values(store: &dyn EventStore) {
    let make = |id: &str, value: ExtensionValue| {
        Event::builder()
            .id(id)
            .source("/x")
            .ty("t")
            .extension("level", value)
            .build()
            .unwrap()
    };
    let at = instant(5);
    store
        .append(vec![
            make("int", ExtensionValue::Integer(2)),
            make("str", ExtensionValue::String("2".into())),
            make("bool", ExtensionValue::Boolean(true)),
            make("uri", ExtensionValue::Uri("https://example.com/a".into())),
            make("uriref", ExtensionValue::UriRef("/a".into())),
            make("ts", ExtensionValue::Timestamp(at)),
            make("bin", ExtensionValue::Binary(vec![0, 255, 7])),
            make("strtrue", ExtensionValue::String("true".into())),
        ])
        .await
        .unwrap();
    let q = |v: ExtensionValue| EventQuery::new().extension("level", v);
    assert_eq!(ids(store, q(ExtensionValue::Integer(2))).await, ["int"]);
    assert_eq!(
        ids(store, q(ExtensionValue::String("2".into()))).await,
        ["str"]
    );
    assert_eq!(ids(store, q(ExtensionValue::Boolean(true))).await, ["bool"]);
    assert_eq!(
        ids(
            store,
            q(ExtensionValue::Uri("https://example.com/a".into()))
        )
        .await,
        ["uri"]
    );
    assert_eq!(
        ids(store, q(ExtensionValue::UriRef("/a".into()))).await,
        ["uriref"]
    );
    assert_eq!(ids(store, q(ExtensionValue::Timestamp(at))).await, ["ts"]);
    assert_eq!(
        ids(store, q(ExtensionValue::Binary(vec![0, 255, 7]))).await,
        ["bin"]
    );
    assert!(ids(store, q(ExtensionValue::Integer(3))).await.is_empty());
    let routed = |id: &str| {
        Event::builder()
            .id(id)
            .source("/x")
            .ty("t")
            .correlationid(format!("c-{id}"))
            .topic(format!("t-{id}"))
            .destination(format!("d-{id}"))
            .build()
            .unwrap()
    };
    store
        .append(vec![routed("r1"), routed("r2")])
        .await
        .unwrap();
    for name in ["correlationid", "topic", "destination"] {
        let prefix = &name[..1];
        let by = |v: ExtensionValue| EventQuery::new().extension(name, v);
        let value = ExtensionValue::String(format!("{prefix}-r2"));
        assert_eq!(ids(store, by(value.clone())).await, ["r2"], "{name}");
        let event = store.get("/x", "r2").await.unwrap().unwrap();
        assert_eq!(event.extension(name), Some(value), "{name}");
        // The same text as another type is another value, as it is in `extensions`.
        let uri = ExtensionValue::Uri(format!("{prefix}-r2"));
        assert!(ids(store, by(uri)).await.is_empty(), "{name}");
        assert!(ids(store, by(ExtensionValue::Integer(2))).await.is_empty());
        assert!(ids(store, by("nope".into())).await.is_empty(), "{name}");
        let both = by(ExtensionValue::String(format!("{prefix}-r1"))).ty("t");
        assert_eq!(ids(store, both).await, ["r1"], "{name}");
    }
    // Refused whatever the read's size: a read of no rows (`limit(0)`), which a paged
    // read never runs, once returned nothing instead.
    for bad in [
        EventQuery::new().extension("Bad Name", "x"),
        EventQuery::new().extension("level", past_the_last_year()),
    ] {
        for query in [
            bad.clone(),
            bad.clone().limit(0),
            bad.clone().within_horizon(i64::MAX).limit(0),
        ] {
            let read: Result<Vec<_>, _> = store.query(query.clone()).try_collect().await;
            assert!(
                matches!(read, Err(eventstore_core::Error::InvalidQuery(_))),
                "{query:?}: {read:?}"
            );
        }
    }
}

/// Time bounds compare at nanosecond precision: `from` inclusive, `to` exclusive.
pub async fn time_ranges_are_nanosecond_exact(store: &dyn EventStore) {
    let at = |id: &str, ns| {
        Event::builder()
            .id(id)
            .source("/x")
            .ty("t")
            .time(instant(ns))
            .build()
            .unwrap()
    };
    store
        .append(vec![at("a", 0), at("b", 1), at("c", 2), at("d", 1_000)])
        .await
        .unwrap();
    assert_eq!(
        ids(store, EventQuery::new().time_from(instant(1))).await,
        ["b", "c", "d"]
    );
    assert_eq!(
        ids(store, EventQuery::new().time_to(instant(1))).await,
        ["a"]
    );
    assert_eq!(
        ids(
            store,
            EventQuery::new().time_from(instant(1)).time_to(instant(2))
        )
        .await,
        ["b"]
    );
    assert_eq!(
        ids(
            store,
            EventQuery::new()
                .time_from(instant(2))
                .time_to(instant(1_000))
        )
        .await,
        ["c"]
    );
    let stored = store.get("/x", "b").await.unwrap().unwrap();
    assert_eq!(stored.time(), Some(instant(1)));
    // A bound no event's time can reach (year 10000 in UTC) is refused, not guessed at.
    let late = past_the_last_year();
    for query in [
        EventQuery::new().time_from(late),
        EventQuery::new().time_to(late),
        EventQuery::new().time_from(late).limit(0),
        EventQuery::new()
            .time_to(late)
            .within_horizon(i64::MAX)
            .limit(0),
    ] {
        let read: Result<Vec<_>, _> = store.query(query).try_collect().await;
        assert!(
            matches!(read, Err(eventstore_core::Error::InvalidQuery(_))),
            "{read:?}"
        );
    }
}

/// `9999-12-31T23:30:00-01:00`: year 10000 in UTC, past the `time` crate's range too.
fn past_the_last_year() -> OffsetDateTime {
    use eventstore_core::time::{Date, Month, PrimitiveDateTime, Time, UtcOffset};
    PrimitiveDateTime::new(
        Date::from_calendar_date(9999, Month::December, 31).unwrap(),
        Time::from_hms(23, 30, 0).unwrap(),
    )
    .assume_offset(UtcOffset::from_hms(-1, 0, 0).unwrap())
}

/// A read longer than any page returns every event once, in order, whatever the limit
/// and offset.
pub async fn long_reads_are_paged_without_loss(store: &dyn EventStore) {
    for batch in 0..5 {
        let events = (0..500).map(|i| crate::data::on_subject(format!("{batch}-{i}"), "long"));
        store.append(events.collect()).await.unwrap();
    }
    let events = all(store).await;
    assert_eq!(events.len(), 2500);
    assert!(events.windows(2).all(|w| w[0].sequence() < w[1].sequence()));
    let desc: Vec<_> = store
        .query(EventQuery::new().order(Order::Descending))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(desc.len(), 2500);
    assert!(desc.windows(2).all(|w| w[0].sequence() > w[1].sequence()));
    let window: Vec<_> = store
        .query(EventQuery::new().offset(1100).limit(1300))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(window, events[1100..2400]);
    let stream: Vec<_> = store.stream("long", 1).try_collect().await.unwrap();
    assert_eq!(stream, events);
    let tail: Vec<_> = store.stream("long", 1001).try_collect().await.unwrap();
    assert_eq!(tail, events[1000..]);
}

/// Events appended while a read is under way are neither skipped nor repeated
/// (docs/architecture.md, "A query"): the read yields every event stored when it began,
/// once each and in its order, and after them at most events appended since (a backend
/// that reads in pages may reach those), once each and in order. So do a descending
/// read, which starts above what is appended, and a subject's stream.
pub async fn events_appended_during_a_read_are_neither_skipped_nor_repeated(
    store: &dyn EventStore,
) {
    for batch in 0..5 {
        let events = (0..500).map(|i| crate::data::on_subject(format!("{batch}-{i}"), "read"));
        store.append(events.collect()).await.unwrap();
    }
    type Read = fn(&dyn EventStore) -> EventStream;
    let reads: [(&str, Read); 3] = [
        ("ascending", |s| s.query(EventQuery::new())),
        ("descending", |s| {
            s.query(EventQuery::new().order(Order::Descending))
        }),
        ("stream", |s| s.stream("read", 1)),
    ];
    for (round, (name, read)) in reads.into_iter().enumerate() {
        let stored = all(store).await;
        let newest_stored = stored.last().unwrap().sequence();
        let mut events = read(store);
        let mut seen = Vec::new();
        for _ in 0..10 {
            seen.push(events.try_next().await.unwrap().expect("an event"));
        }
        let appended =
            (0..100).map(|i| crate::data::on_subject(format!("late-{round}-{i}"), "read"));
        store.append(appended.collect()).await.unwrap();
        while let Some(event) = events.try_next().await.unwrap() {
            seen.push(event);
        }
        let descending = name == "descending";
        let in_order = seen.windows(2).all(|w| {
            if descending {
                w[0].sequence() > w[1].sequence()
            } else {
                w[0].sequence() < w[1].sequence()
            }
        });
        assert!(in_order, "{name}: out of order or repeated");
        let old: Vec<_> = seen
            .iter()
            .take_while(|e| e.sequence() <= newest_stored)
            .cloned()
            .collect();
        let mut expected = stored;
        if descending {
            expected.reverse();
        }
        assert_eq!(
            old.len(),
            expected.len(),
            "{name}: events stored before the read"
        );
        assert!(
            old == expected,
            "{name}: the events stored before the read differ"
        );
        let late = &seen[old.len()..];
        assert!(
            late.iter()
                .all(|e| e.id().starts_with(&format!("late-{round}-"))),
            "{name}: only events appended during the read may follow"
        );
        if descending {
            assert!(
                late.is_empty(),
                "{name}: a descending read starts above the appends"
            );
        }
    }
}
