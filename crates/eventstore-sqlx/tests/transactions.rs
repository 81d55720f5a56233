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

/// Waits until the server backend `pid` waits for a lock another transaction holds, or
/// until `task`, which runs on it, has finished (then its result tells why).
async fn wait_for_lock<T>(pool: &PgPool, pid: i32, task: &tokio::task::JoinHandle<T>) {
    for _ in 0..1000 {
        let waiting: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity \
             WHERE pid = $1 AND wait_event_type = 'Lock')",
        )
        .bind(pid)
        .fetch_one(pool)
        .await
        .unwrap();
        if waiting || task.is_finished() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("backend {pid} never waited for a lock");
}

/// A follower reading with `after` inside a transaction begun by `begin`, whose
/// snapshot is taken while a lower sequence is still in flight, after that sequence
/// commits: the sequences it reads.
async fn follow_past_a_late_commit(
    f: &Fixture,
    begin: &'static str,
) -> eventstore_core::Result<Vec<i64>> {
    let mut late = f.pool.begin().await.unwrap();
    f.sqlx
        .append_in(&mut late, vec![order_created(1)], AppendOptions::new())
        .await
        .unwrap();
    f.postgres.append(vec![order_created(2)]).await.unwrap();
    let mut reader = f.pool.begin_with(begin).await.unwrap();
    // The reader's first statement: a REPEATABLE READ snapshot is taken here.
    sqlx::query("SELECT 1").execute(&mut *reader).await.unwrap();
    late.commit().await.unwrap();
    let followed: eventstore_core::Result<Vec<_>> = f
        .sqlx
        .query_in(&mut reader, EventQuery::new().after(0))
        .try_collect()
        .await;
    // Refused before reading: the transaction is still usable, for plain queries too.
    let plain: Vec<_> = f
        .sqlx
        .query_in(&mut reader, EventQuery::new())
        .try_collect()
        .await
        .unwrap();
    assert!(!plain.is_empty());
    reader.rollback().await.unwrap();
    followed.map(|events| events.iter().map(|e| e.sequence()).collect())
}

/// A follower computes the horizon from the present, and reads with its transaction's
/// snapshot: in REPEATABLE READ or SERIALIZABLE that snapshot can miss an event below
/// the horizon committed since, which the follower would move past for good. So it is
/// refused there, with a typed error, and reads everything under READ COMMITTED.
#[tokio::test]
async fn a_follower_needs_read_committed() {
    for (level, begin) in [
        ("repeatable read", "BEGIN ISOLATION LEVEL REPEATABLE READ"),
        ("serializable", "BEGIN ISOLATION LEVEL SERIALIZABLE"),
    ] {
        let f = Fixture::new("snapshot").await;
        let error = follow_past_a_late_commit(&f, begin).await.unwrap_err();
        match &error {
            eventstore_core::Error::InvalidQuery(message) => {
                assert!(message.contains(level), "{message}");
                assert!(message.contains("READ COMMITTED"), "{message}");
            }
            other => panic!("expected an invalid query in {level}, got {other}"),
        }
        f.drop_schema().await;
    }
    let f = Fixture::new("snapshot").await;
    let followed = follow_past_a_late_commit(&f, "BEGIN ISOLATION LEVEL READ COMMITTED")
        .await
        .unwrap();
    assert_eq!(followed, [1, 2]);
    f.drop_schema().await;
}

