//! Queries read through sqlx (`SqlxEventStore::query_in`) held to the same in-memory
//! model of `EventQuery`'s semantics as every backend: the conformance suite's random
//! datasets, appended through the PostgreSQL backend into a schema of their own, and its
//! random queries, each run on a sqlx connection outside a transaction.

use std::sync::Arc;

use eventstore_core::sql::TableName;
use eventstore_postgres::PostgresOptions;
use eventstore_sqlx::SqlxEventStore;
use eventstore_testkit::Fixture;
use futures::{FutureExt as _, TryStreamExt as _};
use sqlx::{AssertSqlSafe, PgPool};

fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Drops its schema, with everything in it, when dropped: on a thread with a runtime of
/// its own, as a `Drop` inside the test's runtime cannot wait for it.
struct Schema(String);

impl Drop for Schema {
    fn drop(&mut self) {
        let sql = format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.0);
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                let pool = PgPool::connect(&database_url()).await?;
                sqlx::query(AssertSqlSafe(sql)).execute(&pool).await?;
                pool.close().await;
                Ok::<_, sqlx::Error>(())
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("dropping schema {}: {e}", self.0);
        }
    }
}

/// A schema of its own (dropped with its guard) holding an event table made by the
/// PostgreSQL backend: the schema's name, its guard, the store and its table.
async fn fresh_table() -> (
    String,
    Schema,
    eventstore_postgres::PostgresEventStore,
    TableName,
) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let schema = format!(
        "t_sqlx_query_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let url = database_url();
    let guard = Schema(schema.clone());
    let store = PostgresOptions::from_url(&url)
        .expect("a valid URL")
        .schema(&schema)
        .expect("a valid schema name")
        .open()
        .await
        .unwrap_or_else(|e| {
            panic!("cannot open a store on PostgreSQL at {url} (set DATABASE_URL): {e}")
        });
    let table = TableName::new("events")
        .expect("a valid table name")
        .in_schema(&schema)
        .expect("a valid schema name");
    (schema, guard, store, table)
}

/// A fresh schema: the event table made by the PostgreSQL backend, which appends the
/// datasets, and a reader of its queries through sqlx.
async fn fresh() -> Fixture {
    let (_, guard, store, table) = fresh_table().await;
    let pool = PgPool::connect(&database_url()).await.expect("a sqlx pool");
    let sqlx = Arc::new(SqlxEventStore::new(table));
    Fixture::new(store)
        .keep(guard)
        .read_queries_with(Arc::new(move |query| {
            let (pool, sqlx) = (pool.clone(), Arc::clone(&sqlx));
            async move {
                let mut conn = pool.acquire().await.expect("a sqlx connection");
                sqlx.query_in(&mut conn, query).try_collect().await
            }
            .boxed()
        }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_queries_through_sqlx_match_the_model() {
    eventstore_testkit::suite::random_queries_match_the_model(fresh).await;
}

/// Reads filtered on an indexed attribute are planned with their values on the caller's
/// connection, as on the store's own sessions: run many times on one connection, first
/// for a common type and then for a rare one, no run of the store's statements used a
/// generic plan (which walks the whole table for a rare type), and the session's
/// settings are as they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexed_filters_are_planned_with_their_values_on_the_callers_connection() {
    use eventstore_core::{Event, EventQuery, EventStore as _};
    use sqlx::Connection as _;

    let (schema, _guard, appender, table) = fresh_table().await;
    let events: Vec<Event> = (0..2_000)
        .map(|i| {
            Event::builder()
                .id(format!("e{i}"))
                .source("/plans")
                .ty(if i % 200 == 7 { "rare" } else { "common" })
                .build()
                .expect("a valid event")
        })
        .collect();
    appender.append(events).await.expect("the events append");
    let mut conn = sqlx::PgConnection::connect(&database_url())
        .await
        .expect("a sqlx connection");
    // As a simple query: no prepared statement of the session names the table but the
    // store's.
    sqlx::raw_sql(AssertSqlSafe(format!("ANALYZE \"{schema}\".events")))
        .execute(&mut conn)
        .await
        .expect("ANALYZE");
    let store = SqlxEventStore::new(table);
    let mut tx = conn.begin().await.expect("a transaction");
    for (ty, expected) in [("common", 10), ("rare", 10)] {
        for _ in 0..10 {
            let read: Vec<_> = store
                .query_in(&mut tx, EventQuery::new().types([ty]).limit(10))
                .try_collect()
                .await
                .expect("the read");
            assert_eq!(read.len(), expected, "{ty}");
            assert!(read.iter().all(|e| e.ty() == ty));
        }
    }
    let (generic, mode): (i64, String) = sqlx::query_as(
        "SELECT (SELECT coalesce(sum(generic_plans), 0)::int8 FROM pg_prepared_statements \
         WHERE statement LIKE '%' || $1 || '%'), current_setting('plan_cache_mode')",
    )
    .bind(&schema)
    .fetch_one(&mut *tx)
    .await
    .expect("the plans");
    assert_eq!(generic, 0, "a read was run with a generic plan");
    assert_eq!(mode, "auto", "the session's setting is untouched");
    tx.rollback().await.expect("rollback");
}
