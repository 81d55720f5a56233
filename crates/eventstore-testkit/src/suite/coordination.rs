//! What followers keep in the store's database: checkpoints move only forward, a lease
//! has one holder at a time until it is released or expires, dead letters are kept per
//! relay in the order they came, and a subject's snapshot is the latest version saved.

use std::sync::Arc;
use std::time::Duration;

use eventstore_core::time::OffsetDateTime;
use eventstore_core::{Json, StoredEvent};

use crate::Coordination;
use crate::data::event;

/// Checkpoints start absent, move only forward (a smaller or equal position is ignored),
/// are kept per name, and a reset forgets one so that it can start again lower.
pub async fn checkpoints_move_only_forward(store: &dyn Coordination) {
    assert_eq!(store.load_checkpoint("relay/a").await.unwrap(), None);
    store.save_checkpoint("relay/a", 5).await.unwrap();
    store.save_checkpoint("relay/a", 3).await.unwrap();
    assert_eq!(store.load_checkpoint("relay/a").await.unwrap(), Some(5));
    store.save_checkpoint("relay/a", 5).await.unwrap();
    store.save_checkpoint("relay/a", 9).await.unwrap();
    assert_eq!(store.load_checkpoint("relay/a").await.unwrap(), Some(9));

    store.save_checkpoint("projection/b", 2).await.unwrap();
    assert_eq!(
        store.load_checkpoint("projection/b").await.unwrap(),
        Some(2)
    );
    assert_eq!(store.load_checkpoint("relay/a").await.unwrap(), Some(9));
    // Names are compared exactly.
    assert_eq!(store.load_checkpoint("Relay/a").await.unwrap(), None);
    assert_eq!(store.load_checkpoint("relay/a ").await.unwrap(), None);

    store.reset_checkpoint("relay/a").await.unwrap();
    assert_eq!(store.load_checkpoint("relay/a").await.unwrap(), None);
    store.save_checkpoint("relay/a", 1).await.unwrap();
    assert_eq!(store.load_checkpoint("relay/a").await.unwrap(), Some(1));
    // Resetting a name never saved is not an error.
    store.reset_checkpoint("never/saved").await.unwrap();
    assert_eq!(
        store.load_checkpoint("projection/b").await.unwrap(),
        Some(2)
    );
}

