//! The shared query builder on arbitrary [`EventQuery`]s, in both backends' dialects.
//!
//! Whatever the query holds, the builder returns SQL or a typed `InvalidQuery`, never
//! panics; the SQL text is made only of the builder's own vocabulary (no caller value
//! ever reaches it: they are all parameters); its placeholders are exactly its
//! parameters; and SQLite prepares the statement against a real store's table.
#![no_main]

use std::sync::{Mutex, OnceLock};

use eventstore_core::sql::{Dialect, SqlValue, TableName, select_events, select_stream};
use eventstore_core::timestamp::format_fixed;
use eventstore_core::{Error, EventQuery, ExtensionValue, Order};
use eventstore_postgres::PostgresDialect;
use eventstore_sqlite::SqliteDialect;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use time::OffsetDateTime;

#[derive(Debug, Arbitrary)]
enum Filter {
    Type(String),
    Types(Vec<String>),
    Source(String),
    Sources(Vec<String>),
    Subject(String),
    Subjects(Vec<String>),
    CorrelationId(String),
    Topic(String),
    Destination(String),
    Extension(String, Value),
    TimeFrom(i128),
    TimeTo(i128),
    MinSequence(i64),
    MaxSequence(i64),
    UpTo(i64),
    After(i64),
    Limit(u64),
    Offset(u64),
    Descending(bool),
}

#[derive(Debug, Arbitrary)]
enum Value {
    String(String),
    Integer(i32),
    Boolean(bool),
    Uri(String),
    UriRef(String),
    Timestamp(i128),
    Binary(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
struct Input {
    filters: Vec<Filter>,
    page: Option<u64>,
    stream: (String, i64),
}

fn instant(nanos: i128) -> OffsetDateTime {
    // Every instant the `time` crate can represent, wrapped into its range.
    let min = OffsetDateTime::new_utc(time::Date::MIN, time::Time::MIDNIGHT).unix_timestamp_nanos();
    let max = OffsetDateTime::new_utc(time::Date::MAX, time::Time::MAX).unix_timestamp_nanos();
    let span = max - min + 1;
    OffsetDateTime::from_unix_timestamp_nanos(min + nanos.rem_euclid(span))
        .expect("wrapped into range")
}

fn extension(value: Value) -> ExtensionValue {
    match value {
        Value::String(s) => ExtensionValue::String(s),
        Value::Integer(i) => ExtensionValue::Integer(i),
        Value::Boolean(b) => ExtensionValue::Boolean(b),
        Value::Uri(s) => ExtensionValue::Uri(s),
        Value::UriRef(s) => ExtensionValue::UriRef(s),
        Value::Timestamp(n) => ExtensionValue::Timestamp(instant(n)),
        Value::Binary(b) => ExtensionValue::Binary(b),
    }
}

fn query(filters: Vec<Filter>) -> EventQuery {
    filters.into_iter().fold(EventQuery::new(), |q, f| match f {
        Filter::Type(t) => q.ty(t),
        Filter::Types(t) => q.types(t),
        Filter::Source(s) => q.source(s),
        Filter::Sources(s) => q.sources(s),
        Filter::Subject(s) => q.subject(s),
        Filter::Subjects(s) => q.subjects(s),
        Filter::CorrelationId(c) => q.correlation_id(c),
        Filter::Topic(t) => q.topic(t),
        Filter::Destination(d) => q.destination(d),
        Filter::Extension(name, value) => q.extension(name, extension(value)),
        Filter::TimeFrom(n) => q.time_from(instant(n)),
        Filter::TimeTo(n) => q.time_to(instant(n)),
        Filter::MinSequence(s) => q.min_sequence(s),
        Filter::MaxSequence(s) => q.max_sequence(s),
        Filter::UpTo(s) => q.up_to(s),
        Filter::After(s) => q.after(s),
        Filter::Limit(l) => q.limit(l),
        Filter::Offset(o) => q.offset(o),
        Filter::Descending(d) => q.order(if d { Order::Descending } else { Order::Ascending }),
    })
}

/// The words the builder itself writes; anything else in the text came from a caller.
const VOCABULARY: &[&str] = &[
    "SELECT", "FROM", "WHERE", "AND", "ORDER", "BY", "ASC", "DESC", "LIMIT", "OFFSET", "IN",
    "ANY", "text", "jsonb", "json_extract", "sequence", "stream_version", "recorded_at", "id",
    "source", "type", "subject", "time", "datacontenttype", "dataschema", "correlationid",
    "topic", "destination", "extensions", "data_kind", "data", "data_bytes", "events", "1",
    "0",
];

fn check_text(text: &str, params: usize, dialect: &str) {
    let mut placeholders = Vec::new();
    let mut word = String::new();
    let mut words = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if (c == '$' || c == '?') && chars.peek().is_some_and(char::is_ascii_digit) {
            let mut n = String::new();
            while let Some(d) = chars.next_if(char::is_ascii_digit) {
                n.push(d);
            }
            placeholders.push(n.parse::<usize>().expect("digits"));
        } else if c.is_ascii_alphanumeric() || c == '_' {
            word.push(c);
        } else {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            assert!(
                " ,()=<>*:[]\"@".contains(c),
                "{dialect}: unexpected character {c:?} in {text}"
            );
        }
    }
    words.extend((!word.is_empty()).then_some(word));
    for w in &words {
        assert!(VOCABULARY.contains(&w.as_str()), "{dialect}: foreign word {w:?} in {text}");
    }
    let expected: Vec<usize> = (1..=params).collect();
    assert_eq!(placeholders, expected, "{dialect}: placeholders vs parameters in {text}");
}

/// A real store's table, for SQLite to prepare the statements against.
fn sqlite() -> &'static Mutex<rusqlite::Connection> {
    static CONNECTION: OnceLock<Mutex<rusqlite::Connection>> = OnceLock::new();
    CONNECTION.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("eventstore-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("events.db");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        runtime
            .block_on(eventstore_sqlite::SqliteEventStore::open(&path))
            .expect("store opens");
        Mutex::new(rusqlite::Connection::open(&path).expect("connection"))
    })
}

