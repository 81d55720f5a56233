//! Concurrency stress: writers racing on shared streams, some of their batches rolled
//! back, some transactions held open, while a live follower and an outbox relay read
//! along. Afterwards every committed event was seen exactly once by each, in sequence
//! order, and nothing rolled back was seen at all.
//!
//! The harness is backend-agnostic; a backend supplies the store, the relay's
//! [`Recorder`] (its relay running) and optionally a [`Hold`] that appends inside a
//! transaction of its own kept open a while.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eventstore_core::{Event, EventQuery, EventStore, Position, Result, StoredEvent, follow};
use futures::TryStreamExt as _;
use futures::future::BoxFuture;

use crate::data::Rng;
use crate::sender::Recorder;

/// How big a run is: `cargo xtask test` runs [`short`](Self::short), `cargo xtask
/// stress` sets `STRESS_EVENTS` and `STRESS_REPEATS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StressSize {
    /// Concurrent writers.
    pub writers: usize,
    /// Events each writer attempts (committed or not).
    pub events_per_writer: usize,
    /// Rounds, each on a fresh store.
    pub repeats: usize,
}

impl StressSize {
    /// The CI size: 8 writers × 250 events, once.
    pub fn short() -> Self {
        Self {
            writers: 8,
            events_per_writer: 250,
            repeats: 1,
        }
    }

    /// [`short`](Self::short), unless `STRESS_EVENTS` (events per writer) or
    /// `STRESS_REPEATS` say otherwise.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().and_then(|v| v.parse().ok());
        let short = Self::short();
        Self {
            writers: short.writers,
            events_per_writer: var("STRESS_EVENTS").unwrap_or(short.events_per_writer),
            repeats: var("STRESS_REPEATS").unwrap_or(short.repeats),
        }
    }
}

/// Appends a batch inside a transaction held open for the duration, then commits it
/// (`true`) or rolls it back (`false`); returns whether the events committed (a
/// conflict with a racing writer rolls back too).
pub type Hold =
    Arc<dyn Fn(Vec<Event>, Duration, bool) -> BoxFuture<'static, Result<bool>> + Send + Sync>;

/// What one round saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StressReport {
    /// Events committed (and each seen once by the follower and the relay).
    pub committed: usize,
    /// Events in batches refused or rolled back (seen by no one).
    pub rolled_back: usize,
    /// Batches appended in a transaction held open.
    pub held: usize,
}

#[derive(Default)]
struct Ledger {
    committed: HashSet<String>,
    rolled_back: HashSet<String>,
    held: usize,
}

fn stress_event(id: String, subject: String) -> Event {
    Event::builder()
        .id(id)
        .source("/stress")
        .ty("stress.event")
        .subject(subject)
        .build()
        .expect("valid event")
}

