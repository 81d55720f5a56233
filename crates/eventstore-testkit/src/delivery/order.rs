//! Delivery order: every committed event once, in sequence order, in batches, from the
//! relay's checkpoint on.

use std::sync::Arc;
use std::time::{Duration, Instant};

use eventstore_core::StoredEvent;

use super::{Handle, append_numbered, created, spawn};
use crate::sender::Recorder;

/// A relay delivers a backlog and then live appends in sequence order, and its lag
/// falls from the backlog's size to zero; restarted, a relay of the same name delivers
/// only what came after its checkpoint.
pub async fn relay_delivers_in_order_and_resumes_from_its_checkpoint(handle: &Handle) {
    append_numbered(handle, 0..250).await;
    let sender = Arc::new(Recorder::default());
    let relay = handle
        .relay("r", sender.clone())
        .batch_size(40)
        .expect("a valid batch size");
    assert_eq!(relay.lag().await.unwrap(), 250);
    let (stop, task) = spawn(relay);
    sender.wait_for(250).await;
    // Live: appended after the catch-up.
    append_numbered(handle, 250..260).await;
    sender.wait_for(260).await;
    stop.cancel();
    let stats = task.await.unwrap().unwrap();
    assert_eq!(stats.delivered, 260);
    let sequences = sender.sequences();
    assert!(
        sequences.windows(2).all(|w| w[0] < w[1]),
        "in sequence order"
    );
    let relay = handle.relay("r", sender.clone());
    assert_eq!(relay.lag().await.unwrap(), 0);

    // Restarted: nothing is delivered twice.
    let (stop, task) = spawn(relay);
    append_numbered(handle, 260..265).await;
    sender.wait_for(265).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.cancel();
    task.await.unwrap().unwrap();
    assert_eq!(sender.ids(), super::numbered_ids(0..265));
}

/// A backlog drains in full batches; a live event is sent after the linger without
/// waiting for a batch to fill.
pub async fn a_backlog_drains_in_full_batches_and_a_lone_event_waits_only_the_linger(
    handle: &Handle,
) {
    append_numbered(handle, 0..250).await;
    let sender = Arc::new(Recorder::default());
    // A linger long enough that a read slowed by a loaded machine still fills the
    // backlog's batches.
    let linger = Duration::from_secs(1);
    let relay = handle
        .relay("r", sender.clone())
        .batch_size(100)
        .expect("a valid batch size")
        .linger(linger);
    let (stop, task) = spawn(relay);
    sender.wait_for(250).await;
    assert_eq!(sender.batch_sizes(), [100, 100, 50]);
    let appended = Instant::now();
    append_numbered(handle, 250..251).await;
    sender.wait_for(251).await;
    let waited = appended.elapsed();
    assert_eq!(sender.batch_sizes(), [100, 100, 50, 1]);
    assert!(
        waited >= linger && waited < Duration::from_secs(5),
        "a lone event waits the linger, then goes alone: {waited:?}"
    );
    stop.cancel();
    task.await.unwrap().unwrap();
}

/// Eight writers append while the relay runs: it delivers exactly the events the store
/// holds, each once, in sequence order.
pub async fn concurrent_writers_while_the_relay_runs_lose_nothing(handle: &Handle) {
    let sender = Arc::new(Recorder::default());
    let (stop, task) = spawn(
        handle
            .relay("r", sender.clone())
            .batch_size(25)
            .expect("a valid batch size"),
    );
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let store = Arc::clone(handle.store());
            tokio::spawn(async move {
                for i in 0..30 {
                    store
                        .append(vec![created(&format!("w{w}-{i}"))])
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    sender.wait_for(240).await;
    // Long enough for a repeat to show, were one coming.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.cancel();
    task.await.unwrap().unwrap();
    let sequences = sender.sequences();
    assert_eq!(sequences.len(), 240, "every committed event, once");
    assert!(
        sequences.windows(2).all(|w| w[0] < w[1]),
        "in sequence order"
    );
    let stored: Vec<i64> = crate::data::all(&**handle.store())
        .await
        .iter()
        .map(StoredEvent::sequence)
        .collect();
    assert_eq!(sequences, stored, "exactly the events the store holds");
}
