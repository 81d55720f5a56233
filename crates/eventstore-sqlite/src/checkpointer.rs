//! Checkpoints of the write-ahead log on a thread of the store's own, so that an
//! append does not wait for one.
//!
//! SQLite's own auto-checkpoint runs inside the commit that takes the log past its
//! threshold: that append waits while the log's pages are copied into the database
//! file and both are synced, and every append queued behind it waits too. Here the
//! writer connection only notes the log's size after each commit (its WAL hook) and,
//! past the threshold, wakes a thread with a connection of its own that runs a
//! `PASSIVE` checkpoint, which blocks neither the writer nor readers. Should writes
//! outrun that thread, a write that finds the log [`BACKLOG_FACTOR`] times past the
//! threshold waits for a checkpoint that starts after it (as SQLite's own would have
//! made it wait), so the log stays bounded.

use std::cell::Cell;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use rusqlite::Connection;
use rusqlite::hooks::Wal;

thread_local! {
    /// The pages the log held after the last commit on this thread through a writer
    /// connection, taken by [`Checkpointer::after_write`] on the same thread.
    static WAL_PAGES: Cell<Option<u32>> = const { Cell::new(None) };
}

/// The writer connection's WAL hook: SQLite calls it on the committing thread, after
/// each commit, with the pages now in the log.
fn note_wal_pages(_: &Wal, pages: std::ffi::c_int) -> rusqlite::Result<()> {
    WAL_PAGES.with(|noted| noted.set(Some(u32::try_from(pages).unwrap_or(0))));
    Ok(())
}

/// How many times its threshold the log may reach while the thread checkpoints
/// before a write waits for a checkpoint.
const BACKLOG_FACTOR: u32 = 4;

/// The background checkpoints of one store's database file.
pub(crate) struct Checkpointer {
    threshold: u32,
    shared: Arc<Signal>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// What the writer asks of the thread.
#[derive(Default)]
struct Request {
    /// A checkpoint is wanted.
    due: bool,
    /// The store is closing: the thread ends.
    stop: bool,
    /// Checkpoints the thread started, and the number of the last one it finished.
    started: u64,
    finished: u64,
}

#[derive(Default)]
struct Signal {
    request: Mutex<Request>,
    /// Wakes the thread.
    wake: Condvar,
    /// Wakes writers waiting for a checkpoint to finish.
    done: Condvar,
}

impl Signal {
    fn lock(&self) -> MutexGuard<'_, Request> {
        self.request.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Checkpointer {
    /// Takes over checkpointing from `writer` (whose commits then only note the log's
    /// size) and starts the thread, which checkpoints through `conn`, a connection of
    /// its own to the same file, once the log holds `threshold` pages.
    pub(crate) fn start(
        writer: &Connection,
        conn: Connection,
        threshold: u32,
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Signal::default());
        let signal = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("eventstore-sqlite-checkpoint".into())
            .spawn(move || run(&conn, &signal))?;
        // Replaces SQLite's auto-checkpoint, which is a WAL hook too.
        writer.wal_hook(Some(note_wal_pages));
        Ok(Self {
            threshold,
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// After work on the writer, on the thread that did it (which holds the writer):
    /// wakes the thread when the last commit left the log at the threshold or past
    /// it; when the log is [`BACKLOG_FACTOR`] times past it, also waits for a
    /// checkpoint that starts after this commit, which copies the whole log (no
    /// commit can come in meanwhile), so that the next write starts it afresh.
    pub(crate) fn after_write(&self) {
        let Some(pages) = WAL_PAGES.with(Cell::take) else {
            return;
        };
        if pages < self.threshold {
            return;
        }
        let mut request = self.shared.lock();
        if !request.due {
            request.due = true;
            self.shared.wake.notify_one();
        }
        if pages < self.threshold.saturating_mul(BACKLOG_FACTOR) {
            return;
        }
        tracing::debug!(pages, "the log outran its checkpoints; waiting for one");
        let next = request.started + 1;
        while request.finished < next && !request.stop {
            request = self
                .shared
                .done
                .wait(request)
                .unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Ends the thread and waits for it (a checkpoint under way finishes first).
    pub(crate) fn stop(&self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_one();
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread
            && thread.join().is_err()
        {
            tracing::error!("the SQLite checkpoint thread panicked");
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The thread: a checkpoint each time one is asked for, until the store closes.
fn run(conn: &Connection, signal: &Signal) {
    loop {
        let number = {
            let mut request = signal.lock();
            while !request.due && !request.stop {
                request = signal.wake.wait(request).unwrap_or_else(|e| e.into_inner());
            }
            if request.stop {
                // Writers waiting for a checkpoint go on without it.
                signal.done.notify_all();
                return;
            }
            request.due = false;
            request.started += 1;
            request.started
        };
        checkpoint(conn);
        signal.lock().finished = number;
        signal.done.notify_all();
    }
}

/// A `PASSIVE` checkpoint: copies what it can of the log into the database file
/// without waiting for the writer or readers. A failure is logged, not returned: the
/// log keeps its pages and the next checkpoint takes them.
fn checkpoint(conn: &Connection) {
    let done = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
    });
    match done {
        Ok((log, copied)) => tracing::trace!(log, copied, "checkpointed the write-ahead log"),
        Err(error) => tracing::warn!(%error, "checkpointing the write-ahead log failed"),
    }
}
