//! Appending and reading through sqlx transactions the test opens itself, against a
//! real PostgreSQL (`DATABASE_URL`, else 127.0.0.1:5432), each test in a schema of its
//! own.

use eventstore_core::sql::TableName;
use eventstore_core::{AppendOptions, Event, EventQuery, EventStore, ExpectedVersion};
use eventstore_postgres::{PostgresEventStore, PostgresOptions};
use eventstore_sqlx::SqlxEventStore;
use futures::TryStreamExt as _;
use sqlx::{AssertSqlSafe, PgPool};
use time::macros::datetime;

fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// One test's schema: the event table (created by the PostgreSQL backend), a business
/// table `orders`, a sqlx pool, and both stores.
struct Fixture {
    schema: String,
    pool: PgPool,
    postgres: PostgresEventStore,
    sqlx: SqlxEventStore,
}

impl Fixture {
    async fn new(name: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let schema = format!("t_sqlx_{name}_{}_{nanos}", std::process::id());
        let url = database_url();
        let pool = PgPool::connect(&url).await.unwrap_or_else(|e| {
            panic!("cannot connect to PostgreSQL at {url} (set DATABASE_URL): {e}")
        });
        sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
            .execute(&pool)
            .await
            .unwrap();
        let postgres = PostgresOptions::from_url(&url)
            .unwrap()
            .schema(&schema)
            .unwrap()
            .open()
            .await
            .unwrap();
        sqlx::query(AssertSqlSafe(format!(
            "CREATE TABLE \"{schema}\".orders (id bigint PRIMARY KEY, total numeric NOT NULL)"
        )))
        .execute(&pool)
        .await
        .unwrap();
        let table = TableName::new("events")
            .unwrap()
            .in_schema(&schema)
            .unwrap();
        assert_eq!(postgres.table(), &table);
        Self {
            schema,
            pool,
            postgres,
            sqlx: SqlxEventStore::new(table),
        }
    }

    fn insert_order(&self) -> String {
        format!(
            "INSERT INTO \"{}\".orders (id, total) VALUES ($1, $2)",
            self.schema
        )
    }

    async fn orders(&self) -> i64 {
        sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT count(*) FROM \"{}\".orders",
            self.schema
        )))
        .fetch_one(&self.pool)
        .await
        .unwrap()
    }

    async fn events(&self) -> Vec<eventstore_core::StoredEvent> {
        self.postgres
            .query(EventQuery::new())
            .try_collect()
            .await
            .unwrap()
    }

    async fn drop_schema(self) {
        self.postgres.close().await.unwrap();
        sqlx::query(AssertSqlSafe(format!(
            "DROP SCHEMA \"{}\" CASCADE",
            self.schema
        )))
        .execute(&self.pool)
        .await
        .unwrap();
        self.pool.close().await;
    }
}

fn order_created(order: i64) -> Event {
    Event::builder()
        .id(format!("order-{order}-created"))
        .source("/shop")
        .ty("order.created")
        .subject(format!("order-{order}"))
        .json(&serde_json::json!({ "order": order }))
        .build()
        .unwrap()
}

#[tokio::test]
async fn business_write_and_events_commit_together() {
    let f = Fixture::new("commit").await;
    let mut tx = f.pool.begin().await.unwrap();
    sqlx::query(AssertSqlSafe(f.insert_order()))
        .bind(1_i64)
        .bind(42_i32)
        .execute(&mut *tx)
        .await
        .unwrap();
    let events = vec![order_created(1), order_created(2)];
    let done = f
        .sqlx
        .append_in(&mut tx, events.clone(), AppendOptions::new())
        .await
        .unwrap();
    assert_eq!(done.appended.len(), 2);
    assert_eq!(done.appended[0].stream_version, Some(1));
    // Inside the transaction, its own events are visible to it, and only to it.
    let own = f
        .sqlx
        .get_in(&mut tx, "/shop", "order-1-created")
        .await
        .unwrap();
    assert!(own.is_some());
    assert!(
        f.postgres
            .get("/shop", "order-1-created")
            .await
            .unwrap()
            .is_none()
    );
    f.sqlx.notify_in(&mut tx).await.unwrap();
    tx.commit().await.unwrap();

    assert_eq!(f.orders().await, 1);
    let stored = f.events().await;
    assert_eq!(stored.len(), 2);
    for (stored, (event, appended)) in stored.iter().zip(events.iter().zip(&done.appended)) {
        assert_eq!(stored.event(), event);
        assert_eq!(stored.sequence(), appended.sequence);
        assert_eq!(stored.recorded_at(), done.recorded_at);
    }
    let mut conn = f.pool.acquire().await.unwrap();
    let read: Vec<_> = f
        .sqlx
        .query_in(&mut conn, EventQuery::new())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(read, stored);
    drop(conn);
    f.drop_schema().await;
}

