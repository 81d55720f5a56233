//! Replay, subscriptions and projections on PostgreSQL, and the LISTEN connection.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventstore_core::{
    AppendOptions, Event, EventQuery, EventStore, Position, StoredEvent, TransactionalStore,
};
use eventstore_postgres::{PostgresEventStore, PostgresWork};
use eventstore_replay::{BoxError, ProjectionRunner, Replayer, TransactionalProjection};
use futures::StreamExt as _;
use tokio_util::sync::CancellationToken;

use common::Schema;

fn event(id: String, ty: &str, subject: String) -> Event {
    Event::builder()
        .id(id)
        .source("/shop")
        .ty(ty)
        .subject(subject)
        .build()
        .unwrap()
}

async fn next(stream: &mut eventstore_core::EventStream, within: Duration) -> StoredEvent {
    tokio::time::timeout(within, stream.next())
        .await
        .expect("in time")
        .expect("not ended")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replay_stops_at_a_failing_handler_naming_the_sequence() {
    let schema = Schema::new("rp_replay");
    let store = schema.open().await;
    let events = (0..10)
        .map(|i| event(format!("{i}"), "t", "s".into()))
        .collect();
    let result = store.append(events).await.unwrap();
    let replayer = Replayer::new(Arc::new(store));
    let mut seen = Vec::new();
    replayer
        .replay_subject("s", |e| {
            seen.push(e.stream_version().unwrap());
            async { Ok::<_, BoxError>(()) }
        })
        .await
        .unwrap();
    assert_eq!(seen, (1..=10).collect::<Vec<_>>());
    let err = replayer
        .replay_by_type("t", None, |e| {
            let fail = e.id() == "4";
            async move {
                if fail {
                    Err::<(), BoxError>("no".into())
                } else {
                    Ok(())
                }
            }
        })
        .await
        .unwrap_err();
    assert_eq!(err.failed_sequence(), Some(result.appended[4].sequence));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_subscription_sees_every_event_once_while_writers_hold_transactions_open() {
    let schema = Schema::new("rp_sub");
    let store = schema.open().await;
    store
        .append(
            (0..50)
                .map(|i| event(format!("old{i}"), "t", format!("s{}", i % 5)))
                .collect(),
        )
        .await
        .unwrap();
    let replayer = Replayer::new(Arc::new(store.clone()));
    let mut subscription = replayer.subscribe(Position::Start, EventQuery::new());
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut committed = 0;
                for i in 0..25 {
                    let e = event(format!("w{w}-{i}"), "t", format!("s{}", (w + i) % 5));
                    if i % 6 == 2 {
                        // Held open, then committed or rolled back.
                        let hold = Duration::from_millis(40);
                        if common::append_held_open(&store, e, hold, w % 2 == 1).await {
                            committed += 1;
                        }
                    } else {
                        store.append(vec![e]).await.unwrap();
                        committed += 1;
                    }
                }
                committed
            })
        })
        .collect();
    let mut committed = 50;
    for writer in writers {
        committed += writer.await.unwrap();
    }
    let mut seen = Vec::new();
    while seen.len() < committed {
        seen.push(next(&mut subscription, Duration::from_secs(20)).await);
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(400), subscription.next())
            .await
            .is_err()
    );
    assert!(seen.windows(2).all(|w| w[0].sequence() < w[1].sequence()));
    let mut versions: BTreeMap<String, i64> = BTreeMap::new();
    for e in &seen {
        let v = versions.entry(e.subject().unwrap().to_owned()).or_default();
        assert_eq!(e.stream_version(), Some(*v + 1), "per-subject order");
        *v += 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn notifications_wake_followers_in_other_processes_and_survive_a_killed_listener() {
    let schema = Schema::new("rp_listen");
    // Polling so slow that only a notification can explain a prompt wake-up.
    let slow = || schema.options().poll_interval(Duration::from_secs(60));
    let reader = slow().open().await.unwrap();
    let writer = slow().open().await.unwrap();
    let head = reader.horizon().await.unwrap().head;
    let mut follower =
        Replayer::new(Arc::new(reader.clone())).subscribe(Position::After(head), EventQuery::new());
    tokio::time::sleep(Duration::from_millis(200)).await; // the listener is up
    let started = Instant::now();
    writer
        .append(vec![event("1".into(), "t", "s".into())])
        .await
        .unwrap();
    assert_eq!(next(&mut follower, Duration::from_secs(5)).await.id(), "1");
    assert!(started.elapsed() < Duration::from_secs(5));

    // Kill every LISTEN connection of the test's channel: the reader's listener
    // reconnects and catches up with what was appended meanwhile.
    let admin = writer.pool().get().await.unwrap();
    let killed: i64 = admin
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE query LIKE 'LISTEN eventstore_%' AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(killed >= 1, "the listeners were found");
    writer
        .append(vec![event("2".into(), "t", "s".into())])
        .await
        .unwrap();
    assert_eq!(next(&mut follower, Duration::from_secs(10)).await.id(), "2");
    tokio::time::sleep(Duration::from_millis(500)).await;
    writer
        .append(vec![event("3".into(), "t", "s".into())])
        .await
        .unwrap();
    assert_eq!(next(&mut follower, Duration::from_secs(5)).await.id(), "3");
}

/// Counts events per type in a table in the store's schema, exactly once.
struct Counts {
    table: String,
}

impl TransactionalProjection<PostgresEventStore> for Counts {
    fn name(&self) -> &str {
        "counts"
    }

    fn apply(&self, event: &StoredEvent) -> PostgresWork<()> {
        let sql = format!(
            "INSERT INTO {} (type, n) VALUES ($1, 1) ON CONFLICT (type) DO UPDATE SET n = {}.n + 1",
            self.table, self.table
        );
        let ty = event.ty().to_owned();
        Box::new(move |tx| {
            Box::pin(async move {
                tx.execute(&sql, &[&ty]).await?;
                Ok(((), vec![]))
            })
        })
    }

    fn reset(&self) -> PostgresWork<()> {
        let sql = format!("DELETE FROM {}", self.table);
        Box::new(move |tx| {
            Box::pin(async move {
                tx.execute(&sql, &[]).await?;
                Ok(((), vec![]))
            })
        })
    }
}

async fn counts(store: &PostgresEventStore, table: &str) -> BTreeMap<String, i64> {
    let client = store.pool().get().await.unwrap();
    let rows = client
        .query(&format!("SELECT type, n FROM {table}"), &[])
        .await
        .unwrap();
    rows.iter().map(|r| (r.get(0), r.get(1))).collect()
}

/// The child side of the crash test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by a_projection_killed_mid_stream_ends_in_the_same_state as a child process"]
async fn child_projection_process() {
    let Ok(schema) = std::env::var("EVENTSTORE_CHILD_SCHEMA") else {
        return;
    };
    let store = eventstore_postgres::PostgresOptions::from_url(&common::database_url())
        .unwrap()
        .schema(&schema)
        .unwrap()
        .open()
        .await
        .unwrap();
    let table = format!("\"{schema}\".counts");
    let runner = ProjectionRunner::new(Arc::new(store))
        .with_transactional(Counts { table })
        .lease_ttl(Duration::from_millis(300));
    runner.run(CancellationToken::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_projection_killed_mid_stream_ends_in_the_same_state() {
    let schema = Schema::new("rp_proj");
    let store = schema.open().await;
    let table = format!("\"{}\".counts", schema.name);
    let create = format!("CREATE TABLE {table} (type text PRIMARY KEY, n bigint NOT NULL)");
    let work: PostgresWork<()> = Box::new(move |tx| {
        Box::pin(async move {
            tx.batch_execute(&create).await?;
            Ok(((), vec![]))
        })
    });
    store.transact(work, AppendOptions::new()).await.unwrap();
    let events: Vec<Event> = (0..600)
        .map(|i| {
            event(
                format!("{i}"),
                if i % 3 == 0 { "paid" } else { "created" },
                format!("o{}", i % 50),
            )
        })
        .collect();
    for chunk in events.chunks(300) {
        store.append(chunk.to_vec()).await.unwrap();
    }
    let expected: BTreeMap<String, i64> =
        [("created".to_owned(), 400), ("paid".to_owned(), 200)].into();
    for round in 0..eventstore_testkit::crash::rounds(2) {
        let before: i64 = counts(&store, &table).await.values().sum();
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "child_projection_process",
                "--ignored",
                "--nocapture",
            ])
            .env("EVENTSTORE_CHILD_SCHEMA", &schema.name)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..1000 {
            let now: i64 = counts(&store, &table).await.values().sum();
            if now > before + 100 || now == 600 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let applied: i64 = counts(&store, &table).await.values().sum();
        assert!(applied <= 600, "round {round}: never more than once");
        assert!(
            applied > before || applied == 600,
            "round {round}: the child made progress"
        );
    }
    let runner = ProjectionRunner::new(Arc::new(store.clone()))
        .with_transactional(Counts {
            table: table.clone(),
        })
        .lease_ttl(Duration::from_millis(300));
    let shutdown = CancellationToken::new();
    let run = {
        let shutdown = shutdown.clone();
        let runner = ProjectionRunner::new(Arc::new(store.clone()))
            .with_transactional(Counts {
                table: table.clone(),
            })
            .lease_ttl(Duration::from_millis(300));
        tokio::spawn(async move { runner.run(shutdown).await })
    };
    for _ in 0..800 {
        if counts(&store, &table).await == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    shutdown.cancel();
    run.await.unwrap();
    assert_eq!(
        counts(&store, &table).await,
        expected,
        "the same state as one clean run"
    );
    // A child killed after the last event was applied may still hold the lease until
    // its TTL lapses; rebuild refuses while it does.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(runner.rebuild("counts").await.unwrap(), 600);
    assert_eq!(
        counts(&store, &table).await,
        expected,
        "a rebuild gives the same state"
    );
}
