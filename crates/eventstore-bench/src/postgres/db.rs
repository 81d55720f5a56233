//! The benchmark's own PostgreSQL schema, and the tables each round works in.

use std::sync::atomic::{AtomicU32, Ordering};

use eventstore_postgres::{PostgresEventStore, PostgresOptions};

/// The schema every table of a run lives in (`eventstore_bench_<pid>`: two runs on one
/// server never share tables), dropped at the end.
pub(crate) fn schema() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| format!("eventstore_bench_{}", std::process::id()))
}

/// Where and how to reach the server.
#[derive(Debug, Clone)]
pub(crate) struct Db {
    /// The server's URL.
    pub(crate) url: String,
}

impl Db {
    /// A fresh table name: every round writes into a new table.
    pub(crate) fn fresh_table(&self, label: &str) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        format!("{label}_{}", NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// `table` quoted and schema-qualified, for the baseline's SQL.
    pub(crate) fn qualified(&self, table: &str) -> String {
        format!("\"{}\".\"{table}\"", schema())
    }

    /// Opens the store on `table` (its migrations create it), with a pool as large as
    /// the most writers a workload runs plus room for a follower.
    pub(crate) async fn store(&self, table: &str) -> PostgresEventStore {
        self.store_with_gin(table, true).await
    }

    /// [`store`](Self::store), with or without the extensions' GIN index
    /// (`PostgresOptions::extensions_index`).
    pub(crate) async fn store_with_gin(&self, table: &str, gin: bool) -> PostgresEventStore {
        PostgresOptions::from_url(&self.url)
            .and_then(|o| o.schema(schema()))
            .and_then(|o| o.table(table))
            .and_then(|o| o.pool_size(10))
            .expect("valid options")
            .extensions_index(gin)
            .open()
            .await
            .expect("the store opens")
    }

    /// Drops the run's schema with everything in it.
    pub(crate) async fn drop_schema(&self) {
        let client = super::raw::connect(&self.url).await;
        client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", schema()))
            .await
            .expect("the bench schema drops");
    }

    /// Drops `table` and what the store created beside it.
    pub(crate) async fn drop_table(&self, table: &str) {
        let client = super::raw::connect(&self.url).await;
        client
            .batch_execute(&format!(
                "DROP TABLE IF EXISTS {} CASCADE",
                self.qualified(table)
            ))
            .await
            .expect("a bench table drops");
    }

    /// Turns the store's schema of `table` into the seed's: every index but the primary
    /// key and the unique `(source, id)` dropped, the seed's nine created.
    pub(crate) async fn seed_schema(&self, table: &str) {
        let client = super::raw::connect(&self.url).await;
        let rows = client
            .query(
                "SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = $2",
                &[&schema(), &table],
            )
            .await
            .expect("the indexes list");
        for row in rows {
            let name: String = row.get(0);
            if !crate::seed::keeps(&name) {
                client
                    .batch_execute(&format!("DROP INDEX \"{}\".\"{name}\"", schema()))
                    .await
                    .expect("an index drops");
            }
        }
        for index in crate::seed::indexes(&self.qualified(table), &format!("{table}_")) {
            client
                .batch_execute(&index)
                .await
                .expect("a seed index is created");
        }
    }
}