#[tokio::test]
async fn a_failing_business_step_rolls_back_both() {
    let f = Fixture::new("business").await;
    let mut tx = f.pool.begin().await.unwrap();
    f.sqlx
        .append_in(&mut tx, vec![order_created(1)], AppendOptions::new())
        .await
        .unwrap();
    sqlx::query(AssertSqlSafe(f.insert_order()))
        .bind(1_i64)
        .bind(42_i32)
        .execute(&mut *tx)
        .await
        .unwrap();
    // The same order again: the business step fails after the append.
    let failed = sqlx::query(AssertSqlSafe(f.insert_order()))
        .bind(1_i64)
        .bind(43_i32)
        .execute(&mut *tx)
        .await;
    assert!(failed.is_err());
    tx.rollback().await.unwrap();

    assert_eq!(f.orders().await, 0);
    assert!(f.events().await.is_empty());
    f.drop_schema().await;
}

#[tokio::test]
async fn a_duplicate_rolls_back_both() {
    let f = Fixture::new("duplicate").await;
    f.postgres.append(vec![order_created(1)]).await.unwrap();

    let mut tx = f.pool.begin().await.unwrap();
    sqlx::query(AssertSqlSafe(f.insert_order()))
        .bind(2_i64)
        .bind(42_i32)
        .execute(&mut *tx)
        .await
        .unwrap();
    let error = f
        .sqlx
        .append_in(
            &mut tx,
            vec![order_created(2), order_created(1)],
            AppendOptions::new(),
        )
        .await
        .unwrap_err();
    assert!(error.is_duplicate(), "{error}");
    drop(tx); // rolls back

    assert_eq!(f.orders().await, 0);
    assert_eq!(f.events().await.len(), 1);
    f.drop_schema().await;
}

#[tokio::test]
async fn batches_over_the_limits_are_refused_before_any_statement() {
    let f = Fixture::new("limits").await;
    let limited = f
        .sqlx
        .clone()
        .with_limits(eventstore_core::Limits::default().max_batch_events(1));
    let mut tx = f.pool.begin().await.unwrap();
    let error = limited
        .append_in(
            &mut tx,
            vec![order_created(1), order_created(2)],
            AppendOptions::new(),
        )
        .await
        .unwrap_err();
    assert!(error.is_invalid(), "{error}");
    assert!(error.to_string().contains("limit of 1"), "{error}");
    // Refused before any statement: the transaction is still usable.
    limited
        .append_in(&mut tx, vec![order_created(3)], AppendOptions::new())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(f.events().await.len(), 1);
    f.drop_schema().await;
}

#[tokio::test]
async fn a_failed_expectation_rolls_back_both() {
    let f = Fixture::new("conflict").await;
    f.postgres.append(vec![order_created(1)]).await.unwrap();

    let mut tx = f.pool.begin().await.unwrap();
    sqlx::query(AssertSqlSafe(f.insert_order()))
        .bind(1_i64)
        .bind(42_i32)
        .execute(&mut *tx)
        .await
        .unwrap();
    let mut second = order_created(1)
        .into_builder()
        .id("order-1-paid")
        .ty("order.paid");
    second = second.subject("order-1");
    let error = f
        .sqlx
        .append_in(
            &mut tx,
            vec![second.build().unwrap()],
            AppendOptions::new().expect("order-1", ExpectedVersion::NoStream),
        )
        .await
        .unwrap_err();
    assert!(error.is_conflict(), "{error}");
    tx.rollback().await.unwrap();

    assert_eq!(f.orders().await, 0);
    assert_eq!(f.events().await.len(), 1);
    f.drop_schema().await;
}

#[tokio::test]
async fn events_are_read_back_exactly() {
    let f = Fixture::new("exact").await;
    let events = vec![
        Event::builder()
            .id("json")
            .source("/exact")
            .ty("t.json")
            .subject("s")
            .time(datetime!(2026-03-01 12:34:56.123456789 +02:00))
            .datacontenttype("application/json")
            .dataschema("https://example.com/schema")
            .correlationid("c-1")
            .topic("orders")
            .destination("billing")
            .json(&serde_json::json!({ "a": [1, 2.5, "x"], "b": null }))
            .build()
            .unwrap(),
        Event::builder()
            .id("binary")
            .source("/exact")
            .ty("t.binary")
            .subject("s")
            .datacontenttype("application/octet-stream")
            .binary(vec![0_u8, 159, 146, 150, 255])
            .build()
            .unwrap(),
        Event::builder()
            .id("extensions")
            .source("/exact")
            .ty("t.ext")
            .extension("count", 7_i32)
            .extension("flag", true)
            .extension("label", "x")
            .text("plain text")
            .build()
            .unwrap(),
        Event::builder()
            .id("json-jsonb-would-change")
            .source("/exact")
            .ty("t.json")
            .subject("other")
            .data(eventstore_core::Data::Json(
                eventstore_core::Json::from_string("[1e2, -0]".to_owned()).unwrap(),
            ))
            .build()
            .unwrap(),
    ];
    let mut tx = f.pool.begin().await.unwrap();
    let done = f
        .sqlx
        .append_in(&mut tx, events.clone(), AppendOptions::new())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let versions: Vec<_> = done.appended.iter().map(|a| a.stream_version).collect();
    assert_eq!(versions, [Some(1), Some(2), None, Some(1)]);

    let through_postgres = f.events().await;
    let mut conn = f.pool.acquire().await.unwrap();
    let through_sqlx: Vec<_> = f
        .sqlx
        .query_in(&mut conn, EventQuery::new())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(through_sqlx, through_postgres);
    let read: Vec<&Event> = through_sqlx.iter().map(|s| s.event()).collect();
    assert_eq!(read, events.iter().collect::<Vec<_>>());

    let stream: Vec<_> = f
        .sqlx
        .stream_in(&mut conn, "s", 2)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(stream.len(), 1);
    assert_eq!(stream[0].event(), &events[1]);
    assert_eq!(
        f.sqlx.stream_version_in(&mut conn, "s").await.unwrap(),
        Some(2)
    );
    assert_eq!(
        f.sqlx.stream_version_in(&mut conn, "none").await.unwrap(),
        None
    );
    // No stream holds U+0000, and asking must not fail (as on the PostgreSQL backend).
    assert_eq!(
        f.sqlx.stream_version_in(&mut conn, "s\0").await.unwrap(),
        None
    );
    let got = f.sqlx.get_in(&mut conn, "/exact", "binary").await.unwrap();
    assert_eq!(got.as_ref().map(|s| s.event()), Some(&events[1]));
    let filtered: Vec<_> = f
        .sqlx
        .query_in(&mut conn, EventQuery::new().extension("flag", true))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(filtered.len(), 1);
    drop(conn);
    f.drop_schema().await;
}

