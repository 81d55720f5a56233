//! Followers share the store's pool with their consumers: a follower catching up over
//! a backlog of many pages holds no pooled connection while its consumer handles
//! events, so projections and relays that need one to apply an event, save a
//! checkpoint or renew a lease never wait for their own follower, even when there are
//! more of them than connections.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use eventstore_core::{
    CheckpointStore, Event, EventQuery, EventStore, Position, StoredEvent, follow,
};
use eventstore_outbox::OutboxRelay;
use eventstore_postgres::{PostgresEventStore, PostgresWork};
use eventstore_replay::{BoxError, Projection, ProjectionRunner, TransactionalProjection};
use eventstore_testkit::sender::Recorder;
use futures::StreamExt as _;
use tokio_util::sync::CancellationToken;

use common::Schema;

/// Events in the backlog: several of the store's follower pages (1,000 rows).
const BACKLOG: u64 = 2_500;

/// How long a caller waits for a pooled connection: short, so that a starved consumer
/// fails the test quickly.
const WAIT: Duration = Duration::from_secs(5);

/// How long a catch-up may take before the test gives up on it.
const DEADLINE: Duration = Duration::from_secs(60);

/// A store whose pool has `size` connections, holding a backlog of [`BACKLOG`] events.
async fn backlog(schema: &Schema, size: usize) -> PostgresEventStore {
    let store = schema
        .options()
        .pool_size(size)
        .unwrap()
        .wait_timeout(Some(WAIT))
        .unwrap()
        .open()
        .await
        .unwrap();
    let events: Vec<Event> = (0..BACKLOG)
        .map(|i| {
            Event::builder()
                .id(format!("e{i}"))
                .source("/pool")
                .ty("pool.tested")
                .subject(format!("s{}", i % 10))
                .build()
                .unwrap()
        })
        .collect();
    store.append(events).await.unwrap();
    store
}

