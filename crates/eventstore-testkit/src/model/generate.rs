//! Random datasets and queries for the model. Values come from small pools, so that
//! filters often match; several events share a time or differ from each other by a
//! nanosecond, out of sequence order; values of different types share a text (the
//! string `"1"`, the integer 1, the boolean true); text comes in every case, in
//! composed and decomposed forms, with characters JSON escapes and outside the Basic
//! Multilingual Plane, and as long as an indexed attribute can be; and queries also ask
//! for values no event holds (U+0000, the empty string, another type's value, a value
//! one character longer than any event's), in lists long enough to be bound as one array.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use eventstore_core::time::{
    Date, Duration, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset,
};
use eventstore_core::timestamp::format_rfc3339;
use eventstore_core::{Event, ExtensionValue};
use proptest::collection::{btree_map, vec};
use proptest::option::weighted;
use proptest::prelude::*;
use proptest::sample::select;

use super::{Cap, QuerySpec};
use crate::data::instant;

/// The events of one dataset, in the batches they are appended in.
#[derive(Debug, Clone)]
pub(crate) struct Dataset {
    pub(crate) batches: Vec<Vec<Event>>,
}

/// The most events of a dataset.
const MAX_EVENTS: usize = 250;

/// The longest text an indexed attribute holds ([`Limits::MAX_INDEXED_ATTRIBUTE_BYTES`]),
/// in two-byte characters.
///
/// [`Limits::MAX_INDEXED_ATTRIBUTE_BYTES`]: eventstore_core::Limits::MAX_INDEXED_ATTRIBUTE_BYTES
static LONGEST: LazyLock<String> = LazyLock::new(|| "\u{e9}".repeat(LONGEST_BYTES / 2));
/// [`LONGEST`] and one character more, which no indexed attribute holds.
static TOO_LONG: LazyLock<String> = LazyLock::new(|| format!("{}\u{e9}", *LONGEST));
const LONGEST_BYTES: usize = eventstore_core::Limits::MAX_INDEXED_ATTRIBUTE_BYTES;

