//! An unavailable destination: sends the sender fails with [`Unavailable`] are waited
//! out, for longer than any number of attempts, and nothing is dead-lettered or
//! checkpointed past an undelivered event; errors that are the events' fault keep
//! their retries and dead letters.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use eventstore_core::{SendError, Sender, StoredEvent, Unavailable};
use eventstore_outbox::EventStoreSender;

use super::failures::quick_retries;
use super::{Handle, append_numbered, numbered_ids, spawn};
use crate::sender::Recorder;

/// Sends of the quick retry policy an event gets before it is dead-lettered.
const ATTEMPTS: u32 = 3;

/// A linger long enough that a batch fills from the backlog even on a loaded machine,
/// so that the sends' order (which call gets which events) is known.
const FILL: Duration = Duration::from_secs(5);

/// A destination unavailable for twelve sends (four times the attempts a batch, or
/// then each of its events, gets before it is given up on) and then back: the batch is
/// sent again until it goes through, whole, and every event is delivered in order,
/// nothing dead-lettered, the checkpoint at the last event.
pub async fn an_unavailable_destination_is_waited_out_without_dead_letters(handle: &Handle) {
    let appended = append_numbered(handle, 0..10).await;
    let last = appended.appended[9].sequence;
    let sender = Arc::new(Recorder::default().unavailable_on(1..=4 * ATTEMPTS));
    let relay = handle
        .relay("outage", sender.clone())
        .batch_size(10)
        .expect("a valid batch size")
        .linger(FILL)
        .retry(quick_retries())
        .expect("a valid retry policy");
    let (stop, task) = spawn(relay);
    sender.wait_for(10).await;
    stop.cancel();
    let stats = task.await.unwrap().unwrap();

    assert_eq!(sender.ids(), numbered_ids(0..10), "every event, in order");
    assert_eq!(sender.batch_sizes(), [10], "the batch went out whole");
    assert_eq!(
        (
            stats.delivered,
            stats.failed_attempts,
            stats.unavailable_attempts,
            stats.dead_lettered
        ),
        (10, 12, 12, 0)
    );
    assert!(
        handle
            .store()
            .dead_letters("outage")
            .await
            .unwrap()
            .is_empty(),
        "nothing dead-lettered"
    );
    assert_eq!(
        handle
            .store()
            .load_checkpoint("relay/outage")
            .await
            .unwrap(),
        Some(last)
    );
}

/// A destination that goes down for good after the first batch: shutdown, well past
/// the attempts that would have dead-lettered the next batch's events, returns with
/// nothing dead-lettered and the checkpoint at the first batch; a relay run again once
/// the destination is back delivers the rest, in order.
pub async fn shutdown_during_an_outage_returns_with_the_checkpoint_before_undelivered_events(
    handle: &Handle,
) {
    let first = append_numbered(handle, 0..5).await;
    let delivered_up_to = first.appended[4].sequence;
    let sender = Arc::new(Recorder::default().unavailable_on(2..=u32::MAX));
    let relay = handle
        .relay("down", sender.clone())
        .batch_size(5)
        .expect("a valid batch size")
        .linger(FILL)
        .retry(quick_retries())
        .expect("a valid retry policy");
    let (stop, task) = spawn(relay);
    sender.wait_for(5).await;
    append_numbered(handle, 5..10).await;
    // The second batch's attempts, then those of four of its events one by one.
    sender.wait_for_calls(1 + 5 * ATTEMPTS).await;
    stop.cancel();
    // A hang guard, not a timing.
    let stats = tokio::time::timeout(Duration::from_secs(120), task)
        .await
        .expect("run returned after shutdown")
        .unwrap()
        .unwrap();

    assert_eq!(sender.ids(), numbered_ids(0..5));
    assert_eq!((stats.delivered, stats.dead_lettered), (5, 0));
    assert!(
        stats.unavailable_attempts >= u64::from(5 * ATTEMPTS),
        "{stats:?}"
    );
    assert_eq!(
        stats.failed_attempts, stats.unavailable_attempts,
        "{stats:?}"
    );
    assert!(
        handle
            .store()
            .dead_letters("down")
            .await
            .unwrap()
            .is_empty(),
        "nothing dead-lettered"
    );
    assert_eq!(
        handle.store().load_checkpoint("relay/down").await.unwrap(),
        Some(delivered_up_to),
        "the checkpoint is not past an undelivered event"
    );

    let back = Arc::new(Recorder::default());
    let relay = handle
        .relay("down", back.clone())
        .retry(quick_retries())
        .expect("a valid retry policy");
    let (stop, task) = spawn(relay);
    back.wait_for(5).await;
    stop.cancel();
    task.await.unwrap().unwrap();
    assert_eq!(back.ids(), numbered_ids(5..10), "the rest, in order");
}

