//! The step under exactly-once projections: `TransactionalStore::transact_at_checkpoint`
//! runs a work and moves a checkpoint in one transaction, and skips the work once the
//! checkpoint has reached its position, alike on every backend and from any position.

use std::collections::BTreeMap;
use std::sync::Arc;

use eventstore_core::{AppendOptions, CheckpointMove, CheckpointStore, TransactionalStore};

use super::ReplayFixture;
use super::common::{create_counts, table_counts};

/// Positions from outside the store, such as a broker's offsets, start at 0: with no
/// checkpoint yet, the work at position 0 runs and leaves the checkpoint at 0; at a
/// position the checkpoint has reached or passed, the work is skipped; at the next one
/// it runs.
pub async fn checkpointed_work_runs_once_per_position_from_zero<F: ReplayFixture>(fixture: F) {
    let store = Arc::clone(fixture.store());
    create_counts::<F>(&store).await;
    let name = "consumer/orders-0";
    let consume = |position| {
        let store = Arc::clone(&store);
        async move {
            let work = F::count(&store, "offset".to_owned());
            store
                .transact_at_checkpoint(
                    work,
                    AppendOptions::new(),
                    name,
                    CheckpointMove::To(position),
                )
                .await
                .expect("the transaction commits")
                .is_some()
        }
    };
    let checkpoint = || async {
        store
            .load_checkpoint(name)
            .await
            .expect("the checkpoint loads")
    };

    assert!(consume(0).await, "the first position runs, though it is 0");
    assert_eq!(checkpoint().await, Some(0));
    assert!(!consume(0).await, "a position reached is skipped");
    assert!(consume(1).await, "the next position runs");
    assert!(!consume(1).await, "a position reached is skipped");
    assert!(!consume(0).await, "a position passed is skipped");
    assert_eq!(checkpoint().await, Some(1));
    assert_eq!(
        table_counts::<F>(&store).await,
        BTreeMap::from([("offset".to_owned(), 2)]),
        "each position's work took effect once"
    );
}

/// A transaction no backend can run as asked is refused with `Error::Config` naming
/// what was wrong, before its work runs, whichever method it came through: a checkpoint
/// name holding U+0000 or over 1 KiB, given to `transact_with` directly as to
/// `transact_at_checkpoint`, and an expected version below 1, the first stream version.
/// Nothing is written: no count, no checkpoint, no event.
pub async fn transactions_no_backend_can_run_are_refused_before_their_work<F: ReplayFixture>(
    fixture: F,
) {
    use eventstore_core::{Error, EventQuery, EventStore, ExpectedVersion};
    use futures::TryStreamExt as _;

    let store = Arc::clone(fixture.store());
    create_counts::<F>(&store).await;
    let long = "c".repeat(eventstore_core::sql::text::MAX_NAME_BYTES + 1);
    for (name, named) in [("consumer\0nul", "U+0000"), (long.as_str(), "1025 bytes")] {
        for through_trait_method in [false, true] {
            let work = F::count(&store, "refused".to_owned());
            let checkpoint = CheckpointMove::To(1);
            let refused = if through_trait_method {
                store
                    .transact_at_checkpoint(work, AppendOptions::new(), name, checkpoint)
                    .await
            } else {
                store
                    .transact_with(work, AppendOptions::new(), Some((name, checkpoint)))
                    .await
            };
            let error = refused.expect_err("a checkpoint name no backend keeps is refused");
            assert!(
                matches!(&error, Error::Config(m) if m.contains("checkpoint name") && m.contains(named)),
                "{error:?}"
            );
        }
    }
    for version in [0, -1, i64::MIN] {
        let options = AppendOptions::new().expect("order-1", ExpectedVersion::Exact(version));
        let events = vec![super::common::order_event(1, "placed")];
        let work = F::count(&store, "refused".to_owned());
        let error = store
            .transact(work, options.clone())
            .await
            .expect_err("an expected version below 1 is refused");
        let named = format!("expected version {version} of subject \"order-1\"");
        assert!(
            matches!(&error, Error::Config(m) if m.contains(&named)),
            "{error:?}"
        );
        let error = store
            .append_with(events, options)
            .await
            .expect_err("and by an append");
        assert!(
            matches!(&error, Error::Config(m) if m.contains(&named)),
            "{error:?}"
        );
    }
    assert!(
        table_counts::<F>(&store).await.is_empty(),
        "a refused work took effect"
    );
    let events: Vec<_> = store
        .query(EventQuery::new())
        .try_collect()
        .await
        .expect("the events read");
    assert!(
        events.is_empty(),
        "a refused transaction appended {events:?}"
    );
}
