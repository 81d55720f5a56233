//! Followers of the global order never skip an event that commits late with a smaller
//! sequence, never see one twice, and see each subject in stream-version order: 8
//! concurrent writers (plain appends, transactions held open a while, some rolled back,
//! several on the same subjects) and a follower paging with `after`.
//!
//! `GAP_REPEATS` sets how many rounds run (default 3), each on a fresh schema.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eventstore_core::{AppendOptions, Event, EventQuery, EventStore};
use eventstore_postgres::PostgresEventStore;
use eventstore_testkit::data::Rng;
use futures::TryStreamExt as _;

const WRITERS: usize = 8;
const ROUNDS_PER_WRITER: usize = 40;

fn event(id: String, subject: String) -> Event {
    Event::builder()
        .id(id)
        .source("/gap")
        .ty("gap.event")
        .subject(subject)
        .build()
        .expect("valid event")
}

async fn writer(store: PostgresEventStore, w: usize, committed: Arc<Mutex<HashSet<String>>>) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((w as u64 + 1) * 0x1234_5678));
    for round in 0..ROUNDS_PER_WRITER {
        let size = 1 + rng.below(4) as usize;
        let batch: Vec<Event> = (0..size)
            .map(|i| {
                // Half the events go to four shared subjects, the rest to the writer's own.
                let subject = if rng.below(2) == 0 {
                    format!("shared-{}", rng.below(4))
                } else {
                    format!("own-{w}")
                };
                event(format!("w{w}-r{round}-{i}"), subject)
            })
            .collect();
        let ids: Vec<String> = batch.iter().map(|e| e.id().to_owned()).collect();
        match rng.below(3) {
            0 => {
                store.append(batch).await.expect("plain append");
                committed.lock().unwrap().extend(ids);
            }
            _ => {
                let mut client = store.pool().get().await.expect("a connection");
                let tx = client.transaction().await.expect("a transaction");
                let appended = store.append_in(&*tx, batch, AppendOptions::new()).await;
                // Hold the transaction open: its sequences are taken, not yet visible.
                tokio::time::sleep(Duration::from_millis(rng.below(15))).await;
                match appended {
                    Ok(_) if rng.below(4) != 0 => {
                        tx.commit().await.expect("commit");
                        committed.lock().unwrap().extend(ids);
                    }
                    Ok(_) => tx.rollback().await.expect("rollback"),
                    // Another writer took one of the subjects' next version first.
                    Err(e) if e.is_conflict() => tx.rollback().await.expect("rollback"),
                    Err(e) => panic!("append in a transaction failed: {e}"),
                }
            }
        }
    }
}

/// Pages through the store with `after`, checking as it goes.
struct Follower {
    last: i64,
    seen: HashSet<String>,
    versions: HashMap<String, i64>,
    max_lag: i64,
}

impl Follower {
    async fn poll(&mut self, store: &PostgresEventStore) -> usize {
        let page: Vec<_> = store
            .query(EventQuery::new().after(self.last).limit(50))
            .try_collect()
            .await
            .expect("follower query");
        for e in &page {
            assert!(e.sequence() > self.last, "sequence went backwards");
            self.last = e.sequence();
            assert!(
                self.seen.insert(e.id().to_owned()),
                "event {} delivered twice",
                e.id()
            );
            let subject = e.subject().expect("every event has a subject").to_owned();
            let version = e.stream_version().expect("a stream version");
            let previous = self.versions.insert(subject.clone(), version).unwrap_or(0);
            assert_eq!(
                version,
                previous + 1,
                "subject {subject}: version {version} after {previous}"
            );
        }
        page.len()
    }
}

async fn round(repeat: usize) {
    let schema = common::Schema::new("gap");
    let store = schema.open().await;
    let committed = Arc::new(Mutex::new(HashSet::new()));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| tokio::spawn(writer(store.clone(), w, Arc::clone(&committed))))
        .collect();
    let mut follower = Follower {
        last: 0,
        seen: HashSet::new(),
        versions: HashMap::new(),
        max_lag: 0,
    };
    while !writers.iter().all(|w| w.is_finished()) {
        if follower.poll(&store).await == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        follower.max_lag = follower.max_lag.max(store.horizon().await.unwrap().lag());
    }
    for w in writers {
        w.await.expect("writer succeeded");
    }
    while follower.poll(&store).await > 0 {}
    let committed = committed.lock().unwrap().clone();
    let missed: Vec<_> = committed.difference(&follower.seen).collect();
    let phantom: Vec<_> = follower.seen.difference(&committed).collect();
    assert!(missed.is_empty(), "round {repeat}: skipped {missed:?}");
    assert!(
        phantom.is_empty(),
        "round {repeat}: not committed {phantom:?}"
    );
    let lag = store.horizon().await.unwrap();
    assert_eq!(lag.lag(), 0, "nothing in flight at the end");
    eprintln!(
        "round {repeat}: {} events followed, 0 skipped, 0 duplicated, max horizon lag {}",
        committed.len(),
        follower.max_lag
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn followers_never_skip_or_repeat() {
    let repeats = std::env::var("GAP_REPEATS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    for repeat in 0..repeats {
        round(repeat).await;
    }
}
