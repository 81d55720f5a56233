//! What every integration test needs: the server, and a schema of its own.

#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use eventstore_core::{AppendOptions, Event};
use eventstore_postgres::{PostgresEventStore, PostgresOptions};

/// The server under test: `DATABASE_URL`, or the local default.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A schema unique to one test, dropped (with everything in it) when this is dropped.
pub struct Schema {
    pub name: String,
}

impl Schema {
    pub fn new(prefix: &str) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        Self {
            name: format!(
                "t_{prefix}_{}_{}_{nanos}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ),
        }
    }

    pub fn options(&self) -> PostgresOptions {
        Self::options_for(&self.name)
    }

    /// Options for the schema `name`, made by another process (a child of a crash test).
    pub fn options_for(name: &str) -> PostgresOptions {
        PostgresOptions::from_url(&database_url())
            .expect("DATABASE_URL is a valid PostgreSQL URL")
            .schema(name)
            .expect("valid schema name")
            .pool_size(10)
            .expect("valid pool size")
    }

    pub async fn open(&self) -> PostgresEventStore {
        match self.options().open().await {
            Ok(store) => store,
            Err(e) => panic!(
                "cannot open a store on PostgreSQL at {} (set DATABASE_URL): {e}",
                database_url()
            ),
        }
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        cleanup(format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name));
    }
}

/// A connection of the test's own, as the server's superuser.
pub async fn admin() -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&database_url(), tokio_postgres::NoTls)
        .await
        .expect("an admin connection");
    tokio::spawn(connection);
    client
}

/// Runs clean-up `sql` from a `Drop`, which runs inside the test's runtime and cannot
/// block on it: on a thread with a runtime of its own. Failures are reported, not
/// raised (the test's own outcome matters more).
pub fn cleanup(sql: String) {
    let result = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(async move { admin().await.batch_execute(&sql).await })
    })
    .join();
    if let Ok(Err(e)) = result {
        eprintln!("could not clean up after a test: {e}");
    }
}

/// Appends `event` in a transaction on a pooled connection of the store's, holds the
/// transaction open for `hold`, then commits it (and wakes the store's followers) or
/// rolls it back: a writer whose event commits late, or never. Returns whether it
/// committed.
pub async fn append_held_open(
    store: &PostgresEventStore,
    event: Event,
    hold: Duration,
    commit: bool,
) -> bool {
    let mut client = store.pool().get().await.unwrap();
    let tx = client.transaction().await.unwrap();
    store
        .append_in(&*tx, vec![event], AppendOptions::new())
        .await
        .unwrap();
    tokio::time::sleep(hold).await;
    if commit {
        tx.commit().await.unwrap();
        store.notify_committed();
    } else {
        tx.rollback().await.unwrap();
    }
    commit
}

/// Gives the objects beside `table` in `schema` the names a build before schema version
/// 4 gave them (`<table>_<suffix>`, and PostgreSQL's own for primary keys and the
/// identity sequence), as on a table made then: every `<table>$<suffix>` relation
/// renamed to `<table>_<suffix>` (an index's constraint with it).
pub async fn to_legacy_names(client: &tokio_postgres::Client, schema: &str, table: &str) {
    client
        .batch_execute(&format!(
            "DO $$
             DECLARE r record;
             BEGIN
                 FOR r IN SELECT c.oid::regclass AS rel, c.relname FROM pg_class c
                          JOIN pg_namespace n ON n.oid = c.relnamespace
                          WHERE n.nspname = '{schema}' AND starts_with(c.relname, '{table}$')
                 LOOP
                     EXECUTE format('ALTER TABLE %s RENAME TO %I', r.rel,
                         '{table}_' || substr(r.relname, length('{table}$') + 1));
                 END LOOP;
             END $$"
        ))
        .await
        .expect("the names of version 3");
}
