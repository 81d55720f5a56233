//! Appends: atomicity, duplicates, expected versions, concurrency, streams.

use std::sync::Arc;

use eventstore_core::{AppendOptions, Error, EventQuery, EventStore, ExpectedVersion, OnDuplicate};
use futures::TryStreamExt as _;

use crate::data::{all, count, event, on_subject};

/// What is appended is what `get` returns, with a sequence, a stream version and a
/// recording time.
pub async fn append_and_get_round_trip(store: &dyn EventStore) {
    let before = eventstore_core::time::OffsetDateTime::now_utc();
    let e = on_subject("a-1", "order-1")
        .into_builder()
        .correlationid("corr-1")
        .topic("orders")
        .destination("billing")
        .extension("traceparent", "00-abc-def-01")
        .extension("priority", 5)
        .json(&serde_json::json!({"total": 12.5, "items": [1, 2, 3]}))
        .build()
        .unwrap();
    let result = store.append(vec![e.clone()]).await.unwrap();
    assert_eq!(result.appended.len(), 1);
    assert!(result.skipped.is_empty());
    let appended = result.appended[0];
    assert_eq!(appended.index, 0);
    assert!(appended.sequence > 0);
    assert_eq!(appended.stream_version, Some(1));
    let stored = store.get("/testkit", "a-1").await.unwrap().expect("stored");
    assert_eq!(stored.event(), &e);
    assert_eq!(stored.sequence(), appended.sequence);
    assert_eq!(stored.stream_version(), Some(1));
    assert_eq!(stored.recorded_at(), result.recorded_at);
    assert!(stored.recorded_at() >= before - eventstore_core::time::Duration::seconds(1));
    assert_eq!(store.stream_version("order-1").await.unwrap(), Some(1));
    assert_eq!(store.stream_version("order-2").await.unwrap(), None);
}

/// `get` of an unknown `(source, id)` is `None`, and the pair is matched exactly.
pub async fn get_of_unknown_event_is_none(store: &dyn EventStore) {
    store.append(vec![event("x")]).await.unwrap();
    assert!(store.get("/testkit", "y").await.unwrap().is_none());
    assert!(store.get("/other", "x").await.unwrap().is_none());
    assert!(store.get("/testkit", "X").await.unwrap().is_none());
    assert!(store.get("/testkit", "x").await.unwrap().is_some());
}

/// A batch that fails half-way, for a duplicate already stored or one inside the batch
/// or for an expected version, writes nothing, and the store stays usable.
pub async fn failed_batch_writes_nothing(store: &dyn EventStore) {
    store.append(vec![on_subject("1", "s")]).await.unwrap();
    let batch = vec![
        on_subject("2", "s"),
        on_subject("3", "s"),
        on_subject("1", "s"),
    ];
    let err = store.append(batch).await.unwrap_err();
    assert!(err.is_duplicate(), "{err}");
    let inner = vec![event("4"), event("5"), event("4")];
    assert!(store.append(inner).await.unwrap_err().is_duplicate());
    let options = AppendOptions::new().expect("s", ExpectedVersion::Exact(7));
    let err = store
        .append_with(vec![on_subject("6", "s")], options)
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert_eq!(count(store).await, 1);
    assert_eq!(store.stream_version("s").await.unwrap(), Some(1));
    let result = store.append(vec![on_subject("2", "s")]).await.unwrap();
    assert_eq!(result.appended[0].stream_version, Some(2));
}

