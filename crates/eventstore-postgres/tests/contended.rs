//! Appends without expectations always succeed under contention: eight writers of
//! 100-event batches spread over 1,000 shared subjects (each batch locking ~95 of them),
//! every batch appended, each subject's versions 1..n without a gap or a repeat.

mod common;

use std::collections::HashMap;

use eventstore_core::{Event, EventQuery, EventStore as _};
use futures::TryStreamExt as _;

const WRITERS: usize = 8;
const BATCHES: usize = 40;
const BATCH: usize = 100;
const SUBJECTS: u64 = 1_000;

fn event(w: usize, b: usize, i: usize) -> Event {
    Event::builder()
        .id(format!("w{w}-b{b}-{i}"))
        .source("/contended")
        .ty("t")
        .subject(format!(
            "s{}",
            spread((w * 1_000_000 + b * 1_000 + i) as u64) % SUBJECTS
        ))
        .build()
        .expect("valid")
}

/// A bijective mix of the index (SplitMix64's finalizer): subjects in no order.
fn spread(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_batches_on_shared_subjects_all_append() {
    let schema = common::Schema::new("contended");
    let store = schema.open().await;
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for b in 0..BATCHES {
                    let batch = (0..BATCH).map(|i| event(w, b, i)).collect();
                    store
                        .append(batch)
                        .await
                        .expect("an append without expectations succeeds");
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("a writer finishes");
    }
    let events: Vec<_> = store
        .query(EventQuery::new())
        .try_collect()
        .await
        .expect("reads");
    assert_eq!(events.len(), WRITERS * BATCHES * BATCH);
    let mut versions: HashMap<String, Vec<i64>> = HashMap::new();
    for e in &events {
        versions
            .entry(e.subject().expect("a subject").to_owned())
            .or_default()
            .push(e.stream_version().expect("a version"));
    }
    for (subject, mut v) in versions {
        v.sort_unstable();
        let expected: Vec<i64> = (1..=v.len() as i64).collect();
        assert_eq!(v, expected, "versions of {subject}");
    }
}
