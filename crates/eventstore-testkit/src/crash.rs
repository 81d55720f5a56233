//! Crash tests: a child process appends batches until it is killed with SIGKILL at a
//! random moment, many times over; after each kill the store reopens and holds only
//! whole batches, with unique, increasing sequences and gap-free stream versions.
//!
//! A backend's test file has two tests: the child ([`appender_child`], marked
//! `#[ignore]` so that only the parent runs it, via [`spawn_child`]) and the parent
//! ([`killed_appenders`]).

use std::collections::HashMap;
use std::future::Future;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use eventstore_core::{Event, EventQuery, EventStore, ExtensionValue, StoredEvent};
use futures::TryStreamExt as _;

use crate::data::Rng;

/// The environment variable that tells a child which round it is in.
pub const ROUND_VAR: &str = "EVENTSTORE_CRASH_ROUND";

/// How many kills: `CRASH_REPEATS`, or `short` (the CI figure).
pub fn rounds(short: usize) -> usize {
    std::env::var("CRASH_REPEATS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(short)
}

fn batch(round: u64, k: u64) -> Vec<Event> {
    // Batches of 1 to 40 events, some with a few KiB of data, so that a kill can land
    // anywhere in an append, including mid-commit of a large one.
    let size = 1 + (k * 7 + round) % 40;
    let data = if k.is_multiple_of(3) { 4096 } else { 16 };
    (0..size)
        .map(|i| {
            Event::builder()
                .id(format!("r{round}-b{k}-{i}"))
                .source("/crash")
                .ty("crash.event")
                .subject(format!("crash-{}", (k + i) % 5))
                .extension("batchsize", ExtensionValue::Integer(size as i32))
                .binary(vec![k as u8; data])
                .build()
                .expect("valid event")
        })
        .collect()
}

/// The child: appends batches to `store` for ever (until killed), in the round named by
/// [`ROUND_VAR`]. Returns at once when the variable is not set (a normal test run).
pub async fn appender_child(open: impl Future<Output = Arc<dyn EventStore>>) {
    let Some(round) = std::env::var(ROUND_VAR).ok().and_then(|r| r.parse().ok()) else {
        return;
    };
    let store = open.await;
    for k in 0.. {
        store
            .append(batch(round, k))
            .await
            .expect("the child's append");
    }
}

/// Starts this test binary again, running only the ignored test `child_test` with
/// `env` set, as a child process to kill.
pub fn spawn_child(child_test: &str, round: usize, env: &[(&str, &str)]) -> Child {
    let mut command = Command::new(std::env::current_exe().expect("the test binary"));
    command
        .args(["--exact", child_test, "--ignored", "--nocapture"])
        .env(ROUND_VAR, round.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    command.spawn().expect("the child starts")
}

/// What the crash rounds came to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CrashReport {
    /// Kills (SIGKILL) of an appending child.
    pub kills: usize,
    /// Whole batches found afterwards.
    pub batches: usize,
    /// Events found afterwards.
    pub events: usize,
}

/// Checks what a killed appender left: whole batches only, sequences unique and
/// increasing, ids unique, each subject's versions 1, 2, 3… in sequence order. Returns
/// the number of batches.
pub fn check_whole_batches(events: &[StoredEvent]) -> usize {
    let appended: Vec<StoredEvent> = events
        .iter()
        .filter(|e| e.source() == "/crash")
        .cloned()
        .collect();
    crate::stress::check_order("after a kill", &appended);
    let mut batches: HashMap<&str, (usize, i32)> = HashMap::new();
    for e in &appended {
        let Some(ExtensionValue::Integer(size)) = e.extension("batchsize") else {
            panic!("{} has no batch size", e.id());
        };
        let key = e.id().rsplit_once('-').expect("a batch id").0;
        batches.entry(key).or_insert((0, size)).0 += 1;
    }
    for (key, (found, size)) in &batches {
        assert_eq!(
            *found, *size as usize,
            "batch {key}: {found} of {size} events stored"
        );
    }
    batches.len()
}

/// The parent: `rounds` times, starts a child with `spawn(round)`, kills it with
/// SIGKILL after a random 20–300 ms, reopens the store with `open` and checks it
/// ([`check_whole_batches`]) and that it still takes an append.
pub async fn killed_appenders<F, O>(
    rounds: usize,
    spawn: impl Fn(usize) -> Child,
    open: O,
) -> CrashReport
where
    O: Fn() -> F,
    F: Future<Output = Arc<dyn EventStore>>,
{
    let mut rng = Rng(std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64 | 1));
    let mut report = CrashReport::default();
    for round in 0..rounds {
        let mut child = spawn(round);
        tokio::time::sleep(Duration::from_millis(20 + rng.below(280))).await;
        child.kill().expect("SIGKILL");
        child.wait().expect("the child is reaped");
        report.kills += 1;
        let store = open().await;
        let events: Vec<StoredEvent> = store
            .query(EventQuery::new())
            .try_collect()
            .await
            .expect("the store reads after a kill");
        report.batches = check_whole_batches(&events);
        report.events = events.len();
        let marker = Event::builder()
            .id(format!("after-kill-{round}"))
            .source("/crash-parent")
            .ty("crash.checked")
            .build()
            .expect("valid event");
        store
            .append(vec![marker])
            .await
            .expect("the store appends after a kill");
        store.close().await.expect("the store closes");
    }
    assert!(report.batches > 0, "no child ever appended: {report:?}");
    report
}