/// A batch refused for a duplicate names its first duplicate in batch order, whether
/// that event repeats a stored one or one earlier in the same batch, and writes nothing.
pub async fn a_refused_batch_names_its_first_duplicate(store: &dyn EventStore) {
    store.append(vec![event("stored")]).await.unwrap();
    let named = async |batch: Vec<eventstore_core::Event>| match store.append(batch).await {
        Err(Error::Duplicate { event_source, id }) => (event_source, id),
        other => panic!("expected a duplicate error, got {other:?}"),
    };
    // The stored event comes first: it is named, not the repeat after it.
    let batch = vec![event("a"), event("stored"), event("b"), event("b")];
    assert_eq!(
        named(batch).await,
        ("/testkit".to_owned(), "stored".to_owned())
    );
    // The repeat comes first: it is named, not the stored event after it.
    let batch = vec![event("a"), event("a"), event("stored"), event("c")];
    assert_eq!(named(batch).await, ("/testkit".to_owned(), "a".to_owned()));
    // Events on subjects, with an expectation that holds: the same.
    let options = AppendOptions::new().expect("s", ExpectedVersion::NoStream);
    let batch = vec![
        on_subject("d", "s"),
        on_subject("stored", "s"),
        on_subject("d", "s"),
    ];
    match store.append_with(batch, options).await {
        Err(Error::Duplicate { id, .. }) => assert_eq!(id, "stored"),
        other => panic!("expected a duplicate error, got {other:?}"),
    }
    assert_eq!(count(store).await, 1);
    assert_eq!(store.stream_version("s").await.unwrap(), None);
}

/// A batch refused for its expectations names the first that fails in subject order,
/// whether its subject could have a stream or holds U+0000 (which no stream can), and
/// writes nothing; expectations are checked before duplicates.
pub async fn a_refused_batch_names_its_first_conflict(store: &dyn EventStore) {
    store
        .append(vec![on_subject("1", "a"), on_subject("2", "c")])
        .await
        .unwrap();
    let conflict = async |options: AppendOptions| {
        let batch = vec![on_subject("3", "a"), on_subject("1", "a")];
        match store.append_with(batch, options).await {
            Err(Error::Conflict {
                subject, actual, ..
            }) => (subject, actual),
            other => panic!("expected a conflict, got {other:?}"),
        }
    };
    let expect = |subject: &str, version| AppendOptions::new().expect(subject, version);
    // "a" sorts before "b\0": it is named.
    let options = expect("a", ExpectedVersion::Exact(5)).expect("b\0", ExpectedVersion::Exists);
    assert_eq!(conflict(options).await, ("a".to_owned(), Some(1)));
    // "a" holds: "b\0" fails, before "c" and before the duplicate.
    let options = expect("a", ExpectedVersion::Exact(1))
        .expect("b\0", ExpectedVersion::Exact(1))
        .expect("c", ExpectedVersion::NoStream);
    assert_eq!(conflict(options).await, ("b\0".to_owned(), None));
    // Only "b\0" fails.
    let options = expect("b\0", ExpectedVersion::Exists);
    assert_eq!(conflict(options).await, ("b\0".to_owned(), None));
    assert_eq!(count(store).await, 2);
    assert_eq!(store.stream_version("a").await.unwrap(), Some(1));
}

/// An empty batch writes nothing and succeeds.
pub async fn empty_batch_is_a_no_op(store: &dyn EventStore) {
    let result = store.append(Vec::new()).await.unwrap();
    assert!(result.appended.is_empty() && result.skipped.is_empty());
    assert_eq!(result.first_sequence(), None);
    assert_eq!(count(store).await, 0);
}

/// Duplicates of `(source, id)`: refused as a typed error naming the event, or skipped
/// and reported, inside the batch and across batches; skipping leaves no hole in the
/// stream versions.
pub async fn duplicates_are_refused_or_skipped(store: &dyn EventStore) {
    store
        .append(vec![on_subject("1", "s"), on_subject("2", "s")])
        .await
        .unwrap();
    match store.append(vec![on_subject("2", "s")]).await.unwrap_err() {
        Error::Duplicate { event_source, id } => {
            assert_eq!((event_source.as_str(), id.as_str()), ("/testkit", "2"));
        }
        other => panic!("expected a duplicate error, got {other}"),
    }
    // The same id from another source is not a duplicate.
    let other_source = on_subject("2", "s")
        .into_builder()
        .source("/elsewhere")
        .build()
        .unwrap();
    store.append(vec![other_source]).await.unwrap();

    let skip = AppendOptions::new().on_duplicate(OnDuplicate::Skip);
    let batch = vec![
        on_subject("1", "s"),
        on_subject("3", "s"),
        on_subject("3", "s"),
        on_subject("4", "s"),
    ];
    let result = store.append_with(batch, skip).await.unwrap();
    let skipped: Vec<(usize, &str)> = result
        .skipped
        .iter()
        .map(|s| (s.index, s.id.as_str()))
        .collect();
    assert_eq!(skipped, [(0, "1"), (2, "3")]);
    let versions: Vec<_> = result
        .appended
        .iter()
        .map(|a| (a.index, a.stream_version))
        .collect();
    assert_eq!(versions, [(1, Some(4)), (3, Some(5))]);
    let stream: Vec<_> = store.stream("s", 1).try_collect().await.unwrap();
    let ids: Vec<_> = stream.iter().map(|e| e.id()).collect();
    assert_eq!(ids, ["1", "2", "2", "3", "4"]);
    let stored_versions: Vec<_> = stream.iter().map(|e| e.stream_version().unwrap()).collect();
    assert_eq!(stored_versions, [1, 2, 3, 4, 5]);
}

