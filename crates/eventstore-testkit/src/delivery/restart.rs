//! Relays that die: a task aborted mid-batch, a process killed with SIGKILL mid-stream.
//! What follows resumes from the durable checkpoint: nothing lost, first deliveries in
//! order, at most the batch in flight sent again.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{Handle, append_numbered, numbered_ids, spawn};
use crate::relay_crash::{self, FileSender};
use crate::{crash, sender::Recorder};

/// The environment variable naming the database a child relay process opens (a
/// [`Handle::location`]).
pub const LOCATION_VAR: &str = "EVENTSTORE_DELIVERY_LOCATION";
/// The environment variable naming the file a child relay process delivers to.
pub const OUT_VAR: &str = "EVENTSTORE_DELIVERY_OUT";

/// The lease of the relays that die: short, so that the next one takes over soon.
const LEASE: Duration = Duration::from_millis(300);

/// A relay task aborted while its third batch is unacknowledged; a relay of the same
/// name on another handle (another process) sends that batch again, then every later
/// event, the backlog's and live ones, in order, and nothing else twice.
pub async fn a_relay_killed_mid_batch_redelivers_only_that_batch(first: &Handle, second: &Handle) {
    // Batches fill from the backlog even on a loaded machine: with the default 2 ms
    // linger, a batch could go out short while the next rows were still being read, and
    // the sender would then hang on a batch other than the third.
    const FILL: Duration = Duration::from_secs(5);
    append_numbered(first, 0..100).await;
    let hanging = Arc::new(Recorder::hanging_on(3));
    let relay = first
        .relay("r", hanging.clone())
        .batch_size(10)
        .expect("a valid batch size")
        .linger(FILL)
        .lease_ttl(LEASE)
        .expect("a valid lease time to live");
    let (_stop, task) = spawn(relay);
    hanging.wait_for(30).await;
    task.abort(); // The process dies while the third batch is unacknowledged.
    let _ = task.await;
    let first_run = hanging.ids();
    assert_eq!(first_run.len(), 30);

    let sender = Arc::new(Recorder::default());
    let relay = second
        .relay("r", sender.clone())
        .batch_size(10)
        .expect("a valid batch size")
        .linger(FILL)
        .lease_ttl(LEASE)
        .expect("a valid lease time to live");
    let (stop, task) = spawn(relay);
    sender.wait_for(80).await;
    append_numbered(first, 100..110).await; // live
    sender.wait_for(90).await;
    stop.cancel();
    task.await.unwrap().unwrap();
    let second_run = sender.ids();
    assert_eq!(second_run.len(), 90, "only the unacknowledged batch again");
    assert_eq!(
        second_run[..10],
        first_run[20..30],
        "the batch in flight is redelivered"
    );
    let mut all: Vec<String> = first_run[..20].to_vec();
    all.extend(second_run);
    assert_eq!(all, numbered_ids(0..110), "every committed event, in order");
}

/// The child side of [`a_relay_process_killed_mid_stream_loses_nothing_and_repeats_at_most_a_batch`]:
/// with [`LOCATION_VAR`] and [`OUT_VAR`] set, opens a handle with `open(location)` and
/// runs a relay delivering to the file until killed; returns at once without them (a
/// normal test run).
pub async fn child_relay_process<F>(open: impl FnOnce(String) -> F)
where
    F: Future<Output = Handle>,
{
    let (Ok(location), Some(out)) = (std::env::var(LOCATION_VAR), std::env::var_os(OUT_VAR)) else {
        return;
    };
    let handle = open(location).await;
    let relay = handle
        .relay("crash", Arc::new(FileSender::new(out)))
        .batch_size(relay_crash::BATCH)
        .expect("a valid batch size")
        .lease_ttl(LEASE)
        .expect("a valid lease time to live");
    relay.run(CancellationToken::new()).await.unwrap();
}

/// A child process (the ignored test `child_test` of this binary, which calls
/// [`child_relay_process`]) relays to a file and is killed with SIGKILL mid-stream,
/// `CRASH_REPEATS` times (default 1); a relay of the same name then resumes here:
/// nothing lost, first deliveries in order, at most a batch repeated per kill (see
/// [`relay_crash::killed_relays`]).
pub async fn a_relay_process_killed_mid_stream_loses_nothing_and_repeats_at_most_a_batch(
    handle: &Handle,
    child_test: &str,
) {
    let out = OutFile::new();
    let kills = crash::rounds(1);
    let total = relay_crash::PER_KILL * kills;
    append_numbered(handle, 0..total).await;
    let expected = numbered_ids(0..total);
    let env = [
        (LOCATION_VAR, handle.location.as_str()),
        (OUT_VAR, out.0.to_str().expect("a UTF-8 path")),
    ];
    let spawn = |kill| crash::spawn_child(child_test, kill, &env);
    relay_crash::killed_relays(kills, &expected, &out.0, spawn, |sender| {
        let relay = handle
            .relay("crash", sender)
            .lease_ttl(LEASE)
            .expect("a valid lease time to live");
        async move {
            relay.run(CancellationToken::new()).await.unwrap();
        }
    })
    .await;
}

/// A file in the temporary directory, unique to one test, removed when dropped.
struct OutFile(PathBuf);

impl OutFile {
    fn new() -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let name = format!(
            "eventstore-delivered-{}-{nanos}-{}.txt",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        Self(std::env::temp_dir().join(name))
    }
}

impl Drop for OutFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
