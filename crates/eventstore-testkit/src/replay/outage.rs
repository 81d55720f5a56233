//! A projection waits out a store outage while it applies an event. How to make the
//! store fail for a while is the backend's (SQLite: another connection holds the write
//! lock; PostgreSQL: another session locks the checkpoint table); what must follow is
//! the same on both.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use eventstore_core::{CheckpointStore, LeaseStore, RetryPolicy, StoredEvent, TransactionalStore};
use eventstore_replay::{BoxError, Projection, ProjectionRunner};
use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use super::common::seed;

/// Starts an outage of the store and returns once it is in effect; it must end by
/// itself, about a second later.
pub type Outage = Box<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>;

/// On its first event, starts the outage: saving that event's checkpoint then fails
/// (times out), again and again past the retries.
struct FailsTheStoreOnce {
    outage: Outage,
    started: AtomicBool,
    handled: Mutex<Vec<i64>>,
}

/// The projection, shared with the test to look at what it handled.
struct Shared(Arc<FailsTheStoreOnce>);

#[async_trait]
impl Projection for Shared {
    fn name(&self) -> &str {
        "p"
    }

    async fn handle(&self, event: &StoredEvent) -> Result<(), BoxError> {
        if !self.0.started.swap(true, Ordering::SeqCst) {
            (self.0.outage)().await;
        }
        self.0
            .handled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(event.sequence());
        Ok(())
    }
}

/// A projection whose checkpoint cannot be saved for a while (the `outage`, started
/// while it applies its first event; the store's time-outs must be well under the
/// outage's length) waits it out and goes on from its checkpoint: every event handled,
/// in order, the first one again, and the projection not stopped.
pub async fn a_store_outage_while_applying_is_waited_out<S>(store: Arc<S>, outage: Outage)
where
    S: TransactionalStore + CheckpointStore + LeaseStore + 'static,
{
    let sequences = seed(&*store, 0..5).await.sequences().collect::<Vec<_>>();
    let projection = Arc::new(FailsTheStoreOnce {
        outage,
        started: AtomicBool::new(false),
        handled: Mutex::new(Vec::new()),
    });
    let runner = ProjectionRunner::new(Arc::clone(&store))
        .with(Shared(Arc::clone(&projection)))
        .retry(RetryPolicy {
            max_attempts: 3,
            initial_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(40),
        })
        .expect("a valid retry policy");
    let shutdown = CancellationToken::new();
    let run = runner.run(shutdown.clone());
    tokio::pin!(run);
    // Until every event's checkpoint is saved, or the runner ends (a hang guard, not a
    // timing).
    let last = sequences.last().copied();
    let through = async {
        for _ in 0..2400 {
            if store.load_checkpoint("projection/p").await.ok().flatten() == last {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let reports = tokio::select! {
        reports = &mut run => reports,
        () = through => {
            shutdown.cancel();
            run.await
        }
    };
    assert!(
        reports[0].result.is_ok(),
        "the projection stopped: {:?}",
        reports[0].result
    );
    let mut handled = projection
        .handled
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    assert!(
        handled.len() > sequences.len(),
        "the outage was felt: the first event handled again ({handled:?})"
    );
    handled.dedup();
    assert_eq!(handled, sequences);
}