/// Every kind of expected version, met and not met; a conflict reports what was found
/// and writes nothing; a subject can be checked without being appended to.
pub async fn expected_versions_are_enforced(store: &dyn EventStore) {
    let ok = |subject: &str, v| AppendOptions::new().expect(subject, v);
    store
        .append_with(
            vec![on_subject("1", "s")],
            ok("s", ExpectedVersion::NoStream),
        )
        .await
        .unwrap();
    match store
        .append_with(
            vec![on_subject("2", "s")],
            ok("s", ExpectedVersion::NoStream),
        )
        .await
    {
        Err(Error::Conflict {
            subject,
            expected,
            actual,
        }) => {
            assert_eq!(subject, "s");
            assert_eq!(expected, ExpectedVersion::NoStream);
            assert_eq!(actual, Some(1));
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    store
        .append_with(vec![on_subject("2", "s")], ok("s", ExpectedVersion::Exists))
        .await
        .unwrap();
    let err = store
        .append_with(vec![on_subject("x", "t")], ok("t", ExpectedVersion::Exists))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { actual: None, .. }), "{err}");
    store
        .append_with(
            vec![on_subject("3", "s")],
            ok("s", ExpectedVersion::Exact(2)),
        )
        .await
        .unwrap();
    let err = store
        .append_with(
            vec![on_subject("4", "s")],
            ok("s", ExpectedVersion::Exact(2)),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Conflict {
                actual: Some(3),
                ..
            }
        ),
        "{err}"
    );
    store
        .append_with(vec![on_subject("4", "s")], ok("s", ExpectedVersion::Any))
        .await
        .unwrap();
    // A guard on another subject.
    let guard = AppendOptions::new().expect("s", ExpectedVersion::Exact(4));
    store
        .append_with(vec![on_subject("y", "u")], guard.clone())
        .await
        .unwrap();
    store.append(vec![on_subject("5", "s")]).await.unwrap();
    assert!(
        store
            .append_with(vec![on_subject("z", "u")], guard)
            .await
            .unwrap_err()
            .is_conflict()
    );
    assert_eq!(store.stream_version("s").await.unwrap(), Some(5));
    assert_eq!(store.stream_version("t").await.unwrap(), None);
    assert_eq!(store.stream_version("u").await.unwrap(), Some(1));
}

