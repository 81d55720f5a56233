//! The backend-agnostic replay suite, on SQLite database files.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use eventstore_core::{AppendOptions, Event};
use eventstore_sqlite::{SqliteEventStore, SqliteWork};
use eventstore_testkit::replay::ReplayFixture;

/// A database file in a temporary directory of its own.
struct Sqlite {
    store: Arc<SqliteEventStore>,
    path: PathBuf,
    _dir: tempfile::TempDir,
}

async fn fresh() -> Sqlite {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("events.db");
    let store = Sqlite::open(&path.to_string_lossy()).await;
    Sqlite {
        store: Arc::new(store),
        path,
        _dir: dir,
    }
}

/// The table of counts, beside the store's table.
fn counts_table(store: &SqliteEventStore) -> String {
    store.table().derived_qualified("counts")
}

impl ReplayFixture for Sqlite {
    type Store = SqliteEventStore;

    fn store(&self) -> &Arc<SqliteEventStore> {
        &self.store
    }

    fn location(&self) -> String {
        self.path
            .to_str()
            .expect("a UTF-8 temporary path")
            .to_owned()
    }

    async fn open(location: &str) -> SqliteEventStore {
        SqliteEventStore::open(location)
            .await
            .expect("the store opens")
    }

    fn create_counts(store: &SqliteEventStore) -> SqliteWork<()> {
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS {} (type TEXT PRIMARY KEY, n INTEGER NOT NULL)",
            counts_table(store)
        );
        Box::new(move |tx| {
            tx.execute_batch(&sql)?;
            Ok(((), vec![]))
        })
    }

    fn count(store: &SqliteEventStore, ty: String) -> SqliteWork<()> {
        let sql = format!(
            "INSERT INTO {} (type, n) VALUES (?1, 1) ON CONFLICT (type) DO UPDATE SET n = n + 1",
            counts_table(store)
        );
        Box::new(move |tx| {
            tx.execute(&sql, [ty])?;
            Ok(((), vec![]))
        })
    }

    fn clear_counts(store: &SqliteEventStore) -> SqliteWork<()> {
        let sql = format!("DELETE FROM {}", counts_table(store));
        Box::new(move |tx| {
            tx.execute(&sql, [])?;
            Ok(((), vec![]))
        })
    }

    fn read_counts(store: &SqliteEventStore) -> SqliteWork<BTreeMap<String, i64>> {
        let sql = format!("SELECT type, n FROM {}", counts_table(store));
        Box::new(move |tx| {
            let mut statement = tx.prepare(&sql)?;
            let rows = statement.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok((rows.collect::<Result<_, _>>()?, vec![]))
        })
    }

    /// On a connection of its own to the file, which holds the write lock meanwhile.
    async fn append_held_open(&self, event: Event, hold: Duration, commit: bool) {
        let (store, path) = (Arc::clone(&self.store), self.path.clone());
        tokio::task::spawn_blocking(move || {
            let mut conn = rusqlite::Connection::open(&path).expect("a connection");
            conn.busy_timeout(Duration::from_secs(10))
                .expect("a busy timeout");
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .expect("a write transaction");
            store
                .append_in(&tx, &[event], &AppendOptions::new())
                .expect("the append succeeds");
            std::thread::sleep(hold);
            if commit {
                tx.commit().expect("the commit succeeds");
                store.notify_committed();
            } else {
                tx.rollback().expect("the rollback succeeds");
            }
        })
        .await
        .expect("the writer thread finishes");
    }
}

eventstore_testkit::replay_suite!(fresh);