/// A table named without a schema is in `public`, as on the PostgreSQL backend, whatever
/// the connection's `search_path`: the table, its sequence, its locks and its channel
/// are one table's, not a table of the `search_path` with `public`'s sequence. (The
/// table has a name of its own in `public`, dropped at the end.)
#[tokio::test]
async fn a_table_without_a_schema_is_in_public_whatever_the_search_path() {
    let f = Fixture::new("search_path").await;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let name = format!("t_sqlx_public_{}_{nanos}", std::process::id());
    let open = |schema: &str| {
        PostgresOptions::from_url(&database_url())
            .unwrap()
            .schema(schema)
            .unwrap()
            .table(&name)
            .unwrap()
            .open()
    };
    let store = SqlxEventStore::new(TableName::new(&name).unwrap());
    // Everything that could fail before the clean-up, as one result.
    let outcome = async {
        let public = open("public").await?;
        // A table of the same name in the schema the connection's `search_path` names.
        let decoy = open(&f.schema).await?;
        let mut conn = f
            .pool
            .acquire()
            .await
            .map_err(eventstore_core::Error::database)?;
        sqlx::query(AssertSqlSafe(format!("SET search_path = \"{}\"", f.schema)))
            .execute(&mut *conn)
            .await
            .map_err(eventstore_core::Error::database)?;
        let mut tx = sqlx::Connection::begin(&mut *conn)
            .await
            .map_err(eventstore_core::Error::database)?;
        store
            .append_in(&mut tx, vec![order_created(1)], AppendOptions::new())
            .await?;
        tx.commit()
            .await
            .map_err(eventstore_core::Error::database)?;
        let followed: Vec<_> = store
            .query_in(&mut conn, EventQuery::new().after(0))
            .try_collect()
            .await?;
        let found = (
            public.get("/shop", "order-1-created").await?.is_some(),
            decoy.get("/shop", "order-1-created").await?.is_some(),
            followed.len(),
        );
        public.close().await?;
        decoy.close().await?;
        Ok::<_, eventstore_core::Error>((found, public.table().clone()))
    }
    .await;
    sqlx::raw_sql(AssertSqlSafe(format!(
        "DROP TABLE IF EXISTS public.\"{name}\", public.\"{name}$checkpoints\", \
         public.\"{name}$leases\", public.\"{name}$dead_letters\", public.\"{name}$snapshots\"; \
         DROP SEQUENCE IF EXISTS public.\"{name}$sequence\"; \
         DELETE FROM public.eventstore_migrations WHERE table_name = '{name}'"
    )))
    .execute(&f.pool)
    .await
    .unwrap();
    f.drop_schema().await;
    let (found, public) = outcome.unwrap();
    assert_eq!(
        found,
        (true, false, 1),
        "(in public, in the decoy, followed)"
    );
    assert_eq!(store.table(), &public);
}

/// Where the appending connection is.
#[derive(Debug, Clone, Copy)]
enum Session {
    ReadCommitted,
    RepeatableRead,
    NoTransaction,
}

/// With `OnDuplicate::Skip`, appends a stored event and a new one while another
/// transaction holds the stored one uncommitted, on a connection `session` says; that
/// transaction commits while the append waits for it. The append's result, and the
/// events stored after.
async fn skip_a_duplicate_committed_meanwhile(
    session: Session,
) -> (
    eventstore_core::Result<eventstore_core::AppendResult>,
    Vec<eventstore_core::StoredEvent>,
    Option<i64>,
) {
    let f = Fixture::new("skip_race").await;
    // No subject: nothing to lock, so the append waits on the unique index instead.
    let unsubjected = |id: &str| {
        Event::builder()
            .id(id)
            .source("/race")
            .ty("t")
            .build()
            .unwrap()
    };
    let (once, twice) = (unsubjected("once"), unsubjected("twice"));
    f.postgres.append(vec![order_created(1)]).await.unwrap();
    // Two other transactions each hold one of the batch's events.
    let mut first = f.pool.begin().await.unwrap();
    f.sqlx
        .append_in(&mut first, vec![once.clone()], AppendOptions::new())
        .await
        .unwrap();
    let mut first2 = f.pool.begin().await.unwrap();
    f.sqlx
        .append_in(&mut first2, vec![twice.clone()], AppendOptions::new())
        .await
        .unwrap();
    let mut conn = f.pool.acquire().await.unwrap();
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    let second = {
        let store = f.sqlx.clone();
        // The second event goes to a stream at version 1: it must take version 2.
        let mut other = order_created(1).into_builder();
        other = other.id("order-1-paid").ty("order.paid");
        let batch = vec![once, twice, other.build().unwrap()];
        let options = AppendOptions::new().on_duplicate(eventstore_core::OnDuplicate::Skip);
        tokio::spawn(async move {
            let begin = match session {
                Session::ReadCommitted => "BEGIN",
                Session::RepeatableRead => "BEGIN ISOLATION LEVEL REPEATABLE READ",
                Session::NoTransaction => {
                    return store.append_in(&mut conn, batch, options).await;
                }
            };
            let mut tx = sqlx::Connection::begin_with(&mut *conn, begin)
                .await
                .unwrap();
            let done = store.append_in(&mut tx, batch, options).await;
            if done.is_ok() {
                tx.commit().await.unwrap();
            }
            done
        })
    };
    wait_for_lock(&f.pool, pid, &second).await;
    first.commit().await.unwrap();
    wait_for_lock(&f.pool, pid, &second).await;
    first2.commit().await.unwrap();
    let done = second.await.unwrap();
    let stored = f.events().await;
    let version = f.postgres.stream_version("order-1").await.unwrap();
    f.drop_schema().await;
    (done, stored, version)
}