/// Eight appenders race, round after round, for the same expected version of one
/// subject: exactly one wins each round, every other gets a conflict, and the stream
/// holds each winner's batch whole, one event per version.
pub async fn concurrent_appenders_race_one_winner(store: &dyn EventStore) {
    store
        .append(vec![on_subject("seed", "race")])
        .await
        .unwrap();
    let mut version = 1;
    for round in 0..5 {
        let results = futures::future::join_all((0..8).map(|writer| {
            let options = AppendOptions::new().expect("race", ExpectedVersion::Exact(version));
            let batch = vec![
                on_subject(format!("r{round}-w{writer}-a"), "race"),
                on_subject(format!("r{round}-w{writer}-b"), "race"),
            ];
            store.append_with(batch, options)
        }))
        .await;
        let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        assert!(
            results
                .iter()
                .filter_map(|r| r.as_ref().err())
                .all(Error::is_conflict)
        );
        let versions: Vec<_> = winners[0]
            .appended
            .iter()
            .map(|a| a.stream_version)
            .collect();
        assert_eq!(versions, [Some(version + 1), Some(version + 2)]);
        version += 2;
        assert_eq!(store.stream_version("race").await.unwrap(), Some(version));
    }
    let events: Vec<_> = store.stream("race", 1).try_collect().await.unwrap();
    assert_eq!(events.len(), 11);
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.stream_version(), Some(i as i64 + 1));
    }
    // Each winner's pair is adjacent: a batch is never interleaved with another.
    for pair in events[1..].chunks(2) {
        assert_eq!(
            pair[0].id().trim_end_matches("-a"),
            pair[1].id().trim_end_matches("-b")
        );
    }
}

/// Many appenders with no expectation on one subject all succeed, each event gets a
/// distinct version, and versions follow sequence order.
pub async fn concurrent_appenders_get_distinct_versions(store: &dyn EventStore) {
    let tasks = (0..8).map(|writer| async move {
        for i in 0..10 {
            let batch = vec![on_subject(format!("w{writer}-{i}"), "shared")];
            store.append(batch).await.unwrap();
        }
    });
    futures::future::join_all(tasks).await;
    let events: Vec<_> = store.stream("shared", 1).try_collect().await.unwrap();
    assert_eq!(events.len(), 80);
    for (i, pair) in events.windows(2).enumerate() {
        assert_eq!(pair[0].stream_version(), Some(i as i64 + 1));
        assert!(pair[0].sequence() < pair[1].sequence());
    }
    let by_query: Vec<_> = store
        .query(EventQuery::new().subject("shared"))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(by_query, events);
}

/// A batch may span as many subjects as it has events, up to the store's batch limit
/// (on PostgreSQL one lock per subject would overflow the server's lock table, so a
/// batch over `MAX_SUBJECT_LOCKS` subjects locks the table's appends instead), and
/// such batches append beside narrow ones on the same subjects: every subject's
/// versions stay consecutive, in sequence order.
pub async fn batches_spanning_many_subjects_append_beside_narrow_ones(store: Arc<dyn EventStore>) {
    const WIDE: usize = 20_000;
    let wide = |writer: &'static str, events: usize| {
        let store = Arc::clone(&store);
        async move {
            let batch = (0..events)
                .map(|i| on_subject(format!("{writer}-{i}"), &format!("s{i}")))
                .collect();
            store.append(batch).await.expect("a wide batch appends");
        }
    };
    let narrow = |writer: usize| {
        let store = Arc::clone(&store);
        async move {
            for round in 0..20 {
                let batch = (0..10)
                    .map(|i| {
                        let subject = format!("s{}", (writer * 397 + round * 31 + i * 7) % 2_000);
                        on_subject(format!("n{writer}-{round}-{i}"), &subject)
                    })
                    .collect();
                store.append(batch).await.expect("a narrow batch appends");
            }
        }
    };
    futures::join!(
        wide("a", WIDE),
        wide("b", 2_000),
        futures::future::join_all((0..4).map(narrow))
    );
    let events = all(&*store).await;
    assert_eq!(events.len(), WIDE + 2_000 + 4 * 20 * 10);
    let mut versions = std::collections::HashMap::<String, i64>::new();
    for event in &events {
        let subject = event
            .subject()
            .expect("every event has a subject")
            .to_owned();
        let version = versions.entry(subject).or_default();
        *version += 1;
        assert_eq!(
            event.stream_version(),
            Some(*version),
            "{} in sequence order",
            event.id()
        );
    }
}

