//! The transactional publisher on SQLite: business writes and events in one transaction
//! (the store's, or a rusqlite one the caller holds), against a real database file. The
//! relay's behaviour is the backend-agnostic suite's (`eventstore_testkit::delivery`),
//! run by `eventstore-sqlite/tests/delivery.rs`.

use eventstore_core::{AppendOptions, Error, Event, EventStore, ExpectedVersion};
use eventstore_outbox::TransactionalPublisher;
use eventstore_sqlite::{SqliteEventStore, SqliteWork};
use eventstore_testkit::data::order_created as created;

struct Fixture {
    store: SqliteEventStore,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteEventStore::open(dir.path().join("outbox.db"))
        .await
        .unwrap();
    store
        .write_sql("CREATE TABLE orders (id TEXT PRIMARY KEY, total INTEGER NOT NULL)")
        .await;
    Fixture { store, _dir: dir }
}

trait Sql {
    async fn write_sql(&self, sql: &str);
    async fn orders(&self) -> i64;
}

impl Sql for SqliteEventStore {
    async fn write_sql(&self, sql: &str) {
        let sql = sql.to_owned();
        let work: SqliteWork<()> = Box::new(move |tx| {
            tx.execute_batch(&sql)?;
            Ok(((), vec![]))
        });
        TransactionalPublisher::new(self.clone())
            .publish_with_tx(work)
            .await
            .unwrap();
    }

    async fn orders(&self) -> i64 {
        let work: SqliteWork<i64> = Box::new(|tx| {
            Ok((
                tx.query_row("SELECT COUNT(*) FROM orders", [], |r| r.get(0))?,
                vec![],
            ))
        });
        TransactionalPublisher::new(self.clone())
            .publish_with_tx(work)
            .await
            .unwrap()
            .value
    }
}

fn place(order: &'static str, fail: bool) -> SqliteWork<()> {
    Box::new(move |tx| {
        tx.execute("INSERT INTO orders (id, total) VALUES (?1, 10)", [order])?;
        if fail {
            return Err("payment declined".into());
        }
        Ok(((), vec![created(order)]))
    })
}

async fn events(store: &SqliteEventStore) -> usize {
    use futures::TryStreamExt as _;
    store
        .query(eventstore_core::EventQuery::new())
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn business_writes_and_events_commit_together_or_not_at_all() {
    let f = fixture().await;
    let publisher = TransactionalPublisher::new(f.store.clone());
    let done = publisher.publish_with_tx(place("o1", false)).await.unwrap();
    assert_eq!(done.appended.appended.len(), 1);
    assert_eq!((f.store.orders().await, events(&f.store).await), (1, 1));

    // The business logic fails: neither its row nor the event is visible.
    let err = publisher
        .publish_with_tx(place("o2", true))
        .await
        .unwrap_err();
    assert!(
        err.is_aborted() && err.to_string().contains("payment declined"),
        "{err}"
    );
    assert_eq!((f.store.orders().await, events(&f.store).await), (1, 1));

    // The append fails (the stream moved on): the business row is rolled back too.
    let options = AppendOptions::new().expect("o3", ExpectedVersion::Exists);
    let err = publisher
        .publish_with_options(place("o3", false), options)
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    // A duplicate event: the same.
    let dup: SqliteWork<()> = Box::new(|tx| {
        tx.execute("INSERT INTO orders (id, total) VALUES ('o4', 1)", [])?;
        Ok(((), vec![created("o1")]))
    });
    assert!(
        publisher
            .publish_with_tx(dup)
            .await
            .unwrap_err()
            .is_duplicate()
    );
    // A store error raised inside the work passes through typed.
    let invalid: SqliteWork<()> = Box::new(|_| {
        let event = Event::builder().id("").source("/x").ty("t").build()?;
        Ok(((), vec![event]))
    });
    assert!(
        publisher
            .publish_with_tx(invalid)
            .await
            .unwrap_err()
            .is_invalid()
    );
    assert_eq!((f.store.orders().await, events(&f.store).await), (1, 1));
}

#[tokio::test]
async fn appends_join_a_rusqlite_transaction_the_caller_holds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("caller.db");
    let store = SqliteEventStore::open(&path).await.unwrap();
    let store_for_thread = store.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE orders (id TEXT PRIMARY KEY)")
            .unwrap();
        let immediate = rusqlite::TransactionBehavior::Immediate;
        // Committed: both visible.
        let tx = conn.transaction_with_behavior(immediate).unwrap();
        tx.execute("INSERT INTO orders VALUES ('a')", []).unwrap();
        store_for_thread
            .append_in(&tx, &[created("a")], &AppendOptions::new())
            .unwrap();
        tx.commit().unwrap();
        store_for_thread.notify_committed();
        // Rolled back: neither.
        let tx = conn.transaction_with_behavior(immediate).unwrap();
        tx.execute("INSERT INTO orders VALUES ('b')", []).unwrap();
        store_for_thread
            .append_in(&tx, &[created("b")], &AppendOptions::new())
            .unwrap();
        drop(tx);
        // Outside a transaction: refused.
        let err = store_for_thread.append_in(&conn, &[created("c")], &AppendOptions::new());
        assert!(matches!(err, Err(Error::Config(_))));
        let orders: i64 = conn
            .query_row("SELECT COUNT(*) FROM orders", [], |r| r.get(0))
            .unwrap();
        assert_eq!(orders, 1);
    })
    .await
    .unwrap();
    assert!(store.get("/shop", "a-created").await.unwrap().is_some());
    assert!(store.get("/shop", "b-created").await.unwrap().is_none());
    assert_eq!(events(&store).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_name_no_backend_keeps_is_refused_before_the_work_runs() {
    use eventstore_core::{CheckpointMove, TransactionalStore as _};
    let f = fixture().await;
    let work: SqliteWork<()> = Box::new(|tx| {
        tx.execute("INSERT INTO orders VALUES ('nul', 1)", [])?;
        Ok(((), vec![created("nul")]))
    });
    let refused = f
        .store
        .transact_at_checkpoint(
            work,
            AppendOptions::new(),
            "projection/\0",
            CheckpointMove::To(1),
        )
        .await;
    match refused {
        Err(e @ Error::Config(_)) => assert!(e.to_string().contains("checkpoint name"), "{e}"),
        other => panic!("not refused: {other:?}"),
    }
    assert_eq!(f.store.orders().await, 0);
    assert!(f.store.get("/shop", "nul-created").await.unwrap().is_none());
}
