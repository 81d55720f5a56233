//! Replay, subscriptions, projections and snapshots on SQLite files.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use eventstore_core::{
    AppendOptions, Event, EventQuery, EventStore, Position, RetryPolicy, StoredEvent,
};
use eventstore_replay::{
    BoxError, Projection, ProjectionRunner, Replayer, TransactionalProjection,
};
use eventstore_sqlite::{SqliteEventStore, SqliteWork};
use futures::StreamExt as _;
use tokio_util::sync::CancellationToken;

fn order_event(order: usize, step: &str) -> Event {
    Event::builder()
        .id(format!("order-{order}-{step}"))
        .source("/shop")
        .ty(format!("order.{step}"))
        .subject(format!("order-{order}"))
        .time(eventstore_core::time::OffsetDateTime::UNIX_EPOCH + Duration::from_secs(order as u64))
        .build()
        .unwrap()
}

async fn open(dir: &tempfile::TempDir) -> SqliteEventStore {
    SqliteEventStore::open(dir.path().join("events.db"))
        .await
        .unwrap()
}

async fn seed(store: &SqliteEventStore, orders: std::ops::Range<usize>) {
    let mut events = Vec::new();
    for order in orders {
        events.push(order_event(order, "created"));
        if order % 2 == 0 {
            events.push(order_event(order, "paid"));
        }
    }
    store.append(events).await.unwrap();
}

#[tokio::test]
async fn replays_a_subject_and_a_type_in_order_and_stops_at_a_failing_handler() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    seed(&store, 0..10).await;
    let replayer = Replayer::new(Arc::new(store.clone()));

    let mut seen = Vec::new();
    let stats = replayer
        .replay_subject("order-4", |e| {
            seen.push((e.stream_version().unwrap(), e.ty().to_owned()));
            async { Ok::<_, BoxError>(()) }
        })
        .await
        .unwrap();
    assert_eq!(
        seen,
        [
            (1, "order.created".to_owned()),
            (2, "order.paid".to_owned())
        ]
    );
    assert_eq!(stats.events, 2);

    let mut paid = Vec::new();
    let from = eventstore_core::time::OffsetDateTime::UNIX_EPOCH + Duration::from_secs(4);
    replayer
        .replay_by_type("order.paid", Some(from), |e| {
            paid.push(e.subject().unwrap().to_owned());
            async { Ok::<_, BoxError>(()) }
        })
        .await
        .unwrap();
    assert_eq!(paid, ["order-4", "order-6", "order-8"]);

    let failing_at = store
        .get("/shop", "order-3-created")
        .await
        .unwrap()
        .unwrap()
        .sequence();
    let mut handled = 0;
    let err = replayer
        .replay(EventQuery::new(), |e| {
            handled += 1;
            let fail = e.id() == "order-3-created";
            async move {
                if fail {
                    Err::<(), BoxError>("bad data".into())
                } else {
                    Ok(())
                }
            }
        })
        .await
        .unwrap_err();
    assert_eq!(err.failed_sequence(), Some(failing_at), "{err}");
    assert!(err.to_string().contains("bad data"));
    assert_eq!(handled, 6, "stopped at the failing event");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_subscription_sees_every_event_once_across_catch_up_and_live() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    seed(&store, 0..50).await; // 75 events to catch up on
    let replayer = Replayer::new(Arc::new(store.clone()));
    let mut subscription = replayer.subscribe(Position::Start, EventQuery::new());
    let path = dir.path().join("events.db");
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let store = store.clone();
            let path = path.clone();
            tokio::spawn(async move {
                for i in 0..20 {
                    let event = order_event(1000 + w * 100 + i, "created");
                    if i % 5 == 0 {
                        // A transaction held open for a while on a connection of its own.
                        let store = store.clone();
                        let path = path.clone();
                        tokio::task::spawn_blocking(move || {
                            let mut conn = rusqlite::Connection::open(&path).unwrap();
                            conn.busy_timeout(Duration::from_secs(10)).unwrap();
                            let tx = conn
                                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                                .unwrap();
                            store
                                .append_in(&tx, &[event], &AppendOptions::new())
                                .unwrap();
                            std::thread::sleep(Duration::from_millis(20));
                            tx.commit().unwrap();
                            store.notify_committed();
                        })
                        .await
                        .unwrap();
                    } else {
                        store.append(vec![event]).await.unwrap();
                    }
                }
            })
        })
        .collect();
    let mut seen: Vec<StoredEvent> = Vec::new();
    while seen.len() < 75 + 160 {
        let next = tokio::time::timeout(Duration::from_secs(20), subscription.next()).await;
        seen.push(next.expect("no stall").expect("no end").unwrap());
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let extra = tokio::time::timeout(Duration::from_millis(300), subscription.next()).await;
    assert!(extra.is_err(), "no duplicate after the last event");
    assert!(seen.windows(2).all(|w| w[0].sequence() < w[1].sequence()));
    let mut ids: Vec<&str> = seen.iter().map(|e| e.id()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 235);
}

