//! The concurrency stress harness of the testkit on PostgreSQL: writers racing, some
//! batches refused or rolled back, some held open in transactions, with a live follower
//! and an outbox relay. `STRESS_EVENTS` and `STRESS_REPEATS` size it (`cargo xtask
//! stress`); the default is the short CI run.

mod common;

use std::sync::Arc;
use std::time::Duration;

use eventstore_core::{AppendOptions, EventStore};
use eventstore_outbox::OutboxRelay;
use eventstore_testkit::sender::Recorder;
use eventstore_testkit::stress::{Hold, StressSize, writers_followed_and_relayed};
use tokio_util::sync::CancellationToken;

fn hold(store: eventstore_postgres::PostgresEventStore) -> Hold {
    Arc::new(move |events, held_for: Duration, commit| {
        let store = store.clone();
        Box::pin(async move {
            let mut client = store.pool().get().await.expect("a connection");
            let tx = client.transaction().await.expect("a transaction");
            let appended = store.append_in(&*tx, events, AppendOptions::new()).await;
            // Its sequences are taken and not yet visible: followers must wait for it.
            tokio::time::sleep(held_for).await;
            match appended {
                Ok(_) if commit => {
                    tx.commit().await.expect("commit");
                    store.notify_committed();
                    Ok(true)
                }
                Ok(_) => tx
                    .rollback()
                    .await
                    .map(|()| false)
                    .map_err(eventstore_core::Error::database),
                // A racing writer took one of the subjects' next version first.
                Err(e) if e.is_conflict() => Ok(false),
                Err(e) => Err(e),
            }
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writers_followed_and_relayed_lose_nothing() {
    let size = StressSize::from_env();
    for round in 0..size.repeats {
        let schema = common::Schema::new("stress");
        let store = schema.open().await;
        let recorder = Arc::new(Recorder::default());
        let relay = OutboxRelay::new("stress", Arc::new(store.clone()), recorder.clone());
        let stop = CancellationToken::new();
        let relaying = tokio::spawn({
            let stop = stop.clone();
            async move { relay.run(stop).await }
        });
        let shared: Arc<dyn EventStore> = Arc::new(store.clone());
        let report =
            writers_followed_and_relayed(shared, recorder, Some(hold(store.clone())), size).await;
        stop.cancel();
        relaying.await.expect("relay task").expect("relay ran");
        eprintln!("postgres round {round}: {report:?}");
    }
}
