//! The outbox on PostgreSQL: business writes and events in one transaction (the store's,
//! or one the caller holds through tokio-postgres or deadpool), and the relay.

mod common;

use std::sync::Arc;
use std::time::Duration;

use eventstore_core::{
    AppendOptions, DeadLetterStore, Event, EventQuery, EventStore, RetryPolicy, TransactionalStore,
};
use eventstore_outbox::{OutboxRelay, RelayStats, TransactionalPublisher};
use eventstore_postgres::{PostgresEventStore, PostgresWork};
use eventstore_testkit::relay_crash::{self, FileSender};
use eventstore_testkit::{crash, sender::Recorder};
use futures::TryStreamExt as _;
use tokio_util::sync::CancellationToken;

use common::Schema;

fn created(order: &str) -> Event {
    Event::builder()
        .id(format!("{order}-created"))
        .source("/shop")
        .ty("order.created")
        .subject(order.to_owned())
        .build()
        .unwrap()
}

async fn setup(prefix: &str) -> (Schema, PostgresEventStore) {
    let schema = Schema::new(prefix);
    let store = schema.open().await;
    let sql = format!(
        "CREATE TABLE \"{}\".orders (id text PRIMARY KEY)",
        schema.name
    );
    let work: PostgresWork<()> = Box::new(move |tx| {
        Box::pin(async move {
            tx.batch_execute(&sql).await?;
            Ok(((), vec![]))
        })
    });
    store.transact(work, AppendOptions::new()).await.unwrap();
    (schema, store)
}

fn place(schema: &str, order: &'static str, fail: bool) -> PostgresWork<()> {
    let sql = format!("INSERT INTO \"{schema}\".orders (id) VALUES ($1)");
    Box::new(move |tx| {
        Box::pin(async move {
            tx.execute(&sql, &[&order]).await?;
            if fail {
                return Err("payment declined".into());
            }
            Ok(((), vec![created(order)]))
        })
    })
}

async fn orders(store: &PostgresEventStore, schema: &str) -> i64 {
    let client = store.pool().get().await.unwrap();
    let sql = format!("SELECT count(*) FROM \"{schema}\".orders");
    client.query_one(&sql, &[]).await.unwrap().get(0)
}

