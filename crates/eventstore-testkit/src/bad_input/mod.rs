//! Hostile and malformed input, as a table: each [`Case`] is one attempt to get bad data
//! in (through the JSON format, the event builder, an append, a query or a table name)
//! and what the store must answer. [`suite::bad_input_is_refused`](crate::suite::bad_input_is_refused)
//! runs the table against a store and checks that nothing was written.

mod documents;
mod store;

use eventstore_core::{AppendOptions, Event, EventQuery, ExtensionValue, ValidationError};

/// One attempt.
pub enum Attempt {
    /// A single event in the CloudEvents JSON format.
    Json(String),
    /// A batch in the CloudEvents JSON batch format.
    JsonBatch(String),
    /// An event built with the [`EventBuilder`](eventstore_core::EventBuilder).
    Build(Result<Event, ValidationError>),
    /// An append of valid events the store must still refuse.
    Append(Vec<Event>, AppendOptions),
    /// A query.
    Query(EventQuery),
    /// A stream read: subject and first version.
    Stream(String, i64),
    /// A read of one event: source and id (returns 1 if found, 0 if not).
    Get(String, String),
    /// A subject's current stream version (returned as the count; 0 without a stream).
    StreamVersion(String),
    /// A table name.
    Table(String),
    /// A schema name.
    Schema(String),
}

/// What the store must answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// An invalid event, naming this attribute (the offending name for extensions).
    Invalid(&'static str),
    /// Malformed JSON.
    Json,
    /// A duplicate `(source, id)`.
    Duplicate,
    /// A stream version conflict on this subject.
    Conflict(&'static str),
    /// A query refused, naming this.
    InvalidQuery(&'static str),
    /// A configuration value refused, naming this.
    Config(&'static str),
    /// Not an error: exactly this many events, the value treated as data (an injection
    /// attempt) or an absurd range answered as SQL would (empty or everything).
    Returns(usize),
}

/// One row of the table.
pub struct Case {
    /// What the case tries.
    pub name: String,
    /// The attempt.
    pub attempt: Attempt,
    /// The answer it must get.
    pub expect: Expect,
}

fn case(name: impl Into<String>, attempt: Attempt, expect: Expect) -> Case {
    Case {
        name: name.into(),
        attempt,
        expect,
    }
}

/// The source of every event the table uses.
pub const SOURCE: &str = "/bad-input";

/// SQL that would do damage if it ever reached SQL text.
pub const INJECTIONS: [&str; 6] = [
    "x'; DROP TABLE events; --",
    "\" OR 1=1 --",
    "') OR ('1'='1",
    "1; DELETE FROM events",
    "$1::text); TRUNCATE events; --",
    "'||(SELECT sqlite_version())||'",
];

/// A valid event of the table's source.
pub fn event(id: &str, subject: Option<&str>) -> Event {
    let mut b = Event::builder().id(id).source(SOURCE).ty("bad.input");
    if let Some(subject) = subject {
        b = b.subject(subject);
    }
    b.build().expect("a valid event")
}

/// The events stored before the table runs: a three-event stream `order-1`, and one
/// event per injection string carrying it as its subject, type and `note` extension.
pub fn baseline() -> Vec<Event> {
    let mut events: Vec<Event> = (1..=3)
        .map(|i| event(&format!("stored-{i}"), Some("order-1")))
        .collect();
    for (i, text) in INJECTIONS.iter().enumerate() {
        events.push(
            Event::builder()
                .id(format!("injection-{i}"))
                .source(SOURCE)
                .ty(*text)
                .subject(*text)
                .extension("note", ExtensionValue::String((*text).to_owned()))
                .build()
                .expect("injection strings are valid values"),
        );
    }
    events
}

/// The whole table: malformed documents and builder misuse, then what only a store can
/// refuse or must answer.
pub fn cases() -> Vec<Case> {
    let mut cases = documents::cases();
    cases.extend(store::cases());
    cases
}