/// Saves racing on one name from many tasks, in no particular order, leave the highest.
pub async fn concurrent_checkpoint_saves_keep_the_highest(store: Arc<dyn Coordination>) {
    let tasks: Vec<_> = (0..8i64)
        .map(|task| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                // Each task saves every eighth position, highest first.
                for position in (1..=200i64).rev().filter(|p| p % 8 == task) {
                    store.save_checkpoint("racing", position).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(store.load_checkpoint("racing").await.unwrap(), Some(200));
}

/// A lease has one holder: others are refused while it holds, the holder extends it,
/// only the holder releases it, and once released another takes it.
pub async fn leases_are_exclusive_until_released(store: &dyn Coordination) {
    let long = Duration::from_secs(60);
    assert!(store.try_lease("job", "a", long).await.unwrap());
    assert!(!store.try_lease("job", "b", long).await.unwrap());
    assert!(
        store.try_lease("job", "a", long).await.unwrap(),
        "the holder extends"
    );
    // Another lease name is independent.
    assert!(store.try_lease("other job", "b", long).await.unwrap());

    store.release_lease("job", "b").await.unwrap();
    assert!(
        !store.try_lease("job", "b", long).await.unwrap(),
        "only the holder releases"
    );
    store.release_lease("job", "a").await.unwrap();
    assert!(store.try_lease("job", "b", long).await.unwrap());
    assert!(!store.try_lease("job", "a", long).await.unwrap());
    // Releasing a lease nobody took is not an error.
    store.release_lease("never taken", "a").await.unwrap();
}

/// A lease may be asked for as long as a `Duration` goes: it is held (for
/// [`eventstore_core::MAX_LEASE_TTL`], a century) like any other.
pub async fn leases_may_be_asked_for_any_time_to_live(store: &dyn Coordination) {
    assert!(
        store
            .try_lease("forever", "a", Duration::MAX)
            .await
            .unwrap()
    );
    assert!(
        !store
            .try_lease("forever", "b", Duration::MAX)
            .await
            .unwrap()
    );
    assert!(
        store
            .try_lease("forever", "a", Duration::MAX)
            .await
            .unwrap()
    );
    store.release_lease("forever", "a").await.unwrap();
    assert!(
        store
            .try_lease("forever", "b", Duration::MAX)
            .await
            .unwrap()
    );
    assert!(
        !store
            .try_lease("forever", "a", Duration::from_millis(1))
            .await
            .unwrap()
    );
}

/// A lease whose holder stops renewing it expires after its time to live, and then
/// another holder takes it.
pub async fn leases_expire_after_their_time_to_live(store: &dyn Coordination) {
    assert!(
        store
            .try_lease("job", "a", Duration::from_millis(200))
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        store
            .try_lease("job", "b", Duration::from_secs(60))
            .await
            .unwrap(),
        "an expired lease is taken"
    );
    assert!(
        !store
            .try_lease("job", "a", Duration::from_secs(60))
            .await
            .unwrap(),
        "the old holder lost it"
    );
}

/// Of many holders asking for a free lease at once, exactly one gets it.
pub async fn concurrent_lease_requests_have_one_winner(store: Arc<dyn Coordination>) {
    let tasks: Vec<_> = (0..8)
        .map(|holder| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .try_lease(
                        "contended",
                        &format!("holder {holder}"),
                        Duration::from_secs(60),
                    )
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut winners = 0;
    for task in tasks {
        winners += usize::from(task.await.unwrap());
    }
    assert_eq!(winners, 1);
}

async fn stored(store: &dyn Coordination, ids: &[&str]) -> Vec<StoredEvent> {
    store
        .append(ids.iter().map(|id| event(*id)).collect())
        .await
        .unwrap();
    let mut events = Vec::new();
    for id in ids {
        events.push(store.get("/testkit", id).await.unwrap().expect("appended"));
    }
    events
}

/// Dead letters are kept per relay, oldest first, naming the event and the error as
/// given, with the time the relay gave up.
pub async fn dead_letters_are_kept_per_relay_in_order(store: &dyn Coordination) {
    let events = stored(store, &["d1", "d2", "d3"]).await;
    let before = OffsetDateTime::now_utc();
    store
        .dead_letter("relay/r", &events[2], "refused: 422")
        .await
        .unwrap();
    store
        .dead_letter("relay/q", &events[1], "timed out")
        .await
        .unwrap();
    let long = format!("«{}» ✓", "x".repeat(10_000));
    store
        .dead_letter("relay/r", &events[0], &long)
        .await
        .unwrap();
    let after = OffsetDateTime::now_utc();

    let r = store.dead_letters("relay/r").await.unwrap();
    let seen: Vec<_> = r
        .iter()
        .map(|l| {
            (
                l.relay.as_str(),
                l.sequence,
                l.source.as_str(),
                l.id.as_str(),
                l.error.as_str(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                "relay/r",
                events[2].sequence(),
                "/testkit",
                "d3",
                "refused: 422"
            ),
            (
                "relay/r",
                events[0].sequence(),
                "/testkit",
                "d1",
                long.as_str()
            ),
        ]
    );
    // The database's clock may be another machine's: allow it a minute either way.
    let slack = eventstore_core::time::Duration::minutes(1);
    for letter in &r {
        assert!(
            letter.failed_at > before - slack && letter.failed_at < after + slack,
            "failed_at {} outside {before} … {after}",
            letter.failed_at
        );
    }
    let q = store.dead_letters("relay/q").await.unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!((q[0].id.as_str(), q[0].error.as_str()), ("d2", "timed out"));
    assert!(store.dead_letters("relay/none").await.unwrap().is_empty());
}

/// An error text any backend can keep: U+0000 (which PostgreSQL's `text` cannot hold)
/// becomes U+FFFD on every backend, and the rest is kept as given; a sender's error may
/// carry anything, and the relay must still be able to set its event aside.
pub async fn dead_letter_errors_keep_any_text(store: &dyn Coordination) {
    let events = stored(store, &["nul"]).await;
    store
        .dead_letter("relay/r", &events[0], "bad frame: \0\u{1}\u{7f} end")
        .await
        .unwrap();
    let letters = store.dead_letters("relay/r").await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].error, "bad frame: \u{fffd}\u{1}\u{7f} end");
}

/// A subject's snapshot is the latest version saved under its name: an older or equal
/// version is ignored, other names and subjects are apart, and the state reads back as
/// saved.
pub async fn snapshots_keep_the_latest_version(store: &dyn Coordination) {
    let state = |n: i64| Json::from(serde_json::json!({ "count": n, "note": "héllo ✓" }));
    assert!(
        store
            .load_snapshot("counter", "order-1")
            .await
            .unwrap()
            .is_none()
    );
    let before = OffsetDateTime::now_utc();
    store
        .save_snapshot("counter", "order-1", 4, state(4))
        .await
        .unwrap();
    let after = OffsetDateTime::now_utc();
    store
        .save_snapshot("counter", "order-1", 2, state(2))
        .await
        .unwrap();
    store
        .save_snapshot("counter", "order-1", 4, state(40))
        .await
        .unwrap();
    let kept = store
        .load_snapshot("counter", "order-1")
        .await
        .unwrap()
        .expect("saved");
    assert_eq!(
        (kept.subject.as_str(), kept.stream_version, &kept.state),
        ("order-1", 4, &state(4))
    );
    let slack = eventstore_core::time::Duration::minutes(1);
    assert!(kept.taken_at > before - slack && kept.taken_at < after + slack);

    store
        .save_snapshot("counter", "order-1", 7, state(7))
        .await
        .unwrap();
    store
        .save_snapshot("totals", "order-1", 1, state(1))
        .await
        .unwrap();
    store
        .save_snapshot("counter", "order-2", 3, state(3))
        .await
        .unwrap();
    let version = |s: Option<eventstore_core::Snapshot>| s.map(|s| (s.stream_version, s.state));
    assert_eq!(
        version(store.load_snapshot("counter", "order-1").await.unwrap()),
        Some((7, state(7)))
    );
    assert_eq!(
        version(store.load_snapshot("totals", "order-1").await.unwrap()),
        Some((1, state(1)))
    );
    assert_eq!(
        version(store.load_snapshot("counter", "order-2").await.unwrap()),
        Some((3, state(3)))
    );
}

/// Names no backend can keep (one holding U+0000, one over
/// [`MAX_NAME_BYTES`](eventstore_core::sql::text::MAX_NAME_BYTES)) are refused the same
/// way on every backend, as a configuration error naming them, and nothing is written;
/// a name of the longest length, in text no compression shortens, is kept.
pub async fn unkeepable_names_are_refused(store: &dyn Coordination) {
    fn refused<T: std::fmt::Debug>(result: eventstore_core::Result<T>, what: &str) {
        match result {
            Err(e @ eventstore_core::Error::Config(_)) => {
                assert!(e.to_string().contains(what), "{e} does not name the {what}");
            }
            other => panic!("a {what} no backend keeps was not refused: {other:?}"),
        }
    }
    let events = stored(store, &["n1"]).await;
    let ttl = Duration::from_secs(60);
    let state = Json::from(serde_json::json!({}));
    let longest: String =
        crate::data::unrepeated_text(eventstore_core::sql::text::MAX_NAME_BYTES).collect();
    let too_long = format!("{longest}x");
    for bad in ["a\0", too_long.as_str()] {
        refused(store.load_checkpoint(bad).await, "checkpoint name");
        refused(store.save_checkpoint(bad, 1).await, "checkpoint name");
        refused(store.reset_checkpoint(bad).await, "checkpoint name");
        refused(store.try_lease(bad, "a", ttl).await, "lease name");
        refused(store.try_lease("job", bad, ttl).await, "lease holder");
        refused(store.release_lease("job", bad).await, "lease holder");
        refused(
            store.dead_letter(bad, &events[0], "boom").await,
            "relay name",
        );
        refused(store.dead_letters(bad).await, "relay name");
        refused(
            store.save_snapshot(bad, "s", 1, state.clone()).await,
            "snapshot name",
        );
        refused(
            store.save_snapshot("n", bad, 1, state.clone()).await,
            "snapshot subject",
        );
        refused(store.load_snapshot("n", bad).await, "snapshot subject");
    }

    // Nothing was written: the other names are untouched.
    assert_eq!(store.load_checkpoint("a").await.unwrap(), None);
    assert!(store.try_lease("job", "b", ttl).await.unwrap());
    assert!(store.dead_letters("relay").await.unwrap().is_empty());
    assert!(store.load_snapshot("n", "s").await.unwrap().is_none());

    // The longest names are kept, as every key of every table.
    store.save_checkpoint(&longest, 7).await.unwrap();
    assert_eq!(store.load_checkpoint(&longest).await.unwrap(), Some(7));
    assert!(store.try_lease(&longest, &longest, ttl).await.unwrap());
    store
        .dead_letter(&longest, &events[0], "boom")
        .await
        .unwrap();
    assert_eq!(store.dead_letters(&longest).await.unwrap().len(), 1);
    store
        .save_snapshot(&longest, &longest, 1, state.clone())
        .await
        .unwrap();
    assert!(
        store
            .load_snapshot(&longest, &longest)
            .await
            .unwrap()
            .is_some()
    );
}

/// After `close`, every call fails with `Error::Closed`, whatever it is given: a batch
/// over the limits, an expectation on a subject no stream can have, a subject holding
/// U+0000 or an invalid query are not looked at first. Closing again is no error.
pub async fn every_call_on_a_closed_store_is_refused(store: &dyn Coordination) {
    use eventstore_core::{AppendOptions, Error, EventQuery, ExpectedVersion};
    use futures::TryStreamExt as _;

    fn closed<T: std::fmt::Debug>(result: eventstore_core::Result<T>, call: &str) {
        assert!(
            matches!(result, Err(Error::Closed)),
            "{call} on a closed store: {result:?}"
        );
    }
    let events = stored(store, &["c1"]).await;
    store.close().await.unwrap();
    store.close().await.unwrap();

    closed(store.append(vec![event("c2")]).await, "append");
    closed(store.append(Vec::new()).await, "an empty append");
    let oversized = crate::data::on_subject("c3", &"s".repeat(4096));
    closed(store.append(vec![oversized]).await, "an oversized append");
    let unheld = AppendOptions::new().expect("a\0b", ExpectedVersion::Exists);
    closed(
        store.append_with(vec![event("c4")], unheld).await,
        "an append expecting a stream no subject can have",
    );
    closed(store.get("/testkit", "c1").await, "get");
    closed(
        store.get("/testkit", "a\0b").await,
        "get of an id holding U+0000",
    );
    closed(store.stream_version("s").await, "stream_version");
    closed(
        store.stream_version("a\0b").await,
        "stream_version of a subject holding U+0000",
    );
    closed(store.horizon().await, "horizon");
    let read = |stream: eventstore_core::EventStream| stream.try_collect::<Vec<_>>();
    closed(read(store.query(EventQuery::new())).await, "query");
    closed(
        read(store.query(EventQuery::new().extension("Bad Name", "x"))).await,
        "an invalid query",
    );
    closed(read(store.stream("s", 1)).await, "stream");
    closed(
        read(store.stream("a\0b", 1)).await,
        "stream of a subject holding U+0000",
    );

    let ttl = Duration::from_secs(60);
    let state = Json::from(serde_json::json!({}));
    closed(store.load_checkpoint("c").await, "load_checkpoint");
    closed(store.save_checkpoint("c", 1).await, "save_checkpoint");
    closed(store.reset_checkpoint("c").await, "reset_checkpoint");
    closed(store.try_lease("l", "h", ttl).await, "try_lease");
    closed(store.release_lease("l", "h").await, "release_lease");
    closed(
        store.dead_letter("r", &events[0], "boom").await,
        "dead_letter",
    );
    closed(store.dead_letters("r").await, "dead_letters");
    closed(
        store.save_snapshot("n", "s", 1, state).await,
        "save_snapshot",
    );
    closed(store.load_snapshot("n", "s").await, "load_snapshot");
}