#[tokio::test]
async fn upcasters_apply_to_replays_and_subscriptions() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    store.append(vec![order_event(1, "created")]).await.unwrap();
    let replayer = Replayer::new(Arc::new(store.clone())).with_upcaster(|stored| {
        if stored.ty() == "order.created" {
            let renamed = stored
                .event()
                .clone()
                .into_builder()
                .ty("order.placed.v2")
                .build()?;
            return Ok(stored.with_event(renamed));
        }
        Ok(stored)
    });
    let mut types = Vec::new();
    replayer
        .replay_subject("order-1", |e| {
            types.push(e.ty().to_owned());
            async { Ok::<_, BoxError>(()) }
        })
        .await
        .unwrap();
    let mut live = replayer.subscribe(Position::Start, EventQuery::new());
    types.push(live.next().await.unwrap().unwrap().ty().to_owned());
    assert_eq!(types, ["order.placed.v2", "order.placed.v2"]);
    // The stored event is unchanged.
    assert_eq!(
        store
            .get("/shop", "order-1-created")
            .await
            .unwrap()
            .unwrap()
            .ty(),
        "order.created"
    );
}

#[tokio::test]
async fn snapshots_replay_only_what_came_after() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let events: Vec<Event> = (1..=10)
        .map(|i| {
            Event::builder()
                .id(format!("{i}"))
                .source("/c")
                .ty("added")
                .subject("counter")
                .build()
                .unwrap()
        })
        .collect();
    store.append(events[..6].to_vec()).await.unwrap();
    let replayer = Replayer::new(Arc::new(store.clone()));
    let applied = Arc::new(Mutex::new(0));
    let count = |applied: Arc<Mutex<i32>>| {
        move |state: i64, _: &StoredEvent| {
            *applied.lock().unwrap() += 1;
            Ok(state + 1)
        }
    };
    let (state, version) = replayer
        .load(&store, "count", "counter", 0i64, count(applied.clone()))
        .await
        .unwrap();
    assert_eq!((state, version), (6, 6));
    replayer
        .save_snapshot(&store, "count", "counter", version, &state)
        .await
        .unwrap();
    store.append(events[6..].to_vec()).await.unwrap();
    *applied.lock().unwrap() = 0;
    let (state, version) = replayer
        .load(&store, "count", "counter", 0i64, count(applied.clone()))
        .await
        .unwrap();
    assert_eq!((state, version), (10, 10));
    assert_eq!(
        *applied.lock().unwrap(),
        4,
        "only the events after the snapshot"
    );
    // An older snapshot never replaces a newer one.
    replayer
        .save_snapshot(&store, "count", "counter", 3, &3i64)
        .await
        .unwrap();
    let (state, _) = replayer
        .load(&store, "count", "counter", 0i64, |s, _| Ok(s + 1))
        .await
        .unwrap();
    assert_eq!(state, 10);
}

/// Counts events per type in a table of the store's own database, exactly once.
struct CountsInTable;

impl TransactionalProjection<SqliteEventStore> for CountsInTable {
    fn name(&self) -> &str {
        "counts"
    }

    fn apply(&self, event: &StoredEvent) -> SqliteWork<()> {
        let ty = event.ty().to_owned();
        Box::new(move |tx| {
            tx.execute(
                "INSERT INTO counts (type, n) VALUES (?1, 1) \
                 ON CONFLICT (type) DO UPDATE SET n = n + 1",
                [ty],
            )?;
            Ok(((), vec![]))
        })
    }

    fn reset(&self) -> SqliteWork<()> {
        Box::new(|tx| {
            tx.execute("DELETE FROM counts", [])?;
            Ok(((), vec![]))
        })
    }
}

/// Counts events per type in memory (at least once).
#[derive(Default, Clone)]
struct CountsInMemory(Arc<Mutex<BTreeMap<String, i64>>>);

#[async_trait]
impl Projection for CountsInMemory {
    fn name(&self) -> &str {
        "memory"
    }

    async fn handle(&self, event: &StoredEvent) -> Result<(), BoxError> {
        *self
            .0
            .lock()
            .unwrap()
            .entry(event.ty().to_owned())
            .or_default() += 1;
        Ok(())
    }

    async fn reset(&self) -> Result<(), BoxError> {
        self.0.lock().unwrap().clear();
        Ok(())
    }
}

async fn counts(store: &SqliteEventStore) -> BTreeMap<String, i64> {
    let work: SqliteWork<BTreeMap<String, i64>> = Box::new(|tx| {
        let mut stmt = tx.prepare("SELECT type, n FROM counts ORDER BY type")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok((rows.collect::<Result<_, _>>()?, vec![]))
    });
    use eventstore_core::TransactionalStore as _;
    store
        .transact(work, AppendOptions::new())
        .await
        .unwrap()
        .value
}

async fn create_counts_table(store: &SqliteEventStore) {
    use eventstore_core::TransactionalStore as _;
    let work: SqliteWork<()> = Box::new(|tx| {
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS counts (type TEXT PRIMARY KEY, n INTEGER NOT NULL)",
        )?;
        Ok(((), vec![]))
    });
    store.transact(work, AppendOptions::new()).await.unwrap();
}

