//! Bad input only a store can refuse (limits, duplicates, versions, queries, names),
//! and hostile values it must treat as plain data.

use eventstore_core::{
    AppendOptions, Event, EventQuery, ExpectedVersion, ExtensionValue, Limits, Order,
};
use time::OffsetDateTime;

use super::documents::BAD_EXTENSION_NAMES;
use super::{Attempt, Case, Expect, INJECTIONS, SOURCE, baseline, case, event};

const MIB: usize = 1024 * 1024;

fn with_data(id: &str, bytes: usize) -> Event {
    Event::builder()
        .id(id)
        .source(SOURCE)
        .ty("t")
        .binary(vec![7u8; bytes])
        .build()
        .expect("valid")
}

fn append(events: Vec<Event>) -> Attempt {
    Attempt::Append(events, AppendOptions::new())
}

fn over_limit_cases() -> Vec<Case> {
    let over = Limits::DEFAULT_MAX_EVENT_BYTES + 1;
    let big_text = "x".repeat(over);
    let sized = |name: &str, b: eventstore_core::EventBuilder| {
        let big = b.build().expect("valid, only too large");
        case(
            format!("oversized event: {name}"),
            append(vec![event("fresh-1", None), big]),
            Expect::Invalid("event"),
        )
    };
    let base = || Event::builder().id("big").source(SOURCE).ty("t");
    let count = Limits::DEFAULT_MAX_BATCH_EVENTS + 1;
    let per_event = Limits::DEFAULT_MAX_EVENT_BYTES - 1024;
    let heavy = Limits::DEFAULT_MAX_BATCH_BYTES / per_event + 1;
    vec![
        sized("binary data", base().binary(vec![0u8; over])),
        sized("text data", base().text(big_text.clone())),
        sized("JSON data", base().json(&big_text)),
        sized("subject", base().subject(big_text.clone())),
        sized(
            "type",
            Event::builder()
                .id("big")
                .source(SOURCE)
                .ty(big_text.clone()),
        ),
        sized("extension", base().extension("ext", big_text.as_str())),
        sized(
            "many extensions",
            (0..5).fold(base(), |b, i| {
                b.extension(
                    format!("ext{i}"),
                    "y".repeat(Limits::DEFAULT_MAX_EVENT_BYTES / 4),
                )
            }),
        ),
        case(
            format!("batch of {count} events"),
            append(
                (0..count)
                    .map(|i| event(&format!("many-{i}"), None))
                    .collect(),
            ),
            Expect::Invalid("batch"),
        ),
        case(
            format!("batch of {heavy} events of almost 4 MiB"),
            append(
                (0..heavy)
                    .map(|i| with_data(&format!("heavy-{i}"), per_event))
                    .collect(),
            ),
            Expect::Invalid("batch"),
        ),
        case(
            "1 MiB events are not over any limit, but a duplicate still fails the batch",
            append(vec![with_data("mib-1", MIB), with_data("stored-1", MIB)]),
            Expect::Duplicate,
        ),
    ]
    .into_iter()
    .chain(long_attribute_cases())
    .collect()
}

/// Each indexed attribute one byte over [`Limits::MAX_INDEXED_ATTRIBUTE_BYTES`], the
/// event second in its batch: refused naming the attribute, the batch written nowhere.
fn long_attribute_cases() -> Vec<Case> {
    let long = |first: char| -> String {
        std::iter::once(first)
            .chain(crate::data::unrepeated_text(
                Limits::MAX_INDEXED_ATTRIBUTE_BYTES,
            ))
            .collect()
    };
    let base = || Event::builder().id("long").source(SOURCE).ty("t");
    let attributes: [(&'static str, eventstore_core::EventBuilder); 7] = [
        ("id", Event::builder().id(long('i')).source(SOURCE).ty("t")),
        (
            "source",
            Event::builder().id("long").source(long('/')).ty("t"),
        ),
        (
            "type",
            Event::builder().id("long").source(SOURCE).ty(long('t')),
        ),
        ("subject", base().subject(long('s'))),
        ("correlationid", base().correlationid(long('c'))),
        ("topic", base().topic(long('t'))),
        ("destination", base().destination(long('d'))),
    ];
    attributes
        .into_iter()
        .map(|(attribute, builder)| {
            let long = builder.build().expect("valid, only too long to index");
            case(
                format!(
                    "{attribute} of {} bytes",
                    Limits::MAX_INDEXED_ATTRIBUTE_BYTES + 1
                ),
                append(vec![event("fresh-long", None), long]),
                Expect::Invalid(attribute),
            )
        })
        .collect()
}

fn duplicate_and_conflict_cases() -> Vec<Case> {
    let dup = |name: &str, events: Vec<Event>| case(name, append(events), Expect::Duplicate);
    let conflict = |name: &str, subject: &'static str, expected| {
        let options = AppendOptions::new().expect(subject, expected);
        let events = vec![event("fresh-1", Some(subject)), event("fresh-2", None)];
        case(
            name,
            Attempt::Append(events, options),
            Expect::Conflict(subject),
        )
    };
    vec![
        dup(
            "the same id twice in one batch",
            vec![event("twice", None), event("twice", None)],
        ),
        dup(
            "the same id first and last of a batch",
            vec![
                event("ends", None),
                event("middle-1", Some("order-9")),
                event("middle-2", Some("order-9")),
                event("ends", Some("order-9")),
            ],
        ),
        dup(
            "an id stored by an earlier batch",
            vec![event("fresh-1", None), event("stored-2", None)],
        ),
        dup(
            "an id stored earlier, first in the batch",
            vec![event("stored-3", Some("order-1"))],
        ),
        dup(
            "a stored id under another subject",
            vec![event("stored-1", Some("elsewhere"))],
        ),
        dup("an injection event's id", vec![event("injection-0", None)]),
        conflict(
            "exact version on an empty stream",
            "order-404",
            ExpectedVersion::Exact(1),
        ),
        conflict(
            "no stream on an existing one",
            "order-1",
            ExpectedVersion::NoStream,
        ),
        conflict(
            "an existing stream that is not",
            "order-405",
            ExpectedVersion::Exists,
        ),
        conflict(
            "a stale exact version",
            "order-1",
            ExpectedVersion::Exact(2),
        ),
        conflict(
            "a version from the future",
            "order-1",
            ExpectedVersion::Exact(i64::MAX),
        ),
    ]
}