/// A pool of `values`, with [`LONGEST`] among them.
fn with_longest(values: &[&'static str]) -> Vec<&'static str> {
    let mut pool = values.to_vec();
    pool.push(LONGEST.as_str());
    pool
}

static TYPES: LazyLock<Vec<&str>> = LazyLock::new(|| {
    with_longest(&[
        "order.created",
        "order.paid",
        "a",
        "A",
        "\u{e9}",
        "e\u{301}",
        "type with spaces",
        "q\"u\\o/te",
        "\u{1f600}",
    ])
});
const SOURCES: &[&str] = &[
    "/shop",
    "/billing",
    "urn:example:x",
    "https://example.com/src?q=1",
    "/SHOP",
];
static SUBJECTS: LazyLock<Vec<&str>> = LazyLock::new(|| {
    with_longest(&[
        "s1",
        "s2",
        "S1",
        "order-42",
        "\u{fc}",
        "s 1",
        "s1 ",
        "\u{4e2d}\u{6587}",
    ])
});
/// Ids events take until a `(source, id)` repeats; then `u<index>`.
const IDS: &[&str] = &["1", "2", "3", "e1", "e2", "x"];
const QUERIED_IDS: &[&str] = &["1", "2", "e1", "x", "u7", "u8", "u30", "u100", "U7"];
static CORRELATION_IDS: LazyLock<Vec<&str>> =
    LazyLock::new(|| with_longest(&["c1", "c2", "C1", "shared", "x"]));
const TOPICS: &[&str] = &["orders", "users", "shared", "x"];
const DESTINATIONS: &[&str] = &["d1", "d2", "shared", "x"];
const CONTENT_TYPES: &[&str] = &[
    "application/json",
    "application/json; charset=utf-8",
    "text/plain",
    "APPLICATION/JSON",
];
const SCHEMAS: &[&str] = &[
    "https://example.com/schemas/1",
    "https://example.com/schemas/2",
    "https://example.com/schemas/%41",
    "https://example.com/schemas/A",
    "urn:schema:1",
];
const EXTENSION_NAMES: &[&str] = &[
    "region",
    "level",
    "flag",
    "when",
    "blob",
    "link",
    "ref",
    "n1",
    "123",
    // Past the 20 characters CloudEvents asks extension names to keep to.
    "averyveryverylongextensionnamethatgoesonandon",
];
/// Extension names events never have: the three kept in columns of their own (as
/// extensions), one no event has, and names that are not extension names.
const QUERIED_EXTENSION_NAMES: &[&str] = &["correlationid", "topic", "destination", "absent"];
const INVALID_EXTENSION_NAMES: &[&str] = &["Bad", "id", "time", "data", "", "a-b"];
/// Values no event holds: CloudEvents strings are never empty (extensions aside) and
/// have no control characters nor noncharacters, and an indexed attribute is at most
/// 1 KiB.
static MISSES: LazyLock<Vec<&str>> = LazyLock::new(|| {
    vec![
        "nope",
        "",
        "a\0",
        "\0",
        "shared\0",
        "\u{1}",
        "\u{ffff}",
        TOO_LONG.as_str(),
    ]
});
/// Nanoseconds from [`instant`]`(0)`: equal times, and times a nanosecond apart.
const NEAR: &[i64] = &[
    0,
    0,
    0,
    1,
    2,
    3,
    999,
    1_000,
    1_001,
    -1,
    -2,
    -1_000,
    1_000_000,
    1_000_000_000,
    3_600_000_000_000,
];
/// Offsets times are written with (hours, minutes): an event's time is an instant.
const OFFSETS: &[(i8, i8)] = &[(0, 0), (0, 0), (5, 30), (-8, 0), (14, 0)];

fn at(year: i32, month: Month, day: u8, (h, m, s, ns): (u8, u8, u8, u32)) -> PrimitiveDateTime {
    PrimitiveDateTime::new(
        Date::from_calendar_date(year, month, day).expect("a valid date"),
        Time::from_hms_nano(h, m, s, ns).expect("a valid time"),
    )
}

/// The first and last instants an event's time can be, and the Unix epoch.
fn far() -> Vec<OffsetDateTime> {
    vec![
        at(0, Month::January, 1, (0, 0, 0, 0)).assume_utc(),
        at(9999, Month::December, 31, (23, 59, 59, 999_999_999)).assume_utc(),
        OffsetDateTime::UNIX_EPOCH,
    ]
}

/// Instants no event's time can be: years 10000 and -1 in UTC.
fn unholdable() -> Vec<OffsetDateTime> {
    let offset = |h| UtcOffset::from_hms(h, 0, 0).expect("a valid offset");
    vec![
        at(9999, Month::December, 31, (23, 30, 0, 0)).assume_offset(offset(-1)),
        at(0, Month::January, 1, (0, 30, 0, 0)).assume_offset(offset(1)),
    ]
}

/// An instant, written with some offset.
fn time() -> impl Strategy<Value = OffsetDateTime> {
    let instant = prop_oneof![
        8 => select(NEAR).prop_map(instant),
        3 => (-5_000_000_000i64..5_000_000_000).prop_map(instant),
        1 => select(far()),
    ];
    (instant, select(OFFSETS)).prop_map(|(t, (h, m))| {
        let offset = UtcOffset::from_hms(h, m, 0).expect("a valid offset");
        t.checked_to_offset(offset).unwrap_or(t)
    })
}

/// A query's time bound: an event's time, a nanosecond either side of one, or one no
/// event's time can be.
fn bound() -> impl Strategy<Value = OffsetDateTime> {
    prop_oneof![
        20 => (time(), -1i64..=1).prop_map(|(t, d)| t.checked_add(Duration::nanoseconds(d)).unwrap_or(t)),
        1 => select(unholdable()),
    ]
}

/// Values of every type, several sharing a text.
fn extension_values() -> Vec<ExtensionValue> {
    use ExtensionValue::{Binary, Boolean, Integer, String, Timestamp, Uri, UriRef};
    let t = instant(0);
    let [first, last, _] = far().try_into().expect("three instants");
    vec![
        String("eu".into()),
        String("1".into()),
        String("true".into()),
        String(std::string::String::new()),
        String("https://example.com/a".into()),
        String("/a".into()),
        String(format_rfc3339(t)),
        String("AQI=".into()),
        String("\u{e9}".into()),
        String("e\u{301}".into()),
        String("EU".into()),
        String("eu ".into()),
        String("q\"u\\o/te".into()),
        String("\u{1f600}".into()),
        String("1.0".into()),
        String("01".into()),
        String("\u{e9}".repeat(3000)),
        Integer(1),
        Integer(0),
        Integer(-1),
        Integer(i32::MAX),
        Integer(i32::MIN),
        Boolean(true),
        Boolean(false),
        Uri("https://example.com/a".into()),
        Uri("urn:x".into()),
        Uri("https://example.com/%61".into()),
        Uri("HTTPS://example.com/a".into()),
        UriRef("/a".into()),
        UriRef(std::string::String::new()),
        UriRef("https://example.com/a".into()),
        UriRef("a?b#c".into()),
        Timestamp(t),
        Timestamp(t + Duration::nanoseconds(1)),
        // The same instant as `t`, given with an offset.
        Timestamp(t.to_offset(UtcOffset::from_hms(-3, 0, 0).expect("a valid offset"))),
        // Whole microseconds, as a `timestamptz` would keep it, and whole seconds.
        Timestamp(t.replace_nanosecond(456_000).expect("a valid time")),
        Timestamp(t.replace_nanosecond(0).expect("a valid time")),
        Timestamp(first),
        Timestamp(last),
        Binary(vec![1, 2]),
        Binary(Vec::new()),
        Binary(vec![0, 255]),
        // `+` and `/` in base64.
        Binary(vec![0xfb, 0xff]),
        Binary(vec![0xa5; 3000]),
    ]
}

/// Values only queries ask for: the same instant written with another offset, values
/// with U+0000, another integer, other bytes, an instant no event can hold.
fn queried_extension_values() -> Vec<ExtensionValue> {
    use ExtensionValue::{Binary, Integer, String, Timestamp, Uri, UriRef};
    let offset = UtcOffset::from_hms(5, 30, 0).expect("a valid offset");
    let mut values = vec![
        Timestamp(instant(0).to_offset(offset)),
        String("eu\0".into()),
        Uri("https://example.com/a\0".into()),
        UriRef("\0".into()),
        Integer(2),
        Binary(vec![1]),
        // Equal to the held values above in Unicode's eyes, or all but their end.
        String("\u{e9}".repeat(2999)),
        String(" eu".into()),
        Binary(vec![0xa5; 2999]),
        Timestamp(
            instant(0)
                .replace_nanosecond(456_001)
                .expect("a valid time"),
        ),
        Uri("https://example.com/A".into()),
    ];
    values.extend(unholdable().into_iter().map(Timestamp));
    values
}

/// Any valid event, its attributes from the pools.
fn event() -> impl Strategy<Value = Event> {
    let core = (
        select(IDS),
        select(SOURCES),
        select(TYPES.as_slice()),
        weighted(0.8, select(SUBJECTS.as_slice())),
        weighted(0.8, time()),
    );
    let routing = (
        weighted(0.6, select(CORRELATION_IDS.as_slice())),
        weighted(0.6, select(TOPICS)),
        weighted(0.4, select(DESTINATIONS)),
        weighted(0.3, select(SCHEMAS)),
    );
    let extensions = btree_map(select(EXTENSION_NAMES), select(extension_values()), 0..=3);
    let data = (0..4u8, weighted(0.7, select(CONTENT_TYPES)), any::<u8>());
    (core, routing, extensions, data).prop_map(
        |((id, source, ty, subject, time), routing, extensions, data)| {
            let mut b = Event::builder().id(id).source(source).ty(ty);
            if let Some(s) = subject {
                b = b.subject(s);
            }
            if let Some(t) = time {
                b = b.time(t);
            }
            let (correlation_id, topic, destination, schema) = routing;
            if let Some(c) = correlation_id {
                b = b.correlationid(c);
            }
            if let Some(t) = topic {
                b = b.topic(t);
            }
            if let Some(d) = destination {
                b = b.destination(d);
            }
            if let Some(s) = schema {
                b = b.dataschema(s);
            }
            for (name, value) in extensions {
                b = b.extension(name, value);
            }
            let (kind, content_type, byte) = data;
            if let Some(ct) = content_type {
                b = b.datacontenttype(ct);
            }
            b = match kind {
                0 => b,
                1 => b.json(&serde_json::json!({ "n": byte })),
                // Digits: text under a non-JSON content type, JSON under a JSON one.
                2 => b.text(byte.to_string()),
                _ => b.binary(vec![byte]),
            };
            b.build().expect("the pools make valid events")
        },
    )
}

/// A dataset of up to [`MAX_EVENTS`] events, in batches of random sizes; a
/// `(source, id)` that repeats is given a fresh id.
pub(crate) fn dataset() -> impl Strategy<Value = Dataset> {
    // One range, which shrinks down to no event at all.
    let events = vec((event(), proptest::bool::weighted(0.06)), 0..=MAX_EVENTS);
    events.prop_map(|events| {
        let mut seen = BTreeSet::new();
        let mut batches: Vec<Vec<Event>> = Vec::new();
        for (i, (mut event, starts_batch)) in events.into_iter().enumerate() {
            if !seen.insert((event.source().to_owned(), event.id().to_owned())) {
                event = event
                    .into_builder()
                    .id(format!("u{i}"))
                    .build()
                    .expect("a valid event");
                seen.insert((event.source().to_owned(), event.id().to_owned()));
            }
            match batches.last_mut() {
                Some(batch) if !starts_batch => batch.push(event),
                _ => batches.push(vec![event]),
            }
        }
        Dataset { batches }
    })
}

/// Texts no event holds as any attribute: U+0000, other control characters, a
/// noncharacter, the empty string, one character longer than an indexed attribute can be.
pub(crate) fn missed_texts() -> &'static [&'static str] {
    MISSES.as_slice()
}

/// A value from `pool`, or now and then one no event holds.
fn text(pool: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![8 => select(pool), 1 => select(MISSES.as_slice())].prop_map(str::to_owned)
}

/// A list filter: absent mostly, sometimes empty, now and then longer than a backend
/// binds one parameter a value (SQLite binds such a list as one array).
fn list(pool: &'static [&'static str]) -> impl Strategy<Value = Option<Vec<String>>> {
    weighted(
        0.12,
        prop_oneof![
            1 => Just(Vec::new()),
            6 => vec(text(pool), 1..=3),
            1 => vec(text(pool), LONG_LIST..=LONG_LIST + 2),
        ],
    )
}