async fn wait_until<F: Fn() -> bool>(what: &str, done: F) {
    for _ in 0..400 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn projections_follow_live_side_by_side_and_rebuild_to_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    create_counts_table(&store).await;
    seed(&store, 0..40).await;
    let memory = CountsInMemory::default();
    let runner = ProjectionRunner::new(Arc::new(store.clone()))
        .with_transactional(CountsInTable)
        .with(memory.clone());
    let shutdown = CancellationToken::new();
    let run = {
        let runner = ProjectionRunner::new(Arc::new(store.clone()))
            .with_transactional(CountsInTable)
            .with(memory.clone());
        let shutdown = shutdown.clone();
        tokio::spawn(async move { runner.run(shutdown).await })
    };
    seed(&store, 40..60).await; // live appends
    let expected: BTreeMap<String, i64> = [
        ("order.created".to_owned(), 60),
        ("order.paid".to_owned(), 30),
    ]
    .into();
    let m = memory.clone();
    wait_until("the in-memory projection", || {
        *m.0.lock().unwrap() == expected
    })
    .await;
    for _ in 0..400 {
        if counts(&store).await == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(counts(&store).await, expected);
    shutdown.cancel();
    let reports = run.await.unwrap();
    assert!(reports.iter().all(|r| r.result.is_ok()), "{reports:?}");

    // Rebuilt from scratch: the same state.
    assert_eq!(runner.rebuild("counts").await.unwrap(), 90);
    assert_eq!(counts(&store).await, expected);
    assert_eq!(runner.rebuild("memory").await.unwrap(), 90);
    assert_eq!(*memory.0.lock().unwrap(), expected);
    assert!(runner.rebuild("nope").await.is_err());
}

/// Fails on one event forever.
struct Broken;

#[async_trait]
impl Projection for Broken {
    fn name(&self) -> &str {
        "broken"
    }

    async fn handle(&self, event: &StoredEvent) -> Result<(), BoxError> {
        if event.id() == "order-2-created" {
            Err("cannot project".into())
        } else {
            Ok(())
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_projection_is_retried_then_reported_while_others_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    seed(&store, 0..5).await;
    let memory = CountsInMemory::default();
    let runner = ProjectionRunner::new(Arc::new(store.clone()))
        .with(Broken)
        .with(memory.clone())
        .retry(RetryPolicy {
            max_attempts: 3,
            initial_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(10),
        });
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let m = memory.clone();
    let run = tokio::spawn(async move { runner.run(shutdown).await });
    wait_until("the healthy projection", || {
        m.0.lock().unwrap().values().sum::<i64>() == 8
    })
    .await;
    // Three attempts, 5 to 10 ms apart, are over well before this.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.cancel();
    let reports = run.await.unwrap();
    let broken = reports.iter().find(|r| r.name == "broken").unwrap();
    let err = broken.result.as_ref().unwrap_err();
    assert!(
        err.failed_sequence().is_some() && err.to_string().contains("cannot project"),
        "{err}"
    );
    assert_eq!(
        reports
            .iter()
            .find(|r| r.name == "memory")
            .unwrap()
            .result
            .as_ref()
            .unwrap(),
        &8
    );
}

/// The child side of the crash test: runs the table projection until killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by projections_survive_a_killed_process as a child process"]
async fn child_projection_process() {
    let Some(path) = std::env::var_os("EVENTSTORE_CHILD_DB") else {
        return;
    };
    let store = SqliteEventStore::open(path).await.unwrap();
    let runner = ProjectionRunner::new(Arc::new(store))
        .with_transactional(CountsInTable)
        .lease_ttl(Duration::from_millis(300));
    runner.run(CancellationToken::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn projections_survive_a_killed_process_with_exactly_once_effect() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let store = open(&dir).await;
    create_counts_table(&store).await;
    seed(&store, 0..2000).await; // 3,000 events
    let expected: BTreeMap<String, i64> = [
        ("order.created".to_owned(), 2000),
        ("order.paid".to_owned(), 1000),
    ]
    .into();
    for round in 0..eventstore_testkit::crash::rounds(3) {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "child_projection_process",
                "--ignored",
                "--nocapture",
            ])
            .env("EVENTSTORE_CHILD_DB", &path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Kill it at some point mid-stream.
        let applied_before = counts(&store).await.values().sum::<i64>();
        for _ in 0..400 {
            let now = counts(&store).await.values().sum::<i64>();
            if now > applied_before + 200 || now == 3000 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let partial = counts(&store).await;
        let applied = partial.values().sum::<i64>();
        assert!(
            applied <= 3000,
            "round {round}: never more than once: {partial:?}"
        );
        assert!(
            applied > applied_before || applied == 3000,
            "round {round}: the child made progress"
        );
    }
    // A last run, uninterrupted, finishes the job: the same state as one clean run.
    let runner = ProjectionRunner::new(Arc::new(store.clone()))
        .with_transactional(CountsInTable)
        .lease_ttl(Duration::from_millis(300));
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let run = tokio::spawn(async move { runner.run(shutdown).await });
    for _ in 0..800 {
        if counts(&store).await == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    stop.cancel();
    run.await.unwrap();
    assert_eq!(counts(&store).await, expected);
}