/// `stream` reads one subject from a version, in version order.
pub async fn stream_reads_from_a_version(store: &dyn EventStore) {
    let mut batch = Vec::new();
    for i in 1..=30 {
        batch.push(on_subject(format!("a{i}"), "a"));
        batch.push(on_subject(format!("b{i}"), "b"));
    }
    store.append(batch).await.unwrap();
    let from_1: Vec<_> = store.stream("a", 1).try_collect().await.unwrap();
    assert_eq!(from_1.len(), 30);
    assert!(from_1.iter().all(|e| e.subject() == Some("a")));
    let from_25: Vec<_> = store.stream("a", 25).try_collect().await.unwrap();
    let versions: Vec<_> = from_25
        .iter()
        .map(|e| e.stream_version().unwrap())
        .collect();
    assert_eq!(versions, [25, 26, 27, 28, 29, 30]);
    assert_eq!(from_25[0].id(), "a25");
    assert!(
        store
            .stream("a", 31)
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .stream("none", 1)
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .stream("b", -5)
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
            .len(),
        30
    );
}

/// Events without a subject belong to no stream.
pub async fn events_without_subject_have_no_stream_version(store: &dyn EventStore) {
    let result = store
        .append(vec![event("1"), on_subject("2", "s"), event("3")])
        .await
        .unwrap();
    let versions: Vec<_> = result.appended.iter().map(|a| a.stream_version).collect();
    assert_eq!(versions, [None, Some(1), None]);
    let stored = all(store).await;
    assert_eq!(stored[0].stream_version(), None);
    let sequences: Vec<_> = result.sequences().collect();
    assert!(sequences.windows(2).all(|w| w[0] < w[1]));
}

/// After `close`, calls fail with `Error::Closed`.
pub async fn closed_store_refuses_work(store: &dyn EventStore) {
    store.append(vec![event("1")]).await.unwrap();
    store.close().await.unwrap();
    assert!(matches!(
        store.append(vec![event("2")]).await,
        Err(Error::Closed)
    ));
    assert!(matches!(
        store.get("/testkit", "1").await,
        Err(Error::Closed)
    ));
    let read: Result<Vec<_>, _> = store.query(EventQuery::new()).try_collect().await;
    assert!(matches!(read, Err(Error::Closed)));
}

/// A read under way when the store closes yields its events in order, with none left
/// out or repeated, then fails with `Error::Closed` before its end, as
/// [`EventStore::close`] says every backend does: at its next page at the latest
/// (longer than two pages, so that a read paged by the store, or read ahead, crosses a
/// page boundary after the close), whether it is streamed or paged (a follower's,
/// bounded by a horizon); a read begun after the close fails with `Error::Closed`.
pub async fn a_read_under_way_at_close_ends_with_closed(store: &dyn EventStore) {
    const EVENTS: usize = 3_500;
    let batch: Vec<_> = (0..EVENTS).map(|i| event(format!("r{i}"))).collect();
    store.append(batch).await.unwrap();
    // A streamed and a paged read (a follower's, bounded by a horizon), each begun.
    let mut reads = Vec::new();
    for query in [
        EventQuery::new(),
        EventQuery::new().within_horizon(i64::MAX),
    ] {
        let mut read = store.query(query);
        let first = read.try_next().await.unwrap().expect("an event");
        reads.push((read, vec![first.id().to_owned()]));
    }
    store.close().await.unwrap();
    for (mut read, mut ids) in reads {
        let end = loop {
            match read.try_next().await {
                Ok(Some(e)) => ids.push(e.id().to_owned()),
                Ok(None) => break None,
                Err(e) => break Some(e),
            }
        };
        assert!(
            matches!(end, Some(Error::Closed)),
            "a read under way at close ends with Error::Closed, not {end:?} after {} events",
            ids.len()
        );
        assert!(ids.len() < EVENTS, "{} events read after close", ids.len());
        let expected: Vec<String> = (0..ids.len()).map(|i| format!("r{i}")).collect();
        assert_eq!(ids, expected, "events left out, repeated or out of order");
        assert!(
            read.try_next().await.unwrap().is_none(),
            "a read ended by the close stays ended"
        );
    }
    let after: Result<Vec<_>, _> = store.query(EventQuery::new()).try_collect().await;
    assert!(matches!(after, Err(Error::Closed)), "{after:?}");
}

#[allow(dead_code)]
fn _object_safe(store: Arc<dyn EventStore>) -> Arc<dyn EventStore> {
    store
}
