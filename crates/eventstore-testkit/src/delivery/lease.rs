//! One relay of a name sends at a time, across processes (two handles on one database),
//! even while a send or its retries outlast the lease's time to live, or its renewals
//! cannot get through; another takes over from the checkpoint when it stops; and
//! shutdown does not wait for a send.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use eventstore_core::{Event, RetryPolicy};
use eventstore_outbox::OutboxRelay;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::broker::Broker;
use super::{Handle, append_numbered, numbered_ids, spawn};
use crate::sender::Recorder;

/// The lease's time to live in the tests of sends outlasting it.
const TTL: Duration = Duration::from_millis(500);

/// A relay delivers while a second of its name, on another handle (another process),
/// waits and delivers nothing; once the first stops, the second takes over from the
/// first's checkpoint: every event once, in order, across the two.
pub async fn one_relay_per_name_delivers_and_another_takes_over(first: &Handle, second: &Handle) {
    // Long enough that a renewal delayed on a loaded machine does not lapse it.
    let ttl = Duration::from_secs(1);
    let a = Arc::new(Recorder::default());
    let b = Arc::new(Recorder::default());
    let (stop_a, task_a) = spawn(
        first
            .relay("shared", a.clone())
            .lease_ttl(ttl)
            .expect("a valid lease time to live"),
    );
    append_numbered(first, 0..10).await;
    // Once it delivered, the first holds the lease: the second starts after it, for sure.
    a.wait_for(10).await;
    let (stop_b, task_b) = spawn(
        second
            .relay("shared", b.clone())
            .lease_ttl(ttl)
            .expect("a valid lease time to live"),
    );
    append_numbered(first, 10..20).await;
    a.wait_for(20).await;
    tokio::time::sleep(ttl * 2).await;
    assert!(
        b.ids().is_empty(),
        "the second relay waits while the first holds the lease"
    );

    stop_a.cancel();
    task_a.await.unwrap().unwrap();
    append_numbered(first, 20..30).await;
    b.wait_for(10).await;
    stop_b.cancel();
    task_b.await.unwrap().unwrap();
    assert_eq!(a.ids(), numbered_ids(0..20), "the first relay, in order");
    assert_eq!(
        b.ids(),
        numbered_ids(20..30),
        "the second relay continues from the checkpoint"
    );
}

/// Two relays of one name, on two handles, whose sends take longer than the lease's
/// time to live: never are both sending, and every event goes out in order.
pub async fn a_send_slower_than_the_lease_keeps_one_relay_of_a_name_sending(
    first: &Handle,
    second: &Handle,
) {
    let expected = append_orders(first, 30).await;
    let broker = Arc::new(Broker::default());
    two_relays(first, second, &broker, TTL * 8 / 5, &expected).await;
    broker.assert_one_in_flight();
    broker.assert_in_order(&expected);
}

/// Two relays of one name, on two handles, whose sends fail and are retried for longer
/// than the lease's time to live: never are both sending, and every event goes out in
/// order.
pub async fn retries_outlasting_the_lease_keep_one_relay_of_a_name_sending(
    first: &Handle,
    second: &Handle,
) {
    let expected = append_orders(first, 30).await;
    // Eight failures of 100 ms, with back-off between: twice the lease's time to live.
    let broker = Broker::failing(8);
    two_relays(
        first,
        second,
        &broker,
        Duration::from_millis(100),
        &expected,
    )
    .await;
    broker.assert_one_in_flight();
    broker.assert_in_order(&expected);
}

/// Two relays of one name, on two handles, whose broker is [`Unavailable`] for more
/// sends than the retry policy's attempts, and for longer than the lease's time to
/// live: the relay holding the lease keeps it and waits the outage out, never are both
/// sending, and every event goes out in order, none dead-lettered.
///
/// [`Unavailable`]: eventstore_core::Unavailable
pub async fn an_outage_outlasting_the_lease_keeps_one_relay_of_a_name_sending(
    first: &Handle,
    second: &Handle,
) {
    let expected = append_orders(first, 30).await;
    // 45 sends of 50 ms, with back-off between: past the 20 attempts of the batch and
    // those of its first event, and seven times the lease's time to live.
    let broker = Broker::unavailable(45);
    two_relays(first, second, &broker, Duration::from_millis(50), &expected).await;
    broker.assert_one_in_flight();
    broker.assert_in_order(&expected);
    assert!(
        first
            .store()
            .dead_letters("shared")
            .await
            .unwrap()
            .is_empty(),
        "nothing dead-lettered"
    );
}

