//! A process appending batches to a SQLite file, killed with SIGKILL at random moments
//! (`CRASH_REPEATS` times, default 6): the file reopens with whole batches only (the
//! testkit's [`killed_appenders`]).

use std::sync::Arc;

use eventstore_core::EventStore;
use eventstore_sqlite::SqliteEventStore;
use eventstore_testkit::crash::{appender_child, killed_appenders, rounds, spawn_child};

const DB_VAR: &str = "EVENTSTORE_CRASH_DB";

async fn open(path: impl AsRef<std::path::Path>) -> Arc<dyn EventStore> {
    Arc::new(SqliteEventStore::open(path).await.expect("the store opens"))
}

/// The child side: appends until killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by an_appender_killed_at_random_leaves_whole_batches as a child process"]
async fn child_appender_process() {
    if let Some(path) = std::env::var_os(DB_VAR) {
        appender_child(open(path)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_appender_killed_at_random_leaves_whole_batches() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("events.db");
    let db = path.to_str().expect("a UTF-8 path").to_owned();
    let report = killed_appenders(
        rounds(6),
        |round| spawn_child("child_appender_process", round, &[(DB_VAR, &db)]),
        || open(&path),
    )
    .await;
    eprintln!("sqlite: {report:?}");
}