fn build(dialect: &dyn Dialect, name: &str, query: &EventQuery, page: Option<u64>) -> Option<usize> {
    let table = TableName::default();
    match select_events(dialect, &table, query, page) {
        Ok(sql) => {
            check_text(&sql.text, sql.params.len(), name);
            for param in &sql.params {
                if let SqlValue::Time(t) = param {
                    // How both backends bind an instant.
                    let _ = format_fixed(*t);
                }
            }
            if name == "sqlite" {
                let conn = sqlite().lock().expect("not poisoned");
                let statement = conn
                    .prepare(&sql.text)
                    .unwrap_or_else(|e| panic!("sqlite refuses {}: {e}", sql.text));
                assert_eq!(statement.parameter_count(), sql.params.len());
            }
            Some(sql.params.len())
        }
        Err(Error::InvalidQuery(message)) => {
            assert!(!message.is_empty());
            None
        }
        Err(other) => panic!("{name}: untyped refusal {other:?}"),
    }
}

fuzz_target!(|input: Input| {
    let query = query(input.filters);
    let sqlite = build(&SqliteDialect, "sqlite", &query, input.page);
    let postgres = build(&PostgresDialect, "postgres", &query, input.page);
    assert_eq!(sqlite.is_some(), postgres.is_some(), "the dialects must agree on validity");
    let (subject, from) = input.stream;
    for (dialect, name) in [(&SqliteDialect as &dyn Dialect, "sqlite"), (&PostgresDialect, "postgres")] {
        let sql = select_stream(dialect, &TableName::default(), &subject, from, input.page);
        check_text(&sql.text, sql.params.len(), name);
    }
});