/// `OnDuplicate::Skip` skips events concurrent transactions commit while the append
/// waits for them, in the caller's READ COMMITTED transaction (rolled back to a savepoint
/// and run again) and on a connection outside a transaction, and appends the rest with
/// gap-free stream versions. In REPEATABLE READ the transaction's snapshot cannot see it:
/// a duplicate, as documented.
#[tokio::test]
async fn skip_skips_a_duplicate_committed_meanwhile() {
    for session in [Session::ReadCommitted, Session::NoTransaction] {
        let (done, stored, version) = skip_a_duplicate_committed_meanwhile(session).await;
        let done = done.unwrap_or_else(|e| panic!("{session:?}: {e}"));
        let skipped: Vec<(usize, &str)> = done
            .skipped
            .iter()
            .map(|s| (s.index, s.id.as_str()))
            .collect();
        assert_eq!(skipped, [(0, "once"), (1, "twice")], "{session:?}");
        assert_eq!(done.appended.len(), 1, "{session:?}");
        assert_eq!(done.appended[0].stream_version, Some(2), "{session:?}");
        let ids: Vec<&str> = stored.iter().map(|e| e.event().id()).collect();
        assert_eq!(
            ids,
            ["order-1-created", "once", "twice", "order-1-paid"],
            "{session:?}"
        );
        assert_eq!(version, Some(2), "{session:?}");
    }
    let (done, stored, _) = skip_a_duplicate_committed_meanwhile(Session::RepeatableRead).await;
    let error = done.unwrap_err();
    assert!(error.is_duplicate(), "{error}");
    assert_eq!(stored.len(), 3);
}

/// `append_in` on a connection outside a transaction block (a pooled connection): the
/// subject locks end with their own statement, so the append statement can lose the
/// race for a stream version to a concurrent writer. It runs again, as the PostgreSQL
/// backend's appends do, instead of reporting a conflict on a stream the caller never
/// asked to check.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn append_in_outside_a_transaction_appends_under_contention() {
    const CLIENTS: usize = 4;
    const EACH: usize = 30;
    let f = Fixture::new("contended").await;
    let writers: Vec<_> = (0..CLIENTS)
        .map(|w| {
            let (pool, store) = (f.pool.clone(), f.sqlx.clone());
            tokio::spawn(async move {
                let mut conn = pool.acquire().await.unwrap();
                for i in 0..EACH {
                    let event = Event::builder()
                        .id(format!("w{w}-{i}"))
                        .source("/contended")
                        .ty("t")
                        .subject("shared")
                        .build()
                        .unwrap();
                    store
                        .append_in(&mut conn, vec![event], AppendOptions::new())
                        .await?;
                }
                Ok::<_, eventstore_core::Error>(())
            })
        })
        .collect();
    for writer in writers {
        writer
            .await
            .unwrap()
            .expect("every append without expectations appends");
    }
    let versions: Vec<Option<i64>> = f
        .postgres
        .stream("shared", 1)
        .map_ok(|e| e.stream_version())
        .try_collect()
        .await
        .unwrap();
    let expected: Vec<Option<i64>> = (1..=(CLIENTS * EACH) as i64).map(Some).collect();
    assert_eq!(versions, expected);
    f.drop_schema().await;
}