async fn events(store: &PostgresEventStore) -> usize {
    store
        .query(EventQuery::new())
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn business_writes_and_events_commit_together_or_not_at_all() {
    let (schema, store) = setup("obx_tx").await;
    let s = schema.name.as_str();
    let publisher = TransactionalPublisher::new(store.clone());
    publisher
        .publish_with_tx(place(s, "o1", false))
        .await
        .unwrap();
    assert_eq!((orders(&store, s).await, events(&store).await), (1, 1));
    let err = publisher
        .publish_with_tx(place(s, "o2", true))
        .await
        .unwrap_err();
    assert!(
        err.is_aborted() && err.to_string().contains("payment declined"),
        "{err}"
    );
    let dup_sql = format!("INSERT INTO \"{s}\".orders (id) VALUES ('o3')");
    let dup: PostgresWork<()> = Box::new(move |tx| {
        Box::pin(async move {
            tx.execute(&dup_sql, &[]).await?;
            Ok(((), vec![created("o1")]))
        })
    });
    assert!(
        publisher
            .publish_with_tx(dup)
            .await
            .unwrap_err()
            .is_duplicate()
    );
    assert_eq!((orders(&store, s).await, events(&store).await), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn appends_join_tokio_postgres_and_deadpool_transactions_the_caller_holds() {
    let (schema, store) = setup("obx_caller").await;
    let s = schema.name.clone();
    let insert = format!("INSERT INTO \"{s}\".orders (id) VALUES ($1)");

    // A tokio-postgres transaction on a connection of the caller's own.
    let (mut client, connection) =
        tokio_postgres::connect(&common::database_url(), tokio_postgres::NoTls)
            .await
            .unwrap();
    tokio::spawn(connection);
    let tx = client.transaction().await.unwrap();
    tx.execute(&insert, &[&"a"]).await.unwrap();
    store
        .append_in(&tx, vec![created("a")], AppendOptions::new())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let tx = client.transaction().await.unwrap();
    tx.execute(&insert, &[&"b"]).await.unwrap();
    store
        .append_in(&tx, vec![created("b")], AppendOptions::new())
        .await
        .unwrap();
    tx.rollback().await.unwrap();

    // A deadpool transaction (it derefs to tokio-postgres's).
    let mut pooled = store.pool().get().await.unwrap();
    let tx = pooled.transaction().await.unwrap();
    tx.execute(&insert, &[&"c"]).await.unwrap();
    store
        .append_in(&*tx, vec![created("c")], AppendOptions::new())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    drop(pooled);

    assert_eq!(orders(&store, &s).await, 2);
    assert!(store.get("/shop", "a-created").await.unwrap().is_some());
    assert!(store.get("/shop", "b-created").await.unwrap().is_none());
    assert!(store.get("/shop", "c-created").await.unwrap().is_some());
}

fn spawn(
    relay: OutboxRelay,
) -> (
    CancellationToken,
    tokio::task::JoinHandle<eventstore_core::Result<RelayStats>>,
) {
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    (
        shutdown,
        tokio::spawn(async move { relay.run(token).await }),
    )
}

async fn append_numbered(store: &PostgresEventStore, range: std::ops::Range<usize>) {
    store
        .append(range.map(|i| created(&format!("o{i}"))).collect())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_relay_delivers_in_order_and_a_killed_one_redelivers_only_its_batch() {
    // Batches fill from the backlog even on a loaded machine: with the default 2 ms
    // linger, a batch could go out short while the next rows were still being read, and
    // the sender would then hang on a batch other than the third.
    const FILL: Duration = Duration::from_secs(5);
    let (_schema, store) = setup("obx_relay").await;
    let arc = Arc::new(store.clone());
    append_numbered(&store, 0..100).await;
    let hanging = Arc::new(Recorder::hanging_on(3));
    let relay = OutboxRelay::new("r", arc.clone(), hanging.clone())
        .batch_size(10)
        .linger(FILL)
        .lease_ttl(Duration::from_millis(300));
    let (_stop, task) = spawn(relay);
    hanging.wait_for(30).await;
    task.abort();
    let _ = task.await;
    let first = hanging.ids();
    assert_eq!(first.len(), 30);

    let sender = Arc::new(Recorder::default());
    let relay = OutboxRelay::new("r", arc.clone(), sender.clone())
        .batch_size(10)
        .linger(FILL)
        .lease_ttl(Duration::from_millis(300));
    let (stop, task) = spawn(relay);
    sender.wait_for(80).await;
    append_numbered(&store, 100..110).await; // live
    sender.wait_for(90).await;
    stop.cancel();
    task.await.unwrap().unwrap();
    let second = sender.ids();
    assert_eq!(
        second[..10],
        first[20..30],
        "the batch in flight is delivered again"
    );
    let mut all = first[..20].to_vec();
    all.extend(second);
    let expected: Vec<String> = (0..110).map(|i| format!("o{i}-created")).collect();
    assert_eq!(all, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_relay_per_name_and_poison_events_are_dead_lettered() {
    let (_schema, store) = setup("obx_lease").await;
    let arc = Arc::new(store.clone());
    let ttl = Duration::from_millis(300);
    let a = Arc::new(Recorder::default());
    let b = Arc::new(Recorder::default());
    let (stop_a, task_a) = spawn(OutboxRelay::new("shared", arc.clone(), a.clone()).lease_ttl(ttl));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (stop_b, task_b) = spawn(OutboxRelay::new("shared", arc.clone(), b.clone()).lease_ttl(ttl));
    append_numbered(&store, 0..20).await;
    a.wait_for(20).await;
    tokio::time::sleep(ttl * 2).await;
    assert!(b.ids().is_empty());
    stop_a.cancel();
    task_a.await.unwrap().unwrap();
    append_numbered(&store, 20..30).await;
    b.wait_for(10).await;
    stop_b.cancel();
    task_b.await.unwrap().unwrap();

    let quick = RetryPolicy {
        max_attempts: 3,
        initial_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    };
    let picky = Arc::new(Recorder::refusing("o4-created"));
    let (stop, task) = spawn(OutboxRelay::new("picky", arc.clone(), picky.clone()).retry(quick));
    picky.wait_for(29).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.cancel();
    let stats = task.await.unwrap().unwrap();
    assert_eq!((stats.delivered, stats.dead_lettered), (29, 1));
    let letters = store.dead_letters("picky").await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].id, "o4-created");
    assert!(
        letters[0]
            .error
            .ends_with("malformed for the broker (reply: \"\u{fffd}\u{1}\")"),
        "{:?}",
        letters[0].error
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_relay_skips_nothing_while_writers_hold_transactions_open_and_roll_back() {
    let (_schema, store) = setup("obx_gap").await;
    let arc = Arc::new(store.clone());
    let sender = Arc::new(Recorder::default());
    let (stop, task) = spawn(OutboxRelay::new("r", arc.clone(), sender.clone()).batch_size(17));
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut committed = 0;
                for i in 0..30 {
                    let event = created(&format!("w{w}-{i}"));
                    if i % 7 == 3 {
                        // Held open, then committed or rolled back.
                        let hold = Duration::from_millis(30);
                        if common::append_held_open(&store, event, hold, i % 2 == 1).await {
                            committed += 1;
                        }
                    } else {
                        store.append(vec![event]).await.unwrap();
                        committed += 1;
                    }
                }
                committed
            })
        })
        .collect();
    let mut committed = 0;
    for writer in writers {
        committed += writer.await.unwrap();
    }
    sender.wait_for(committed).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.cancel();
    task.await.unwrap().unwrap();
    let sequences = sender.sequences();
    assert_eq!(sequences.len(), committed, "every committed event, once");
    assert!(
        sequences.windows(2).all(|w| w[0] < w[1]),
        "in sequence order"
    );
    assert_eq!(events(&store).await, committed);
}

/// The child side of the crash test: a relay delivering to a file until killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by a_relay_process_killed_mid_stream as a child process"]
async fn child_relay_process() {
    let (Ok(schema), Some(out)) = (
        std::env::var("EVENTSTORE_CHILD_SCHEMA"),
        std::env::var_os("EVENTSTORE_CHILD_OUT"),
    ) else {
        return;
    };
    let store = Arc::new(Schema::options_for(&schema).open().await.unwrap());
    let sender = Arc::new(FileSender::new(out));
    let relay = OutboxRelay::new("crash", store, sender)
        .batch_size(relay_crash::BATCH)
        .lease_ttl(Duration::from_millis(300));
    relay.run(CancellationToken::new()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_relay_process_killed_mid_stream_loses_nothing_and_repeats_at_most_a_batch() {
    let (schema, store) = setup("obx_crash").await;
    let out = std::env::temp_dir().join(format!("{}.delivered", schema.name));
    // `CRASH_REPEATS` kills (default 1), each after the child delivered some more.
    let kills = crash::rounds(1);
    let total = relay_crash::PER_KILL * kills;
    append_numbered(&store, 0..total).await;
    let expected: Vec<String> = (0..total).map(|i| format!("o{i}-created")).collect();
    let env = [
        ("EVENTSTORE_CHILD_SCHEMA", schema.name.as_str()),
        ("EVENTSTORE_CHILD_OUT", out.to_str().unwrap()),
    ];
    let spawn = |kill| crash::spawn_child("child_relay_process", kill, &env);
    let relay_store = Arc::new(store.clone());
    relay_crash::killed_relays(kills, &expected, &out, spawn, |sender| async move {
        let relay =
            OutboxRelay::new("crash", relay_store, sender).lease_ttl(Duration::from_millis(300));
        relay.run(CancellationToken::new()).await.unwrap();
    })
    .await;
    let _ = std::fs::remove_file(&out);
}