/// A list longer than SQLite's dialect binds one parameter a value.
const LONG_LIST: usize = 1001;

/// A filter built one value at a time: empty (no filter) mostly.
fn values(pool: &'static [&'static str]) -> impl Strategy<Value = Vec<String>> {
    prop_oneof![10 => Just(Vec::new()), 1 => vec(text(pool), 1..=2)]
}

/// A random query over a dataset whose events have `sequences` (in order) and the
/// extensions `present`.
pub(crate) fn query(
    sequences: &[i64],
    present: Vec<(String, ExtensionValue)>,
) -> impl Strategy<Value = QuerySpec> + use<> {
    let first = sequences.first().copied().unwrap_or(1);
    let last = sequences.last().copied().unwrap_or(0);
    let count = sequences.len() as u64;
    let sequence = move || {
        prop_oneof![
            8 => first - 2..=last + 2,
            1 => select(vec![i64::MIN, -1, 0, i64::MAX - 1, i64::MAX]),
        ]
    };
    let big = || select(vec![u64::MAX, i64::MAX as u64, i64::MAX as u64 + 1]);
    let limit = prop_oneof![
        5 => Just(None),
        1 => Just(Some(0)),
        3 => (1..=12u64).prop_map(Some),
        2 => (0..=count + 2).prop_map(Some),
        1 => big().prop_map(Some),
    ];
    let offset = prop_oneof![
        12 => Just(0),
        3 => 1..=12u64,
        1 => 0..=count + 2,
        1 => big(),
    ];
    let cap = prop_oneof![
        1 => sequence().prop_map(Cap::UpTo),
        1 => sequence().prop_map(Cap::Within),
        2 => Just(Cap::WithinStoreHorizon),
    ];
    let name = prop_oneof![
        12 => select(EXTENSION_NAMES),
        3 => select(QUERIED_EXTENSION_NAMES),
        1 => select(INVALID_EXTENSION_NAMES),
    ]
    .prop_map(str::to_owned);
    let routed: Vec<&str> = [CORRELATION_IDS.as_slice(), TOPICS, DESTINATIONS].concat();
    let value = prop_oneof![
        6 => select(extension_values()),
        2 => select(queried_extension_values()),
        2 => select(routed).prop_map(|s| ExtensionValue::String(s.to_owned())),
    ];
    let mut extension = vec![(3, (name, value).boxed())];
    if !present.is_empty() {
        extension.push((4, select(present).boxed()));
    }
    let extension = proptest::strategy::Union::new_weighted(extension);
    let extensions = prop_oneof![
        30 => Just(Vec::new()),
        4 => vec(extension.clone(), 1..=1),
        1 => vec(extension, 2..=2),
    ];
    let lists = (
        list(TYPES.as_slice()),
        list(SOURCES),
        list(SUBJECTS.as_slice()),
        list(QUERIED_IDS),
        values(CORRELATION_IDS.as_slice()),
        values(TOPICS),
        values(DESTINATIONS),
        values(CONTENT_TYPES),
        values(SCHEMAS),
        extensions,
    );
    let range = (
        weighted(0.25, bound()),
        weighted(0.15, bound()),
        weighted(0.1, sequence()),
        weighted(0.1, sequence()),
        prop_oneof![3 => Just(Vec::new()), 2 => vec(cap, 1..=2)],
        weighted(0.25, sequence()),
        offset,
        limit,
        any::<bool>(),
    );
    (lists, range).prop_map(|(lists, range)| {
        let (types, sources, subjects, ids, correlation_ids, topics, destinations, ct, ds, ext) =
            lists;
        let (time_from, time_to, min_sequence, max_sequence, caps, after, offset, limit, desc) =
            range;
        QuerySpec {
            types,
            sources,
            subjects,
            ids,
            correlation_ids,
            topics,
            destinations,
            data_content_types: ct,
            data_schemas: ds,
            extensions: ext,
            time_from,
            time_to,
            min_sequence,
            max_sequence,
            caps,
            after,
            offset,
            limit,
            descending: desc,
        }
    })
}
