//! The bad-input table and the invalid conformance vectors, against a store.

use eventstore_core::sql::TableName;
use eventstore_core::{
    AppendOptions, Error, Event, EventStore, ExpectedVersion, Limits, OnDuplicate,
};
use futures::TryStreamExt as _;

use crate::bad_input::{self, Attempt, Expect};
use crate::data::count;
use crate::vectors;

/// Every case of the [`bad_input`] table gets its typed answer naming the problem; the
/// 25 invalid conformance vectors are refused; after each refusal the store holds
/// exactly what it held before; and the store still appends and reads afterwards.
/// Returns how many bad inputs were tried.
pub async fn bad_input_is_refused(store: &dyn EventStore) -> usize {
    let baseline = bad_input::baseline();
    store
        .append(baseline.clone())
        .await
        .expect("the baseline appends");
    let stored = baseline.len();
    let cases = bad_input::cases();
    assert!(cases.len() >= 100, "the table has {} cases", cases.len());
    for c in &cases {
        let outcome = attempt(store, &c.attempt).await;
        check(&c.name, c.expect, outcome);
        assert_eq!(
            count(store).await,
            stored,
            "{}: the store's rows changed",
            c.name
        );
    }
    let format = vectors::format();
    let invalid = vectors::invalid();
    for vector in &invalid {
        let outcome = match format.parse_event(&vector.event) {
            Ok(event) => store.append(vec![event]).await.map(|_| 0),
            Err(e) => Err(e),
        };
        check(
            &vector.id,
            Expect::Invalid(vectors::expected_attribute(&vector.id)),
            outcome,
        );
    }
    assert_eq!(
        count(store).await,
        stored,
        "an invalid vector wrote something"
    );
    let after = bad_input::event("after-the-table", Some("order-1"));
    let appended = store
        .append(vec![after])
        .await
        .expect("the store is still usable");
    assert_eq!(appended.appended[0].stream_version, Some(4));
    assert_eq!(count(store).await, stored + 1);
    cases.len() + invalid.len()
}

/// Runs one attempt: the number of events it returned, or its error.
async fn attempt(store: &dyn EventStore, attempt: &Attempt) -> Result<usize, Error> {
    let format = vectors::format();
    match attempt {
        Attempt::Json(text) => {
            let event = format.parse_event(text)?;
            store.append(vec![event]).await.map(|r| r.appended.len())
        }
        Attempt::JsonBatch(text) => {
            let events = format.parse_batch(text)?;
            store.append(events).await.map(|r| r.appended.len())
        }
        Attempt::Build(built) => {
            let event = built.clone()?;
            store.append(vec![event]).await.map(|r| r.appended.len())
        }
        Attempt::Append(events, options) => store
            .append_with(events.clone(), options.clone())
            .await
            .map(|r| r.appended.len()),
        Attempt::Query(query) => collect(store.query(query.clone())).await,
        Attempt::Stream(subject, from) => collect(store.stream(subject, *from)).await,
        Attempt::StreamVersion(subject) => store
            .stream_version(subject)
            .await
            .map(|v| v.map_or(0, |v| usize::try_from(v).expect("a version is positive"))),
        Attempt::Get(source, id) => store
            .get(source, id)
            .await
            .map(|e| usize::from(e.is_some())),
        Attempt::Table(name) => TableName::new(name.clone()).map(|_| 0),
        Attempt::Schema(name) => TableName::default().in_schema(name.clone()).map(|_| 0),
    }
}

async fn collect(stream: eventstore_core::EventStream) -> Result<usize, Error> {
    stream
        .try_collect::<Vec<_>>()
        .await
        .map(|events| events.len())
}

fn check(name: &str, expect: Expect, outcome: Result<usize, Error>) {
    let error = match (expect, outcome) {
        (Expect::Returns(n), Ok(found)) => {
            assert_eq!(found, n, "{name}: wrong number of events");
            return;
        }
        (expected, Ok(found)) => panic!("{name}: expected {expected:?}, got {found} events"),
        (_, Err(error)) => error,
    };
    let message = error.to_string();
    let (typed, named) = match expect {
        Expect::Invalid(attribute) => {
            let v = error.as_validation();
            let attribute_matches = v.is_some_and(|v| v.attribute() == attribute);
            (
                attribute_matches,
                attribute.is_empty() || message.contains(attribute),
            )
        }
        Expect::Json => (
            matches!(error, Error::Json { .. }) && error.is_invalid(),
            true,
        ),
        Expect::Duplicate => (error.is_duplicate(), message.contains("duplicate")),
        Expect::Conflict(subject) => (error.is_conflict(), message.contains(subject)),
        Expect::InvalidQuery(what) => (
            matches!(error, Error::InvalidQuery(_)),
            message.contains(what),
        ),
        Expect::Config(what) => (matches!(error, Error::Config(_)), message.contains(what)),
        Expect::Returns(n) => panic!("{name}: expected {n} events, got {error:?}"),
    };
    assert!(typed, "{name}: expected {expect:?}, got {error:?}");
    assert!(
        named,
        "{name}: the message does not name the problem: {message}"
    );
}

/// A store opened with `limits` (at most 1,000-byte events, 5 per batch, 3,000 bytes a
/// batch, as [`small_limits`] sets) refuses each excess by name, with any append
/// options, and writes nothing; a batch just inside every limit is written.
pub async fn configured_limits_are_enforced(store: &dyn EventStore) {
    let sized = |id: usize, bytes: usize| {
        bad_input::event(&format!("limit-{id}"), Some("limits"))
            .into_builder()
            .binary(vec![1u8; bytes])
            .build()
            .expect("valid")
    };
    let options = [
        AppendOptions::new(),
        AppendOptions::new().on_duplicate(OnDuplicate::Skip),
        AppendOptions::new().expect("limits", ExpectedVersion::NoStream),
    ];
    for options in options {
        let over: [(Vec<Event>, &str); 3] = [
            (vec![sized(1, 10), sized(2, 1001)], "1000 bytes"),
            ((0..6).map(|i| sized(i, 1)).collect(), "limit of 5"),
            ((0..4).map(|i| sized(i, 900)).collect(), "3000 bytes"),
        ];
        for (events, named) in over {
            let error = store
                .append_with(events, options.clone())
                .await
                .expect_err("over a limit");
            assert!(error.is_invalid(), "{error:?}");
            assert!(error.to_string().contains(named), "{error}");
        }
    }
    assert_eq!(count(store).await, 0, "a refused batch wrote something");
    let inside: Vec<Event> = (0..3).map(|i| sized(i, 950)).collect();
    let written = store.append(inside).await.expect("inside every limit");
    assert_eq!(written.appended.len(), 3);
}

/// The limits [`configured_limits_are_enforced`] expects its store to be opened with.
pub fn small_limits() -> Limits {
    Limits::default()
        .max_event_bytes(1000)
        .max_batch_events(5)
        .max_batch_bytes(3000)
}
