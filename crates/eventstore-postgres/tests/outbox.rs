//! The outbox on PostgreSQL: business writes and events in one transaction (the store's,
//! or one the caller holds through tokio-postgres or deadpool), and the relay while
//! writers hold PostgreSQL transactions open. The rest of the relay's behaviour is the
//! backend-agnostic suite's (`eventstore_testkit::delivery`), run by `tests/delivery.rs`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use eventstore_core::{
    AppendOptions, CheckpointMove, Error, Event, EventQuery, EventStore, ExpectedVersion,
    TransactionalStore,
};
use eventstore_outbox::{OutboxRelay, RelayStats, TransactionalPublisher};
use eventstore_postgres::{PostgresEventStore, PostgresWork};
use eventstore_testkit::data::order_created as created;
use eventstore_testkit::sender::Recorder;
use futures::TryStreamExt as _;
use tokio_util::sync::CancellationToken;

use common::Schema;

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
    // The append fails (the stream moved on): the business row is rolled back too.
    let options = AppendOptions::new().expect("o4", ExpectedVersion::Exists);
    let err = publisher
        .publish_with_options(place(s, "o4", false), options)
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    // A store error raised inside the work passes through typed.
    let invalid: PostgresWork<()> = Box::new(|_| {
        Box::pin(async {
            let event = Event::builder().id("").source("/x").ty("t").build()?;
            Ok(((), vec![event]))
        })
    });
    assert!(
        publisher
            .publish_with_tx(invalid)
            .await
            .unwrap_err()
            .is_invalid()
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_relay_skips_nothing_while_writers_hold_transactions_open_and_roll_back() {
    let (_schema, store) = setup("obx_gap").await;
    let arc = Arc::new(store.clone());
    let sender = Arc::new(Recorder::default());
    let (stop, task) = spawn(
        OutboxRelay::new("r", arc.clone(), sender.clone())
            .batch_size(17)
            .expect("a valid batch size"),
    );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_name_no_backend_keeps_is_refused_before_the_work_runs() {
    let (schema, store) = setup("obx_name").await;
    let s = schema.name.as_str();
    let refused = store
        .transact_at_checkpoint(
            place(s, "nul", false),
            AppendOptions::new(),
            "projection/\0",
            CheckpointMove::To(1),
        )
        .await;
    match refused {
        Err(e @ Error::Config(_)) => assert!(e.to_string().contains("checkpoint name"), "{e}"),
        other => panic!("not refused: {other:?}"),
    }
    assert_eq!(orders(&store, s).await, 0);
    assert!(store.get("/shop", "nul-created").await.unwrap().is_none());
}
