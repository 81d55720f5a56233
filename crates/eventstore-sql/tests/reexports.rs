//! What a user implements and passes to a relay or a projection runner comes from the
//! facade alone: `async_trait` for `Sender` and `Projection`, and the
//! `CancellationToken` their `run` takes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use eventstore_sql::outbox::OutboxRelay;
use eventstore_sql::replay::{BoxError, Projection, ProjectionRunner};
use eventstore_sql::{
    CancellationToken, Event, EventStore, SendError, Sender, SqliteEventStore, StoredEvent,
};

/// Keeps the sequences it is given.
#[derive(Default)]
struct Seen(Mutex<Vec<i64>>);

impl Seen {
    fn wait_for(&self, n: usize) -> Vec<i64> {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let seen = self.0.lock().unwrap().clone();
            if seen.len() >= n || std::time::Instant::now() > deadline {
                return seen;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[eventstore_sql::async_trait]
impl Sender for Seen {
    async fn send(&self, events: &[StoredEvent]) -> Result<(), SendError> {
        self.0
            .lock()
            .unwrap()
            .extend(events.iter().map(StoredEvent::sequence));
        Ok(())
    }
}

struct Counting(Arc<Seen>);

#[eventstore_sql::async_trait]
impl Projection for Counting {
    fn name(&self) -> &str {
        "counting"
    }

    async fn handle(&self, event: &StoredEvent) -> Result<(), BoxError> {
        self.0.0.lock().unwrap().push(event.sequence());
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_and_a_projection_run_on_the_facade_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteEventStore::open(dir.path().join("events.db"))
        .await
        .unwrap();
    let events = (1..=3)
        .map(|i| {
            Event::builder()
                .id(format!("e{i}"))
                .source("/s")
                .ty("t")
                .build()
                .unwrap()
        })
        .collect();
    let sequences: Vec<i64> = store.append(events).await.unwrap().sequences().collect();

    let shutdown = CancellationToken::new();
    let sent = Arc::new(Seen::default());
    let relay = OutboxRelay::new("r", Arc::new(store.clone()), sent.clone());
    let relay = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { relay.run(shutdown).await }
    });
    let handled = Arc::new(Seen::default());
    let runner = ProjectionRunner::new(Arc::new(store.clone())).with(Counting(handled.clone()));
    let projection = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { runner.run(shutdown).await }
    });
    let (sent, handled) =
        tokio::task::spawn_blocking(move || (sent.wait_for(3), handled.wait_for(3)))
            .await
            .unwrap();
    shutdown.cancel();
    assert_eq!(sent, sequences);
    assert_eq!(handled, sequences);
    assert_eq!(relay.await.unwrap().unwrap().delivered, 3);
    assert!(
        projection
            .await
            .unwrap()
            .iter()
            .all(|report| report.result.is_ok())
    );
    store.close().await.unwrap();
}
