//! Followers: every event once, in order, across the catch-up and live hand-over.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use eventstore_core::{Error, EventQuery, EventStore, EventStream, Position, StoredEvent, follow};
use futures::StreamExt as _;

use crate::data::{event, on_subject};

/// Takes `n` events from a follower, failing if they do not arrive within 20 s.
async fn take(stream: &mut EventStream, n: usize) -> Vec<StoredEvent> {
    let mut events = Vec::with_capacity(n);
    while events.len() < n {
        match tokio::time::timeout(Duration::from_secs(20), stream.next()).await {
            Ok(Some(Ok(event))) => events.push(event),
            Ok(Some(Err(e))) => panic!("follower failed: {e}"),
            Ok(None) => panic!("follower ended after {} of {n} events", events.len()),
            Err(_) => panic!("follower stalled after {} of {n} events", events.len()),
        }
    }
    events
}

/// Nothing more arrives within a short wait.
async fn quiet(stream: &mut EventStream) {
    let next = tokio::time::timeout(Duration::from_millis(300), stream.next()).await;
    assert!(next.is_err(), "unexpected event: {next:?}");
}

fn ids(events: &[StoredEvent]) -> Vec<&str> {
    events.iter().map(|e| e.id()).collect()
}

/// A follower from the start catches up, then receives appends as they commit; one from
/// a checkpoint starts after it; one from "now" sees only new events; the horizon of an
/// idle store is its head.
pub async fn followers_catch_up_then_follow_live(store: Arc<dyn EventStore>) {
    store
        .append((0..5).map(|i| event(format!("old{i}"))).collect())
        .await
        .unwrap();
    let horizon = store.horizon().await.unwrap();
    assert_eq!(horizon.lag(), 0);
    let last_old = horizon.head;
    let mut from_start = follow(Arc::clone(&store), EventQuery::new(), Position::Start);
    let mut from_now = follow(Arc::clone(&store), EventQuery::new(), Position::Now);
    let mut from_checkpoint = follow(
        Arc::clone(&store),
        EventQuery::new(),
        Position::After(last_old - 2),
    );
    assert_eq!(
        ids(&take(&mut from_start, 5).await),
        ["old0", "old1", "old2", "old3", "old4"]
    );
    assert_eq!(ids(&take(&mut from_checkpoint, 2).await), ["old3", "old4"]);
    quiet(&mut from_now).await;
    store
        .append(vec![event("new0"), event("new1")])
        .await
        .unwrap();
    assert_eq!(ids(&take(&mut from_start, 2).await), ["new0", "new1"]);
    assert_eq!(ids(&take(&mut from_now, 2).await), ["new0", "new1"]);
    assert_eq!(ids(&take(&mut from_checkpoint, 2).await), ["new0", "new1"]);
    quiet(&mut from_start).await;
    assert_eq!(store.horizon().await.unwrap().safe, last_old + 2);
}

/// A follower with a filter yields only matching events and keeps up as others pass.
pub async fn followers_apply_filters(store: Arc<dyn EventStore>) {
    let query = EventQuery::new().subject("wanted");
    let mut follower = follow(Arc::clone(&store), query, Position::Start);
    store
        .append(vec![
            on_subject("1", "other"),
            on_subject("2", "wanted"),
            on_subject("3", "other"),
        ])
        .await
        .unwrap();
    assert_eq!(ids(&take(&mut follower, 1).await), ["2"]);
    store
        .append(
            (4..40)
                .map(|i| on_subject(i.to_string(), "other"))
                .collect(),
        )
        .await
        .unwrap();
    store
        .append(vec![on_subject("40", "wanted")])
        .await
        .unwrap();
    assert_eq!(ids(&take(&mut follower, 1).await), ["40"]);
    quiet(&mut follower).await;
}

/// A follower whose filter no store can run (an extension name that is not one) fails
/// with `Error::InvalidQuery` as soon as it is polled, from any position and on a
/// store with no event after it, rather than waiting for the next append to find out.
pub async fn followers_refuse_an_invalid_filter_at_once(store: Arc<dyn EventStore>) {
    let bad = EventQuery::new().extension("BAD", "1");
    for from in [Position::Start, Position::Now, Position::After(0)] {
        let mut follower = follow(Arc::clone(&store), bad.clone(), from);
        match tokio::time::timeout(Duration::from_secs(5), follower.next()).await {
            Ok(Some(Err(Error::InvalidQuery(message)))) => {
                assert!(message.contains("\"BAD\""), "{from:?}: {message}");
            }
            other => panic!("{from:?}: expected InvalidQuery at once, got {other:?}"),
        }
        assert!(
            follower.next().await.is_none(),
            "{from:?}: a failed follower ends"
        );
    }
}

/// Eight writers append to shared subjects while a follower runs: it sees every event
/// exactly once, in sequence order, and each subject in stream-version order.
pub async fn followers_see_concurrent_appends_once_in_order(store: Arc<dyn EventStore>) {
    const WRITERS: usize = 8;
    const BATCHES: usize = 25;
    let mut follower = follow(Arc::clone(&store), EventQuery::new(), Position::Start);
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                for b in 0..BATCHES {
                    let size = 1 + (w + b) % 3;
                    let batch = (0..size)
                        .map(|i| {
                            on_subject(
                                format!("w{w}-b{b}-{i}"),
                                &format!("subject-{}", (w + b) % 5),
                            )
                        })
                        .collect();
                    store.append(batch).await.unwrap();
                }
            })
        })
        .collect();
    let expected: usize = (0..WRITERS)
        .flat_map(|w| (0..BATCHES).map(move |b| 1 + (w + b) % 3))
        .sum();
    let seen = take(&mut follower, expected).await;
    for writer in writers {
        writer.await.unwrap();
    }
    quiet(&mut follower).await;
    assert!(
        seen.windows(2).all(|w| w[0].sequence() < w[1].sequence()),
        "sequence order"
    );
    let mut versions: HashMap<&str, i64> = HashMap::new();
    for event in &seen {
        let subject = event.subject().unwrap();
        let version = event.stream_version().unwrap();
        let previous = versions.insert(subject, version).unwrap_or(0);
        assert_eq!(version, previous + 1, "{subject} out of order");
    }
    let mut unique: Vec<&str> = ids(&seen);
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), expected, "no duplicates");
}
