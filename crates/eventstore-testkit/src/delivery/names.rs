//! A relay's name: kept under `relay/<name>`, so it may be as long as a coordination
//! name less that prefix, and a longer one is refused saying so.

use std::sync::Arc;

use eventstore_outbox::OutboxRelay;
use tokio_util::sync::CancellationToken;

use super::{Handle, append_numbered, numbered_ids, spawn};
use crate::sender::Recorder;

/// A name of [`OutboxRelay::MAX_NAME_BYTES`] delivers and keeps its checkpoint under
/// `relay/<name>`; one byte more is refused by `run` and `lag` with `Error::Config`
/// naming the relay's limit, and nothing is delivered. A lease time to live under
/// [`eventstore_core::MIN_LEASE_TTL`] is refused by `lease_ttl` with `Error::Config`, and
/// so are a `batch_size` of 0 and a `retry` policy of no attempts, rather than raised to 1.
pub async fn relay_names_up_to_their_limit_are_kept_and_longer_ones_refused(handle: &Handle) {
    assert_eq!(
        OutboxRelay::MAX_NAME_BYTES,
        eventstore_core::sql::text::MAX_NAME_BYTES - "relay/".len()
    );
    let appended = append_numbered(handle, 0..3).await;
    // Two-byte characters: the limit is in bytes.
    let longest = format!("rr{}", "é".repeat((OutboxRelay::MAX_NAME_BYTES - 2) / 2));
    assert_eq!(longest.len(), OutboxRelay::MAX_NAME_BYTES);
    let sender = Arc::new(Recorder::default());
    let relay = handle.relay(&longest, sender.clone());
    assert_eq!(relay.lag().await.unwrap(), 3);
    let (stop, task) = spawn(relay);
    sender.wait_for(3).await;
    stop.cancel();
    task.await.unwrap().unwrap();
    assert_eq!(sender.ids(), numbered_ids(0..3));
    assert_eq!(
        handle
            .store()
            .load_checkpoint(&format!("relay/{longest}"))
            .await
            .unwrap(),
        Some(appended.appended[2].sequence)
    );

    let too_long = format!("{longest}x");
    let refused = Arc::new(Recorder::default());
    let relay = handle.relay(&too_long, refused.clone());
    let lag = relay.lag().await.unwrap_err();
    let run = relay.run(CancellationToken::new()).await.unwrap_err();
    for error in [lag, run] {
        assert!(
            matches!(error, eventstore_core::Error::Config(_)),
            "{error}"
        );
        assert!(
            error
                .to_string()
                .contains("is 1019 bytes, over the 1018 a relay's name may hold"),
            "{error}"
        );
    }
    assert!(refused.ids().is_empty());

    // A lease too short to be renewed in time is refused when configured, naming it;
    // the shortest allowed is kept.
    for ttl in [
        std::time::Duration::ZERO,
        eventstore_core::MIN_LEASE_TTL / 2,
    ] {
        let error = handle
            .relay("short-lease", Arc::new(Recorder::default()))
            .lease_ttl(ttl)
            .expect_err("a lease shorter than the shortest is refused");
        assert!(
            matches!(&error, eventstore_core::Error::Config(m)
                if m.starts_with("lease_ttl must be at least 30ms") && m.contains(&format!("{ttl:?}"))),
            "{error}"
        );
    }
    handle
        .relay("short-lease", Arc::new(Recorder::default()))
        .lease_ttl(eventstore_core::MIN_LEASE_TTL)
        .expect("the shortest lease is kept");

    // Options that would deliver nothing are refused, naming the option and the value;
    // the smallest meaningful ones are kept.
    let relay = || handle.relay("options", Arc::new(Recorder::default()));
    let error = relay()
        .batch_size(0)
        .expect_err("a batch size of 0 is refused");
    assert!(
        matches!(&error, eventstore_core::Error::Config(m)
            if m.starts_with("batch_size must be at least 1, not 0")),
        "{error}"
    );
    let no_attempts = eventstore_core::RetryPolicy {
        max_attempts: 0,
        ..Default::default()
    };
    let error = relay()
        .retry(no_attempts)
        .expect_err("a retry policy of no attempts is refused");
    assert!(
        matches!(&error, eventstore_core::Error::Config(m)
            if m.starts_with("retry: max_attempts must be at least 1, not 0")),
        "{error}"
    );
    relay()
        .batch_size(1)
        .expect("a batch of one is kept")
        .retry(eventstore_core::RetryPolicy {
            max_attempts: 1,
            ..Default::default()
        })
        .expect("a single attempt is kept");
}
