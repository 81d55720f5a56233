//! Replays: a subject's stream, a type from a time, any query, in order, stopping at a
//! failing handler; upcasters on what is read; snapshots that spare a replay.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eventstore_core::time::OffsetDateTime;
use eventstore_core::{Error, Event, EventQuery, EventStore, Position, SnapshotStore, StoredEvent};
use eventstore_replay::{BoxError, Replayer};
use futures::StreamExt as _;

use super::ReplayFixture;
use super::common::{order_event, seed};

/// The sequence the store gave the event `id` of source `/shop`.
async fn sequence_of(store: &dyn EventStore, id: &str) -> i64 {
    store
        .get("/shop", id)
        .await
        .expect("the get succeeds")
        .unwrap_or_else(|| panic!("{id} is stored"))
        .sequence()
}

/// A subject's replay gives its stream in version order, among other subjects' events;
/// a replay by type from a time gives the matching events in sequence order; a replay
/// whose handler fails stops at that event, naming its sequence and the handler's
/// error, having handed over nothing after it.
pub async fn replays_follow_a_subject_or_a_type_in_order_and_stop_at_a_failing_handler<F>(
    fixture: F,
) where
    F: ReplayFixture,
{
    let store: Arc<dyn EventStore> = Arc::clone(fixture.store()) as Arc<dyn EventStore>;
    seed(&*store, 0..10).await;
    // Eight notes on order 4, between events of order 5.
    let notes: Vec<Event> = (0..8)
        .flat_map(|i| {
            let note = |order: usize| {
                order_event(order, &format!("note{i}"))
                    .into_builder()
                    .ty("order.noted")
                    .build()
                    .expect("valid event")
            };
            [note(4), note(5)]
        })
        .collect();
    store.append(notes).await.expect("the notes append");
    let replayer = Replayer::new(Arc::clone(&store));

    let mut seen = Vec::new();
    let stats = replayer
        .replay_subject("order-4", |e| {
            seen.push((e.stream_version().expect("a version"), e.id().to_owned()));
            async { Ok::<_, BoxError>(()) }
        })
        .await
        .expect("the subject replays");
    let mut expected = vec![
        (1, "order-4-created".to_owned()),
        (2, "order-4-paid".to_owned()),
    ];
    expected.extend((0..8).map(|i| (i + 3, format!("order-4-note{i}"))));
    assert_eq!(seen, expected, "order-4's stream, in version order");
    assert_eq!(stats.events, 10);
    assert_eq!(
        stats.last_sequence,
        Some(sequence_of(&*store, "order-4-note7").await)
    );

    let mut paid = Vec::new();
    let from = OffsetDateTime::UNIX_EPOCH + Duration::from_secs(4);
    let stats = replayer
        .replay_by_type("order.paid", Some(from), |e| {
            paid.push(e.subject().expect("a subject").to_owned());
            async { Ok::<_, BoxError>(()) }
        })
        .await
        .expect("the type replays");
    assert_eq!(paid, ["order-4", "order-6", "order-8"]);
    assert_eq!(stats.events, 3);

    // A handler failing in a replay of everything.
    let failing_at = sequence_of(&*store, "order-3-created").await;
    let mut handled = Vec::new();
    let err = replayer
        .replay(EventQuery::new(), |e| {
            handled.push(e.sequence());
            fails_on(&e, "order-3-created", "bad data")
        })
        .await
        .expect_err("the replay stops");
    assert_eq!(err.failed_sequence(), Some(failing_at), "{err}");
    assert!(err.to_string().contains("bad data"), "{err}");
    assert_eq!(
        handled.len(),
        6,
        "stopped at the failing event: {handled:?}"
    );
    assert_eq!(handled.last(), Some(&failing_at));
    assert!(handled.windows(2).all(|w| w[0] < w[1]), "in sequence order");

    // And in a replay by type, with no time given.
    let failing_at = sequence_of(&*store, "order-4-note3").await;
    let mut handled = 0;
    let err = replayer
        .replay_by_type("order.noted", None, |e| {
            handled += 1;
            fails_on(&e, "order-4-note3", "no")
        })
        .await
        .expect_err("the replay stops");
    assert_eq!(err.failed_sequence(), Some(failing_at), "{err}");
    assert_eq!(handled, 7, "stopped at the failing note");
}

/// An upcaster turns what replays and subscriptions read into the current shape; the
/// stored event is unchanged.
pub async fn upcasters_apply_to_replays_and_subscriptions<F: ReplayFixture>(fixture: F) {
    let store: Arc<dyn EventStore> = Arc::clone(fixture.store()) as Arc<dyn EventStore>;
    store
        .append(vec![order_event(1, "created")])
        .await
        .expect("the append succeeds");
    let replayer = Replayer::new(Arc::clone(&store)).with_upcaster(|stored| {
        if stored.ty() == "order.created" {
            let renamed = stored
                .event()
                .clone()
                .into_builder()
                .ty("order.placed.v2")
                .build()?;
            return Ok(stored.with_event(renamed));
        }
        Ok(stored)
    });
    let mut types = Vec::new();
    replayer
        .replay_subject("order-1", |e| {
            types.push(e.ty().to_owned());
            async { Ok::<_, BoxError>(()) }
        })
        .await
        .expect("the subject replays");
    let mut live = replayer.subscribe(Position::Start, EventQuery::new());
    let first = tokio::time::timeout(Duration::from_secs(20), live.next())
        .await
        .expect("the subscription delivers")
        .expect("the subscription goes on")
        .expect("the event reads");
    types.push(first.ty().to_owned());
    assert_eq!(types, ["order.placed.v2", "order.placed.v2"]);
    let stored = store
        .get("/shop", "order-1-created")
        .await
        .expect("the get succeeds")
        .expect("the event is stored");
    assert_eq!(
        stored.ty(),
        "order.created",
        "the stored event is unchanged"
    );
}

