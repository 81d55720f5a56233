//! Relay crash tests: a child process runs an outbox relay delivering to a file until it
//! is killed with SIGKILL mid-stream, several times; a relay of the same name then
//! resumes in the parent from the durable checkpoint. Every event must be delivered, in
//! order of first delivery, and what repeats is at most one batch per kill (what was
//! sent but not yet checkpointed).
//!
//! A backend's test file has two tests: the child (marked `#[ignore]`, started by the
//! parent through [`crate::crash::spawn_child`]) runs a relay with a [`FileSender`];
//! the parent calls [`killed_relays`].

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use eventstore_core::{SendError, Sender, StoredEvent};

use crate::sender::Recorder;

/// Events a child delivers between two kills, and the batch size it delivers them in.
pub const PER_KILL: usize = 300;
/// The batch size the child relay must use: at most this many repeat per kill.
pub const BATCH: usize = 10;

/// Appends each delivered event's id to a file and syncs it, so that what a killed
/// child delivered survives it; slow enough that the parent's SIGKILL lands mid-stream.
#[derive(Debug, Clone)]
pub struct FileSender(PathBuf);

impl FileSender {
    /// A sender appending to `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self(path.into())
    }
}

#[async_trait]
impl Sender for FileSender {
    async fn send(&self, events: &[StoredEvent]) -> Result<(), SendError> {
        use std::io::Write as _;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.0)?;
        for event in events {
            writeln!(file, "{}", event.id())?;
        }
        file.sync_data()?;
        tokio::time::sleep(Duration::from_millis(5)).await;
        Ok(())
    }
}

/// The ids a [`FileSender`] wrote to `path`, in order.
pub fn delivered(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The parent: with `expected` (the ids of `kills * PER_KILL` events already appended,
/// in sequence order) waiting, `kills` times starts a child relay with `spawn(kill)`
/// delivering to `out` in batches of [`BATCH`], lets it deliver some more and kills it
/// with SIGKILL; then runs `resume(recorder)` (a relay of the same name, in process,
/// delivering to the recorder) until it has delivered the last event, and checks that
/// every event was delivered, in order, with at most one batch repeated per kill.
pub async fn killed_relays<R, F>(
    kills: usize,
    expected: &[String],
    out: &Path,
    spawn: impl Fn(usize) -> Child,
    resume: R,
) where
    R: FnOnce(Arc<Recorder>) -> F,
    F: Future<Output = ()>,
{
    let total = expected.len();
    for kill in 0..kills {
        let mut child = spawn(kill);
        let target = PER_KILL * kill + 60;
        for _ in 0..1000 {
            if delivered(out).len() >= target {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        child.kill().expect("SIGKILL, mid-stream");
        child.wait().expect("the child is reaped");
        let so_far = delivered(out).len();
        assert!(
            (target..total + BATCH * kills).contains(&so_far),
            "kill {kill} landed mid-stream: {so_far} delivered"
        );
    }
    let mut all = delivered(out);

    let recorder = Arc::new(Recorder::default());
    let relay = resume(recorder.clone());
    let caught_up = async {
        for _ in 0..400 {
            if recorder.ids().last() == expected.last() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    };
    tokio::select! {
        () = relay => panic!("the resumed relay stopped"),
        () = caught_up => {}
    }
    all.extend(recorder.ids());
    let mut first = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for id in &all {
        if seen.insert(id.clone()) {
            first.push(id.clone());
        }
    }
    assert_eq!(first, expected, "every event, in order of first delivery");
    let repeated = all.len() - total;
    assert!(
        repeated <= BATCH * kills,
        "redelivered {repeated} events, more than one batch per kill"
    );
}