/// Counts the events it handles; the runner saves its checkpoint (a pooled connection)
/// after each.
struct Counting(&'static str, Arc<AtomicU64>);

#[async_trait]
impl Projection for Counting {
    fn name(&self) -> &str {
        self.0
    }

    async fn handle(&self, _event: &StoredEvent) -> Result<(), BoxError> {
        self.1.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// Counts the events it applies in a table of the store's database, in the
/// transaction that moves its checkpoint.
struct Tallied {
    table: String,
}

impl TransactionalProjection<PostgresEventStore> for Tallied {
    fn name(&self) -> &str {
        "tallied"
    }

    fn apply(&self, _event: &StoredEvent) -> PostgresWork<()> {
        let sql = format!("UPDATE {} SET n = n + 1", self.table);
        Box::new(move |tx| {
            Box::pin(async move {
                tx.execute(&sql, &[]).await?;
                Ok(((), vec![]))
            })
        })
    }

    fn reset(&self) -> PostgresWork<()> {
        let sql = format!("UPDATE {} SET n = 0", self.table);
        Box::new(move |tx| {
            Box::pin(async move {
                tx.execute(&sql, &[]).await?;
                Ok(((), vec![]))
            })
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn more_projections_than_pooled_connections_catch_up() {
    let schema = Schema::new("fp_proj");
    let store = backlog(&schema, 2).await;
    let table = format!("\"{}\".tally", schema.name);
    common::admin()
        .await
        .batch_execute(&format!(
            "CREATE TABLE {table} (n bigint NOT NULL); INSERT INTO {table} VALUES (0)"
        ))
        .await
        .unwrap();
    let (a, b) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let store = Arc::new(store);
    let runner = ProjectionRunner::new(Arc::clone(&store))
        .with(Counting("a", Arc::clone(&a)))
        .with(Counting("b", Arc::clone(&b)))
        .with_transactional(Tallied {
            table: table.clone(),
        });
    let shutdown = CancellationToken::new();
    let run = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { runner.run(shutdown).await }
    });
    let caught_up = async {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let handled = (a.load(Ordering::SeqCst), b.load(Ordering::SeqCst));
            let tallied = store
                .load_checkpoint("projection/tallied")
                .await
                .ok()
                .flatten();
            if handled == (BACKLOG, BACKLOG) && tallied == Some(BACKLOG as i64) {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline || run.is_finished() {
                return Err(format!("handled {handled:?}, tallied up to {tallied:?}"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let outcome = caught_up.await;
    shutdown.cancel();
    let reports = run.await.unwrap();
    for report in &reports {
        assert!(report.result.is_ok(), "{report:?}");
    }
    outcome.unwrap();
    let row = common::admin()
        .await
        .query_one(&format!("SELECT n FROM {table}"), &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), BACKLOG as i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_relay_on_a_pool_of_one_drains_a_backlog_of_many_batches() {
    let schema = Schema::new("fp_relay");
    let store = Arc::new(backlog(&schema, 1).await);
    let sender = Arc::new(Recorder::default());
    let relay = OutboxRelay::new("one", store.clone(), sender.clone());
    let shutdown = CancellationToken::new();
    let run = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { relay.run(shutdown).await }
    });
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let outcome = loop {
        let checkpoint = store.load_checkpoint("relay/one").await;
        if matches!(checkpoint, Ok(Some(n)) if n == BACKLOG as i64) {
            break Ok(());
        }
        if tokio::time::Instant::now() >= deadline || run.is_finished() {
            break Err(format!(
                "{} delivered, checkpoint {checkpoint:?}",
                sender.ids().len()
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    shutdown.cancel();
    let stats = run.await.unwrap();
    assert!(stats.is_ok(), "{stats:?}");
    outcome.unwrap();
    let ids = sender.ids();
    assert_eq!(ids.len() as u64, BACKLOG);
    assert!(ids.iter().enumerate().all(|(i, id)| *id == format!("e{i}")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn followers_whose_consumers_read_the_store_catch_up_on_a_small_pool() {
    let schema = Schema::new("fp_follow");
    let store: Arc<dyn EventStore> = Arc::new(backlog(&schema, 2).await);
    let followers = (0..4).map(|_| {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            let mut events = follow(Arc::clone(&store), EventQuery::new(), Position::Start);
            for expected in 1..=BACKLOG as i64 {
                let event = tokio::time::timeout(DEADLINE, events.next())
                    .await
                    .map_err(|_| format!("stalled after {} events", expected - 1))?
                    .ok_or("ended")?
                    .map_err(|e| format!("failed after {} events: {e}", expected - 1))?;
                assert_eq!(event.sequence(), expected);
                // The consumer needs a pooled connection for every event.
                let found = store
                    .get(event.source(), event.id())
                    .await
                    .map_err(|e| format!("get of event {expected} failed: {e}"))?;
                assert_eq!(found.map(|e| e.sequence()), Some(expected));
            }
            Ok::<_, String>(())
        })
    });
    for follower in futures::future::join_all(followers).await {
        follower.unwrap().unwrap();
    }
}

/// A rebuild reads like a follower: on a pool of one, a projection rebuilt (its
/// checkpoint saved on the pool after each event) gets through a backlog of several
/// pages. A replay, one streamed read, needs a second connection for a handler that
/// reads the store: on a pool of two it gets through as well.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rebuild_on_a_pool_of_one_and_a_replay_on_a_pool_of_two_get_through_a_backlog() {
    let schema = Schema::new("pool_rebuild");
    let store = Arc::new(backlog(&schema, 1).await);
    let handled = Arc::new(AtomicU64::new(0));
    let runner =
        ProjectionRunner::new(Arc::clone(&store)).with(Counting("rebuilt", Arc::clone(&handled)));
    let applied = tokio::time::timeout(DEADLINE, runner.rebuild("rebuilt"))
        .await
        .expect("the rebuild ends")
        .expect("the rebuild succeeds");
    assert_eq!(applied, BACKLOG);
    assert_eq!(handled.load(Ordering::SeqCst), BACKLOG);

    let schema = Schema::new("pool_replay");
    let store = Arc::new(backlog(&schema, 2).await);
    let replayer = eventstore_replay::Replayer::new(Arc::clone(&store) as Arc<dyn EventStore>);
    let looked_up = Arc::new(AtomicU64::new(0));
    let stats = tokio::time::timeout(
        DEADLINE,
        replayer.replay(EventQuery::new(), |event| {
            let (store, looked_up) = (Arc::clone(&store), Arc::clone(&looked_up));
            async move {
                let found = store.get(event.source(), event.id()).await?;
                assert!(found.is_some(), "event {} is there", event.sequence());
                looked_up.fetch_add(1, Ordering::SeqCst);
                Ok::<_, eventstore_core::Error>(())
            }
        }),
    )
    .await
    .expect("the replay ends")
    .expect("the replay succeeds");
    assert_eq!(stats.events, BACKLOG);
    assert_eq!(looked_up.load(Ordering::SeqCst), BACKLOG);
}