/// Expected versions no stream has, below the first (1): refused as bad input naming the
/// subject and the version, before anything else about the batch, whatever the stream
/// (one that exists, none, one no subject can have) and whatever else the batch holds
/// (a duplicate, nothing at all).
fn impossible_version_cases() -> Vec<Case> {
    let refused = |name: &str, subject: &str, version: i64, events: Vec<Event>, expect| {
        let options = AppendOptions::new()
            .expect("order-404", ExpectedVersion::NoStream)
            .expect(subject, ExpectedVersion::Exact(version));
        case(
            format!("expected version {version}: {name}"),
            Attempt::Append(events, options),
            Expect::Config(expect),
        )
    };
    let fresh = || vec![event("fresh-1", Some("order-1")), event("fresh-2", None)];
    vec![
        refused(
            "an existing stream",
            "order-1",
            0,
            fresh(),
            r#"expected version 0 of subject "order-1""#,
        ),
        refused(
            "a negative version",
            "order-1",
            -1,
            fresh(),
            r#"expected version -1 of subject "order-1""#,
        ),
        refused(
            "the least version",
            "order-404",
            i64::MIN,
            fresh(),
            r#"of subject "order-404""#,
        ),
        refused(
            "no events",
            "order-1",
            0,
            Vec::new(),
            r#"expected version 0 of subject "order-1""#,
        ),
        refused(
            "a batch with a duplicate",
            "order-1",
            0,
            vec![event("stored-1", Some("order-1"))],
            r#"expected version 0 of subject "order-1""#,
        ),
        refused(
            "a subject holding U+0000",
            "nul\0stream",
            0,
            fresh(),
            r#"expected version 0 of subject "nul\0stream""#,
        ),
    ]
}

fn query_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for name in BAD_EXTENSION_NAMES {
        let query = EventQuery::new().extension(name, "v");
        cases.push(case(
            format!("query on extension name {name:?}"),
            Attempt::Query(query),
            Expect::InvalidQuery("extension name"),
        ));
    }
    let stored = baseline().len();
    let t = |s: i64| OffsetDateTime::from_unix_timestamp(s).expect("in range");
    let absurd: Vec<(&str, EventQuery, usize)> = vec![
        ("limit 0", EventQuery::new().limit(0), 0),
        ("limit u64::MAX", EventQuery::new().limit(u64::MAX), stored),
        ("offset u64::MAX", EventQuery::new().offset(u64::MAX), 0),
        (
            "offset past the end",
            EventQuery::new().offset(stored as u64),
            0,
        ),
        (
            "min above max",
            EventQuery::new().min_sequence(10).max_sequence(1),
            0,
        ),
        (
            "min i64::MIN",
            EventQuery::new().min_sequence(i64::MIN),
            stored,
        ),
        ("max i64::MIN", EventQuery::new().max_sequence(i64::MIN), 0),
        ("after i64::MAX", EventQuery::new().after(i64::MAX), 0),
        ("after i64::MIN", EventQuery::new().after(i64::MIN), stored),
        (
            "descending after i64::MIN",
            EventQuery::new().order(Order::Descending).after(i64::MIN),
            0,
        ),
        ("up to a negative sequence", EventQuery::new().up_to(-5), 0),
        (
            "time range reversed",
            EventQuery::new().time_from(t(2_000_000_000)).time_to(t(0)),
            0,
        ),
        (
            "time range of year 9999",
            EventQuery::new().time_from(t(253_402_300_799)),
            0,
        ),
        (
            "empty type list",
            EventQuery::new().types(Vec::<String>::new()),
            0,
        ),
        (
            "10,000 subjects",
            EventQuery::new().subjects((0..10_000).map(|i| format!("s{i}"))),
            0,
        ),
    ];
    for (name, query, n) in absurd {
        cases.push(case(
            format!("absurd query: {name}"),
            Attempt::Query(query),
            Expect::Returns(n),
        ));
    }
    for (name, from, n) in [
        ("from version i64::MIN", i64::MIN, 3),
        ("from version 0", 0, 3),
        ("from version i64::MAX", i64::MAX, 0),
    ] {
        cases.push(case(
            format!("stream {name}"),
            Attempt::Stream("order-1".into(), from),
            Expect::Returns(n),
        ));
    }
    cases
}