#[tokio::test]
async fn followers_wait_for_an_open_sqlx_transaction() {
    let f = Fixture::new("horizon").await;
    f.postgres.append(vec![order_created(1)]).await.unwrap();

    let mut tx = f.pool.begin().await.unwrap();
    let held = f
        .sqlx
        .append_in(&mut tx, vec![order_created(2)], AppendOptions::new())
        .await
        .unwrap();
    // A later append commits a higher sequence while the transaction is open.
    let later = f.postgres.append(vec![order_created(3)]).await.unwrap();
    assert!(later.appended[0].sequence > held.appended[0].sequence);

    let horizon = f.postgres.horizon().await.unwrap();
    assert!(horizon.safe < held.appended[0].sequence, "{horizon:?}");
    let mut conn = f.pool.acquire().await.unwrap();
    assert_eq!(f.sqlx.horizon_in(&mut conn).await.unwrap(), horizon);
    let follower: Vec<_> = f
        .sqlx
        .query_in(&mut conn, EventQuery::new().after(0))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        follower.len(),
        1,
        "the follower stops below the open transaction"
    );

    tx.commit().await.unwrap();
    let follower: Vec<_> = f
        .sqlx
        .query_in(&mut conn, EventQuery::new().after(0))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(follower.len(), 3);
    drop(conn);
    f.drop_schema().await;
}

#[tokio::test]
async fn a_concurrent_duplicate_is_a_typed_error() {
    let f = Fixture::new("race").await;
    // No subject: nothing to lock, so the second writer reaches the unique index and
    // waits there for the first one's commit (SQLSTATE 23505 when it commits).
    let event = Event::builder()
        .id("once")
        .source("/race")
        .ty("t")
        .build()
        .unwrap();
    let mut first = f.pool.begin().await.unwrap();
    f.sqlx
        .append_in(&mut first, vec![event.clone()], AppendOptions::new())
        .await
        .unwrap();
    let second = {
        let (pool, store, event) = (f.pool.clone(), f.sqlx.clone(), event.clone());
        tokio::spawn(async move {
            let mut tx = pool.begin().await.unwrap();
            store
                .append_in(&mut tx, vec![event], AppendOptions::new())
                .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    first.commit().await.unwrap();
    let error = second.await.unwrap().unwrap_err();
    match &error {
        eventstore_core::Error::Duplicate { event_source, id } => {
            assert_eq!((event_source.as_str(), id.as_str()), ("/race", "once"));
        }
        other => panic!("expected a duplicate, got {other}"),
    }
    assert_eq!(f.events().await.len(), 1);
    f.drop_schema().await;
}

/// A lock wait past the caller's `lock_timeout` is `Error::Timeout`, as on the
/// PostgreSQL backend, not a generic database error.
#[tokio::test]
async fn a_lock_wait_past_the_lock_timeout_is_a_timeout() {
    let f = Fixture::new("timeout").await;
    let mut first = f.pool.begin().await.unwrap();
    f.sqlx
        .append_in(&mut first, vec![order_created(1)], AppendOptions::new())
        .await
        .unwrap();
    let mut second = f.pool.begin().await.unwrap();
    sqlx::query("SET LOCAL lock_timeout = '100ms'")
        .execute(&mut *second)
        .await
        .unwrap();
    let mut again = order_created(1).into_builder();
    again = again.id("order-1-created-again");
    let error = f
        .sqlx
        .append_in(
            &mut second,
            vec![again.build().unwrap()],
            AppendOptions::new(),
        )
        .await
        .unwrap_err();
    assert!(error.is_timeout(), "{error}");
    drop(second);
    first.commit().await.unwrap();
    f.drop_schema().await;
}
