//! A process appending batches to PostgreSQL, killed with SIGKILL at random moments
//! (`CRASH_REPEATS` times, default 6): the store reopens with whole batches only (the
//! testkit's [`killed_appenders`]).

mod common;

use std::sync::Arc;

use eventstore_core::EventStore;
use eventstore_testkit::crash::{appender_child, killed_appenders, rounds, spawn_child};

const SCHEMA_VAR: &str = "EVENTSTORE_CRASH_SCHEMA";

async fn open(schema: &str) -> Arc<dyn EventStore> {
    let options = common::Schema::options_for(schema);
    Arc::new(options.open().await.expect("the store opens"))
}

/// The child side: appends until killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by an_appender_killed_at_random_leaves_whole_batches as a child process"]
async fn child_appender_process() {
    if let Ok(schema) = std::env::var(SCHEMA_VAR) {
        appender_child(open(&schema)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_appender_killed_at_random_leaves_whole_batches() {
    let schema = common::Schema::new("crash");
    drop(schema.open().await);
    let report = killed_appenders(
        rounds(6),
        |round| {
            spawn_child(
                "child_appender_process",
                round,
                &[(SCHEMA_VAR, &schema.name)],
            )
        },
        || open(&schema.name),
    )
    .await;
    eprintln!("postgres: {report:?}");
}