async fn writer(
    store: Arc<dyn EventStore>,
    hold: Option<Hold>,
    w: usize,
    events: usize,
    ledger: Arc<Mutex<Ledger>>,
    seed: u64,
) {
    let mut rng = Rng(seed ^ (w as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut first_committed: Option<Event> = None;
    let mut written = 0;
    while written < events {
        let size = (1 + rng.below(8) as usize).min(events - written);
        let mut batch: Vec<Event> = (0..size)
            .map(|i| {
                // Half the events go to four shared subjects, the rest to the writer's own.
                let subject = match rng.below(2) {
                    0 => format!("shared-{}", rng.below(4)),
                    _ => format!("own-{w}"),
                };
                stress_event(format!("w{w}-{}", written + i), subject)
            })
            .collect();
        written += size;
        let ids: Vec<String> = batch.iter().map(|e| e.id().to_owned()).collect();
        let committed = match (rng.below(8), &hold, &first_committed) {
            // A batch ending in an event already stored: refused whole.
            (0, _, Some(stored)) => {
                batch.push(stored.clone());
                let error = store.append(batch.clone()).await.expect_err("a duplicate");
                assert!(error.is_duplicate(), "{error}");
                false
            }
            (1 | 2, Some(hold), _) => {
                let commit = rng.below(3) != 0;
                let held_for = Duration::from_millis(rng.below(10));
                ledger.lock().expect("not poisoned").held += 1;
                hold(batch.clone(), held_for, commit)
                    .await
                    .expect("a held append")
            }
            _ => {
                store.append(batch.clone()).await.expect("a plain append");
                true
            }
        };
        if committed && first_committed.is_none() {
            first_committed = batch.first().cloned();
        }
        let mut ledger = ledger.lock().expect("not poisoned");
        let set = if committed {
            &mut ledger.committed
        } else {
            &mut ledger.rolled_back
        };
        set.extend(ids);
    }
}

/// Checks a sequence-ordered delivery: strictly increasing sequences, each subject's
/// versions consecutive; returns the ids.
pub(crate) fn check_order(who: &str, events: &[StoredEvent]) -> HashSet<String> {
    let mut versions: HashMap<&str, i64> = HashMap::new();
    let mut last = 0;
    let mut ids = HashSet::new();
    for e in events {
        assert!(
            e.sequence() > last,
            "{who}: sequence {} after {last}",
            e.sequence()
        );
        last = e.sequence();
        assert!(ids.insert(e.id().to_owned()), "{who}: {} twice", e.id());
        let subject = e.subject().expect("every stress event has a subject");
        let version = e.stream_version().expect("a stream version");
        let previous = versions.insert(subject, version).unwrap_or(0);
        assert_eq!(
            version,
            previous + 1,
            "{who}: {subject} at {version} after {previous}"
        );
    }
    ids
}

/// One round on `store`: `size.writers` writers of `size.events_per_writer` events, a
/// follower from the start, and the relay whose sender is `relayed`. Panics on the
/// first event skipped, duplicated, out of order or seen though rolled back.
pub async fn writers_followed_and_relayed(
    store: Arc<dyn EventStore>,
    relayed: Arc<Recorder>,
    hold: Option<Hold>,
    size: StressSize,
) -> StressReport {
    // Each round its own mix of batches, refusals and held transactions.
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64 | 1);
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let follower = follow(Arc::clone(&store), EventQuery::new(), Position::Start);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let following = {
        let seen = Arc::clone(&seen);
        tokio::spawn(follower.try_for_each(move |e| {
            seen.lock().expect("not poisoned").push(e);
            futures::future::ready(Ok(()))
        }))
    };
    let writers: Vec<_> = (0..size.writers)
        .map(|w| {
            let (store, hold, ledger) = (Arc::clone(&store), hold.clone(), Arc::clone(&ledger));
            tokio::spawn(writer(store, hold, w, size.events_per_writer, ledger, seed))
        })
        .collect();
    for w in writers {
        w.await.expect("a writer panicked");
    }
    let ledger = std::mem::take(&mut *ledger.lock().expect("not poisoned"));
    let expected = ledger.committed.len();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while seen.lock().expect("not poisoned").len() < expected
        || relayed.sequences().len() < expected
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "follower saw {}, relay {}, of {expected} committed",
            seen.lock().expect("not poisoned").len(),
            relayed.sequences().len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Anything delivered late and wrongly would arrive now.
    tokio::time::sleep(Duration::from_millis(100)).await;
    following.abort();
    let stored: Vec<StoredEvent> = store
        .query(EventQuery::new())
        .try_collect()
        .await
        .expect("a full read");
    let followed = seen.lock().expect("not poisoned").clone();
    let relayed_ids = relayed.ids();
    for (who, events) in [("store", &stored), ("follower", &followed)] {
        let ids = check_order(who, events);
        assert_eq!(
            ids, ledger.committed,
            "{who}: not exactly the committed events"
        );
    }
    let relayed_set: HashSet<String> = relayed_ids.iter().cloned().collect();
    assert_eq!(relayed_ids.len(), relayed_set.len(), "relay: duplicates");
    assert_eq!(
        relayed_set, ledger.committed,
        "relay: not exactly the committed events"
    );
    assert!(
        relayed.sequences().windows(2).all(|w| w[0] < w[1]),
        "relay: out of order"
    );
    assert!(ledger.rolled_back.is_disjoint(&ledger.committed));
    StressReport {
        committed: expected,
        rolled_back: ledger.rolled_back.len(),
        held: ledger.held,
    }
}