/// Loading from a snapshot folds only the events after it; an older snapshot never
/// replaces a newer one; a state that does not serialize, or a kept one that does not
/// deserialize into the state's type, is `Error::SnapshotState` naming the snapshot; a
/// version the stream has not had is `Error::Config`; neither saves anything.
pub async fn snapshots_replay_only_what_came_after<F: ReplayFixture>(fixture: F) {
    let store = Arc::clone(fixture.store());
    let events: Vec<Event> = (1..=10)
        .map(|i| {
            Event::builder()
                .id(format!("{i}"))
                .source("/c")
                .ty("added")
                .subject("counter")
                .build()
                .expect("valid event")
        })
        .collect();
    store
        .append(events[..6].to_vec())
        .await
        .expect("the append succeeds");
    let replayer = Replayer::new(Arc::clone(&store) as Arc<dyn EventStore>);
    let applied = Arc::new(Mutex::new(0));
    let count = |applied: Arc<Mutex<i32>>| {
        move |state: i64, _: &StoredEvent| {
            *applied.lock().expect("not poisoned") += 1;
            Ok(state + 1)
        }
    };
    let (state, version) = replayer
        .load(
            &*store,
            "count",
            "counter",
            0i64,
            count(Arc::clone(&applied)),
        )
        .await
        .expect("the state loads");
    assert_eq!((state, version), (6, 6));
    replayer
        .save_snapshot(&*store, "count", "counter", version, &state)
        .await
        .expect("the snapshot saves");
    store
        .append(events[6..].to_vec())
        .await
        .expect("the append succeeds");
    *applied.lock().expect("not poisoned") = 0;
    let (state, version) = replayer
        .load(
            &*store,
            "count",
            "counter",
            0i64,
            count(Arc::clone(&applied)),
        )
        .await
        .expect("the state loads");
    assert_eq!((state, version), (10, 10));
    assert_eq!(
        *applied.lock().expect("not poisoned"),
        4,
        "only the events after the snapshot"
    );
    replayer
        .save_snapshot(&*store, "count", "counter", 3, &3i64)
        .await
        .expect("the snapshot saves");
    let (state, _) = replayer
        .load(&*store, "count", "counter", 0i64, |s, _| Ok(s + 1))
        .await
        .expect("the state loads");
    assert_eq!(state, 10, "an older snapshot never replaces a newer one");

    // A state that does not serialize (JSON keys are strings) is refused as the
    // snapshot's, naming it, and nothing is saved; one whose kept JSON is not the state
    // type's any more is refused so on loading.
    let unserializable = BTreeMap::from([((1, 2), 3)]);
    let refused = replayer
        .save_snapshot(&*store, "count", "counter", 10, &unserializable)
        .await
        .expect_err("a state that is not JSON is refused");
    assert!(
        matches!(&refused, Error::SnapshotState { name, subject, saving: true, .. }
            if name == "count" && subject == "counter"),
        "{refused:?}"
    );
    assert!(
        refused.to_string().contains("does not serialize to JSON"),
        "{refused}"
    );
    // A version the stream has not had is refused, naming it, and nothing is saved.
    for version in [-1, 11, i64::MAX] {
        let refused = replayer
            .save_snapshot(&*store, "count", "counter", version, &0i64)
            .await
            .expect_err("a version the stream has not had is refused");
        assert!(
            matches!(&refused, Error::Config(message)
                if message.contains(&format!("at stream version {version}: the stream is at version 10"))),
            "{refused}"
        );
    }
    let kept = store
        .load_snapshot("count", "counter")
        .await
        .expect("the snapshot loads")
        .expect("a snapshot is kept");
    assert_eq!(kept.stream_version, 6, "nothing was saved");
    let refused = replayer
        .load(&*store, "count", "counter", String::new(), |s, _| Ok(s))
        .await
        .expect_err("a number is not a string");
    assert!(
        matches!(&refused, Error::SnapshotState { name, subject, saving: false, .. }
            if name == "count" && subject == "counter"),
        "{refused:?}"
    );
}

/// A handler's outcome that fails, with `message`, on the event `id` only.
fn fails_on(
    event: &StoredEvent,
    id: &str,
    message: &'static str,
) -> std::future::Ready<Result<(), BoxError>> {
    std::future::ready(if event.id() == id {
        Err(message.into())
    } else {
        Ok(())
    })
}
