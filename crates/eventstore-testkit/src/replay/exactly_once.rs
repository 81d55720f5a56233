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
