//! Refused sends: retried with back-off, then sent event by event, and an event the
//! sender still refuses dead-lettered (or the relay stopped, naming it).

use std::sync::Arc;
use std::time::Duration;

use eventstore_core::RetryPolicy;
use eventstore_outbox::OnFailure;
use tokio_util::sync::CancellationToken;

use super::{Handle, append_numbered, numbered_ids, spawn};
use crate::sender::Recorder;

/// A sender failing twice is retried until it takes every event, in order; one refusing
/// an event forever gets every other event, and the refused one is dead-lettered with
/// the sender's error (U+0000 in it kept as U+FFFD); with [`OnFailure::Stop`] the relay
/// stops instead, with an error naming the event's sequence.
pub async fn failed_sends_are_retried_then_dead_lettered(handle: &Handle) {
    let appended = append_numbered(handle, 0..10).await;
    let refused_sequence = appended.appended[4].sequence;

    // Fails twice, then works: everything is delivered, in order.
    let flaky = Arc::new(Recorder::failing_first(2));
    let relay = handle
        .relay("flaky", flaky.clone())
        .retry(quick_retries())
        .expect("a valid retry policy");
    let (stop, task) = spawn(relay);
    flaky.wait_for(10).await;
    stop.cancel();
    let stats = task.await.unwrap().unwrap();
    assert_eq!(
        (stats.delivered, stats.failed_attempts, stats.dead_lettered),
        (10, 2, 0)
    );
    assert_eq!(flaky.ids(), numbered_ids(0..10));

    // Refuses one event forever: it is dead-lettered and the rest are delivered.
    let picky = Arc::new(Recorder::refusing("o4-created"));
    let relay = handle
        .relay("picky", picky.clone())
        .retry(quick_retries())
        .expect("a valid retry policy");
    let (stop, task) = spawn(relay);
    picky.wait_for(9).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.cancel();
    let stats = task.await.unwrap().unwrap();
    assert_eq!((stats.delivered, stats.dead_lettered), (9, 1));
    let mut others = numbered_ids(0..10);
    others.remove(4);
    assert_eq!(picky.ids(), others, "every other event, in order");
    let letters = handle.store().dead_letters("picky").await.unwrap();
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(
        (
            letter.relay.as_str(),
            letter.sequence,
            letter.source.as_str()
        ),
        ("picky", refused_sequence, "/shop")
    );
    assert_eq!(letter.id, "o4-created");
    assert!(
        letter
            .error
            .ends_with("o4-created is malformed for the broker (reply: \"\u{fffd}\u{1}\")"),
        "{:?}",
        letter.error
    );

    // With OnFailure::Stop the relay stops instead, naming the event.
    let relay = handle
        .relay("strict", Arc::new(Recorder::refusing("o4-created")))
        .retry(quick_retries())
        .expect("a valid retry policy")
        .on_failure(OnFailure::Stop);
    let err = relay.run(CancellationToken::new()).await.unwrap_err();
    assert!(err.to_string().contains("could not be delivered"), "{err}");
    assert_eq!(err.failed_sequence(), Some(refused_sequence), "{err:?}");
    assert!(
        handle
            .store()
            .dead_letters("strict")
            .await
            .unwrap()
            .is_empty(),
        "a stopped relay dead-letters nothing"
    );
}

/// Three attempts, a few milliseconds apart.
pub(super) fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        initial_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    }
}
