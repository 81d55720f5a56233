//! Subscriptions: every committed event once, in order, across catch-up and live, while
//! writers race, hold transactions open, roll back, and append from another process.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use eventstore_core::{Event, EventQuery, EventStore, Position, StoredEvent};
use eventstore_replay::Replayer;
use futures::StreamExt as _;

use super::ReplayFixture;
use super::common::seed;

const WRITERS: usize = 8;
const PER_WRITER: usize = 25;

/// Writer `w`'s `i`th event, on one of five subjects the writers share.
fn live_event(w: usize, i: usize) -> Event {
    Event::builder()
        .id(format!("w{w}-{i}"))
        .source("/shop")
        .ty("order.noted")
        .subject(format!("shared-{}", (w + i) % 5))
        .build()
        .expect("valid event")
}

/// Whether writer `w` holds its `i`th event open in a transaction of its own, and if so
/// whether it commits it.
fn held_open(w: usize, i: usize) -> Option<bool> {
    (i % 6 == 2).then_some(w % 2 == 1)
}

/// A subscription from the start, taken before 75 events are caught up on, receives
/// them and then what eight writers append meanwhile, racing on five shared subjects:
/// half of them through a second handle on the database (another process), some
/// events held open in transactions of their own, then committed (late) or rolled
/// back. It yields exactly the committed events, each once, in sequence order and in
/// each subject's version order, without stalling; nothing more after the last.
pub async fn subscriptions_see_every_event_once_across_catch_up_and_live<F: ReplayFixture>(
    fixture: F,
) {
    let fixture = Arc::new(fixture);
    let store: Arc<dyn EventStore> = Arc::clone(fixture.store()) as Arc<dyn EventStore>;
    let other: Arc<dyn EventStore> = Arc::new(F::open(&fixture.location()).await);
    let seeded = seed(&*store, 0..50).await;
    assert_eq!(seeded.appended.len(), 75);
    let replayer = Replayer::new(Arc::clone(&store));
    let mut subscription = replayer.subscribe(Position::Start, EventQuery::new());

    let mut expected: Vec<String> = (0..50)
        .flat_map(|order| {
            let paid = (order % 2 == 0).then(|| format!("order-{order}-paid"));
            std::iter::once(format!("order-{order}-created")).chain(paid)
        })
        .collect();
    for w in 0..WRITERS {
        for i in 0..PER_WRITER {
            if held_open(w, i) != Some(false) {
                expected.push(format!("w{w}-{i}"));
            }
        }
    }
    expected.sort_unstable();

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let fixture = Arc::clone(&fixture);
            let store = if w % 2 == 0 {
                Arc::clone(&store)
            } else {
                Arc::clone(&other)
            };
            tokio::spawn(async move {
                for i in 0..PER_WRITER {
                    let event = live_event(w, i);
                    match held_open(w, i) {
                        Some(commit) => {
                            let hold = Duration::from_millis(40);
                            fixture.append_held_open(event, hold, commit).await;
                        }
                        None => {
                            store
                                .append(vec![event])
                                .await
                                .expect("the append succeeds");
                        }
                    }
                }
            })
        })
        .collect();

    let mut seen: Vec<StoredEvent> = Vec::new();
    while seen.len() < expected.len() {
        // A hang guard, not a timing.
        let next = tokio::time::timeout(Duration::from_secs(20), subscription.next()).await;
        let next = next.unwrap_or_else(|_| panic!("stalled after {} events", seen.len()));
        seen.push(
            next.expect("the subscription goes on")
                .expect("the event reads"),
        );
    }
    for writer in writers {
        writer.await.expect("the writer finishes");
    }
    let extra = tokio::time::timeout(Duration::from_millis(400), subscription.next()).await;
    assert!(extra.is_err(), "an event after the last: {extra:?}");

    assert!(
        seen.windows(2).all(|w| w[0].sequence() < w[1].sequence()),
        "in sequence order, once each"
    );
    let mut ids: Vec<String> = seen.iter().map(|e| e.id().to_owned()).collect();
    ids.sort_unstable();
    assert_eq!(ids, expected, "exactly the committed events");
    let mut versions: BTreeMap<&str, i64> = BTreeMap::new();
    for e in &seen {
        let version = versions.entry(e.subject().expect("a subject")).or_default();
        *version += 1;
        assert_eq!(
            e.stream_version(),
            Some(*version),
            "{} out of its subject's order",
            e.id()
        );
    }
}
