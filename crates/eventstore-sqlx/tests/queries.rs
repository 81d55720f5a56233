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

/// A fresh schema: the event table made by the PostgreSQL backend, which appends the
/// datasets, and a reader of its queries through sqlx.
async fn fresh() -> Fixture {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let schema = format!(
        "t_sqlx_query_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let url = database_url();
    let pool = PgPool::connect(&url).await.unwrap_or_else(|e| {
        panic!("cannot connect to PostgreSQL at {url} (set DATABASE_URL): {e}")
    });
    let guard = Schema(schema.clone());
    let store = PostgresOptions::from_url(&url)
        .expect("a valid URL")
        .schema(&schema)
        .expect("a valid schema name")
        .open()
        .await
        .expect("the store opens");
    let table = TableName::new("events")
        .expect("a valid table name")
        .in_schema(&schema)
        .expect("a valid schema name");
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