/// A sender refusing one event for good (the event's fault), whose destination goes
/// down while the refused batch is being sent event by event: the outage is waited out
/// and dead-letters nothing; only the refused event is dead-lettered, after its
/// attempts, and every other event is delivered, in order.
pub async fn an_outage_during_the_one_by_one_pass_dead_letters_only_the_refused_event(
    handle: &Handle,
) {
    let appended = append_numbered(handle, 0..10).await;
    let refused = appended.appended[4].sequence;
    let last = appended.appended[9].sequence;
    // After the batch's attempts, down for nine sends: three events' worth.
    let sender =
        Arc::new(Recorder::refusing("o4-created").unavailable_on(ATTEMPTS + 1..=4 * ATTEMPTS));
    let relay = handle
        .relay("partial", sender.clone())
        .batch_size(10)
        .expect("a valid batch size")
        .linger(FILL)
        .retry(quick_retries())
        .expect("a valid retry policy");
    let (stop, task) = spawn(relay);
    // The refused event is set aside before the events after it are sent.
    sender.wait_for(9).await;
    stop.cancel();
    let stats = task.await.unwrap().unwrap();

    let mut others = numbered_ids(0..10);
    others.remove(4);
    assert_eq!(sender.ids(), others, "every other event, in order");
    assert_eq!(
        (
            stats.delivered,
            stats.failed_attempts,
            stats.unavailable_attempts,
            stats.dead_lettered
        ),
        (9, 5 * ATTEMPTS as u64, 3 * ATTEMPTS as u64, 1)
    );
    let letters = handle.store().dead_letters("partial").await.unwrap();
    let letters: Vec<_> = letters
        .iter()
        .map(|l| (l.sequence, l.id.as_str()))
        .collect();
    assert_eq!(letters, [(refused, "o4-created")], "only the refused event");
    assert_eq!(
        handle
            .store()
            .load_checkpoint("relay/partial")
            .await
            .unwrap(),
        Some(last)
    );
}

/// An [`EventStoreSender`] to a store that is closed (on another handle): its failures
/// are the destination's, so the relay keeps trying, far past its attempts, and
/// dead-letters and checkpoints nothing.
pub async fn a_closed_destination_store_is_waited_out(source: &Handle, destination: &Handle) {
    append_numbered(source, 0..3).await;
    destination.store().close().await.unwrap();
    let sender = Arc::new(Watched {
        inner: EventStoreSender::new(Arc::clone(&destination.fixture.store)),
        unavailable: AtomicU32::new(0),
    });
    let relay = source
        .relay("archive", sender.clone())
        .retry(quick_retries())
        .expect("a valid retry policy");
    let (stop, task) = spawn(relay);
    // Long past the attempts the batch and each of its events get.
    sender.wait_for_unavailable(4 * ATTEMPTS).await;
    stop.cancel();
    let stats = task.await.unwrap().unwrap();

    assert_eq!((stats.delivered, stats.dead_lettered), (0, 0));
    assert!(
        stats.unavailable_attempts >= u64::from(4 * ATTEMPTS),
        "{stats:?}"
    );
    assert!(
        source
            .store()
            .dead_letters("archive")
            .await
            .unwrap()
            .is_empty(),
        "nothing dead-lettered"
    );
    assert_eq!(
        source
            .store()
            .load_checkpoint("relay/archive")
            .await
            .unwrap(),
        None
    );
}

/// A sender counting the failures its inner sender marks [`Unavailable`].
struct Watched {
    inner: EventStoreSender,
    unavailable: AtomicU32,
}

impl Watched {
    /// Waits until `n` sends failed unavailable; panics after 60 s (a hang guard).
    async fn wait_for_unavailable(&self, n: u32) {
        for _ in 0..2400 {
            if self.unavailable.load(Ordering::SeqCst) >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "only {} of {n} sends failed unavailable",
            self.unavailable.load(Ordering::SeqCst)
        );
    }
}

#[async_trait]
impl Sender for Watched {
    async fn send(&self, events: &[StoredEvent]) -> Result<(), SendError> {
        let sent = self.inner.send(events).await;
        if let Err(error) = &sent
            && Unavailable::is(&**error)
        {
            self.unavailable.fetch_add(1, Ordering::SeqCst);
        }
        sent
    }
}