fn injection_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for (i, text) in INJECTIONS.iter().enumerate() {
        let q = |name: &str, query: EventQuery| {
            case(
                format!("injection {i} as a {name} filter"),
                Attempt::Query(query),
                Expect::Returns(1),
            )
        };
        cases.push(q("subject", EventQuery::new().subject(*text)));
        cases.push(q("type", EventQuery::new().types([*text, "other"])));
        cases.push(q(
            "extension value",
            EventQuery::new().extension("note", ExtensionValue::String((*text).to_owned())),
        ));
        cases.push(case(
            format!("injection {i} as a stream"),
            Attempt::Stream((*text).to_owned(), 1),
            Expect::Returns(1),
        ));
        cases.push(case(
            format!("injection {i} as a source filter"),
            Attempt::Query(EventQuery::new().source(*text)),
            Expect::Returns(0),
        ));
        cases.push(case(
            format!("injection {i} as a table name"),
            Attempt::Table((*text).to_owned()),
            Expect::Config("table name"),
        ));
        cases.push(case(
            format!("injection {i} as a schema name"),
            Attempt::Schema((*text).to_owned()),
            Expect::Config("schema name"),
        ));
    }
    for name in [
        "",
        "1events",
        "évents",
        "events\0",
        &"e".repeat(41),
        "public.events",
    ] {
        cases.push(case(
            format!("table name {name:?}"),
            Attempt::Table(name.to_owned()),
            Expect::Config("table name"),
        ));
    }
    cases
}

/// Reads naming a value no event holds, U+0000 (CloudEvents strings exclude control
/// characters, and the store refuses them): they match nothing, on every backend, though
/// PostgreSQL's `text` and `jsonb` cannot even take the value as a parameter.
fn nul_cases() -> Vec<Case> {
    let append_expecting = |subject: &str, version| {
        Attempt::Append(
            vec![event("fresh-nul", None)],
            AppendOptions::new().expect(subject, version),
        )
    };
    let typed = baseline().iter().filter(|e| e.ty() == "bad.input").count();
    let read = |name: &str, attempt: Attempt, n: usize| {
        case(format!("U+0000 in {name}"), attempt, Expect::Returns(n))
    };
    vec![
        read(
            "a subject filter",
            Attempt::Query(EventQuery::new().subject("order-1\0")),
            0,
        ),
        read(
            "one of two subjects",
            Attempt::Query(EventQuery::new().subjects(["order-1\0", "order-1"])),
            3,
        ),
        read(
            "the only type of a list",
            Attempt::Query(EventQuery::new().types(["bad.input\0"])),
            0,
        ),
        read(
            "one of two types",
            Attempt::Query(EventQuery::new().types(["\0", "bad.input"])),
            typed,
        ),
        read(
            "a source filter",
            Attempt::Query(EventQuery::new().source(format!("{SOURCE}\0"))),
            0,
        ),
        read(
            "a correlation id, topic and destination",
            Attempt::Query(
                EventQuery::new()
                    .correlation_id("\0")
                    .topic("\0")
                    .destination("\0"),
            ),
            0,
        ),
        read(
            "an extension value",
            Attempt::Query(
                EventQuery::new().extension("note", ExtensionValue::String("a\0".into())),
            ),
            0,
        ),
        read(
            "a stream's subject",
            Attempt::Stream("order-1\0".into(), 1),
            0,
        ),
        read(
            "a get's id",
            Attempt::Get(SOURCE.into(), "stored-1\0".into()),
            0,
        ),
        read(
            "a get's source",
            Attempt::Get(format!("{SOURCE}\0"), "stored-1".into()),
            0,
        ),
        read(
            "neither (a get that finds)",
            Attempt::Get(SOURCE.into(), "stored-1".into()),
            1,
        ),
        read(
            "a stream version's subject",
            Attempt::StreamVersion("order-1\0".into()),
            0,
        ),
        read(
            "neither (a stream version)",
            Attempt::StreamVersion("order-1".into()),
            3,
        ),
        case(
            "U+0000 in an expectation's subject: no such stream",
            append_expecting("nul\0stream", ExpectedVersion::Exact(1)),
            Expect::Conflict("nul"),
        ),
        case(
            "U+0000 in an expectation's subject: it does not exist",
            append_expecting("nul\0stream", ExpectedVersion::Exists),
            Expect::Conflict("nul"),
        ),
    ]
}

pub(super) fn cases() -> Vec<Case> {
    let mut cases = over_limit_cases();
    cases.extend(duplicate_and_conflict_cases());
    cases.extend(impossible_version_cases());
    cases.extend(query_cases());
    cases.extend(injection_cases());
    cases.extend(nul_cases());
    cases
}