/// Another connection holds, past the lease's deadline, a lock the lease writes wait
/// for (`hold_lock(hold)` takes it and returns once it is held) while the relay on
/// `first` sends: its renewals fail or wait too long, and it drops the send before the
/// lease can pass to the relay on `second`. Never are both sending, every event goes
/// out in order, and the first send was dropped.
pub async fn a_relay_that_cannot_renew_drops_its_send_before_another_takes_over<F>(
    first: &Handle,
    second: &Handle,
    hold_lock: impl FnOnce(Duration) -> F,
) where
    F: Future<Output = ()>,
{
    let expected = append_orders(first, 30).await;
    let broker = Arc::new(Broker::default());
    let shutdown = CancellationToken::new();
    // A send far longer than the lock, so a renewal falls in it while the send is out.
    let one = run(relay(first, &broker, TTL * 6), &shutdown);
    broker.wait_until_started(1).await;
    hold_lock(TTL * 2).await;
    let two = run(relay(second, &broker, TTL / 5), &shutdown);
    broker.wait_for(&expected).await;
    shutdown.cancel();
    one.await.unwrap();
    two.await.unwrap();
    broker.assert_one_in_flight();
    broker.assert_in_order(&expected);
    assert!(broker.dropped() >= 1, "the first send was dropped");
}

/// At shutdown, `run` returns at once while a send never finishes: the send is
/// dropped and its batch's checkpoint not saved.
pub async fn run_returns_at_shutdown_while_a_send_never_finishes(handle: &Handle) {
    append_orders(handle, 3).await;
    let broker = Arc::new(Broker::default());
    let shutdown = CancellationToken::new();
    let relay = handle.relay("stuck", broker.sender(None));
    let running = run(relay, &shutdown);
    broker.wait_until_started(1).await;
    shutdown.cancel();
    // A hang guard, not a timing: `run` used to wait for the send forever.
    let stats = tokio::time::timeout(Duration::from_secs(120), running)
        .await
        .expect("run returned after shutdown")
        .unwrap();
    assert_eq!(stats.delivered, 0);
    assert_eq!(broker.dropped(), 1);
    assert_eq!(
        handle.store().load_checkpoint("relay/stuck").await.unwrap(),
        None,
        "the dropped batch's checkpoint is not saved"
    );
}

/// Appends `count` events on three subjects; returns their sequences.
async fn append_orders(handle: &Handle, count: usize) -> Vec<i64> {
    let events = (0..count)
        .map(|i| {
            Event::builder()
                .id(format!("e{i}"))
                .source("/shop")
                .ty("order.created")
                .subject(format!("order-{}", i % 3))
                .build()
                .expect("valid event")
        })
        .collect();
    let appended = handle.store().append(events).await.unwrap();
    appended.sequences().collect()
}

/// The relay "shared" on `handle`, sending to `broker` with `delay` per send, in
/// batches of 10, leased for [`TTL`], retrying for long.
fn relay(handle: &Handle, broker: &Arc<Broker>, delay: Duration) -> OutboxRelay {
    handle
        .relay("shared", broker.sender(Some(delay)))
        .batch_size(10)
        .expect("a valid batch size")
        .lease_ttl(TTL)
        .expect("a valid lease time to live")
        .retry(RetryPolicy {
            max_attempts: 20,
            initial_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(40),
        })
        .expect("a valid retry policy")
}

/// Runs `relay` on a task until `shutdown`, expecting it to end without error.
fn run(
    relay: OutboxRelay,
    shutdown: &CancellationToken,
) -> JoinHandle<eventstore_outbox::RelayStats> {
    let shutdown = shutdown.clone();
    tokio::spawn(async move { relay.run(shutdown).await.unwrap() })
}

/// A relay starts sending; then a second of the same name starts on the other handle,
/// and both run until every event was delivered.
async fn two_relays(
    first: &Handle,
    second: &Handle,
    broker: &Arc<Broker>,
    delay: Duration,
    expected: &[i64],
) {
    let shutdown = CancellationToken::new();
    let one = run(relay(first, broker, delay), &shutdown);
    broker.wait_until_started(1).await;
    let two = run(relay(second, broker, delay), &shutdown);
    broker.wait_for(expected).await;
    shutdown.cancel();
    one.await.unwrap();
    two.await.unwrap();
}
