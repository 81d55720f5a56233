//! The relay ("delivery") suite: what an [`OutboxRelay`] promises, held on every backend
//! alike. Events are delivered in sequence order, at least once, from a durable
//! checkpoint; a relay that dies redelivers at most the batch it was sending; refused
//! sends are retried, then dead-lettered, while a destination the sender reports
//! unavailable is waited out; one relay of a name sends at a time, across processes,
//! even while a send outlasts its lease.
//!
//! A backend's test file names three functions and calls the macro:
//!
//! ```ignore
//! use eventstore_testkit::delivery::Handle;
//!
//! /// A store on a new database, and where that database is.
//! async fn fresh() -> Handle {
//!     let dir = tempfile::tempdir().unwrap();
//!     let path = dir.path().join("events.db");
//!     let store = SqliteEventStore::open(&path).await.unwrap();
//!     Handle::new(store, path.to_str().unwrap()).keep(dir)
//! }
//!
//! /// Another handle on the database at `location`, opened as another process opens it;
//! /// with `lock_wait`, its statements wait that long for another connection's lock
//! /// before failing with `Error::Timeout`.
//! async fn open(location: &str, lock_wait: Option<Duration>) -> Handle {
//!     /* the file opened again, with `lock_wait` as its busy timeout */
//! }
//!
//! /// Takes, on a connection of its own, a lock the store's lease writes wait for, and
//! /// returns once it is held; lets it go after `hold`.
//! async fn hold_lease_lock(location: &str, hold: Duration) {
//!     /* `BEGIN IMMEDIATE` on a connection of its own, `COMMIT` after `hold` */
//! }
//!
//! eventstore_testkit::delivery_suite!(fresh, open, hold_lease_lock);
//! ```
//!
//! A second [`Handle`] on the same database has connections and in-process wake-ups of
//! its own: it stands for another process (a relay restarted elsewhere, a second relay
//! instance of the same name). A child process, killed mid-stream, opens its handle from
//! the [`location`](Handle::location) passed in its environment.
//!
//! The tests are also plain `pub async fn`s here, for a backend that needs to call them
//! its own way. What depends on the backend stays in its own tests: the transactional
//! publisher (its work is a closure over the backend's own transaction), appends joining
//! a transaction the caller holds, writers holding PostgreSQL transactions open while a
//! relay runs.

use std::ops::Range;
use std::sync::Arc;

use eventstore_core::{AppendResult, Result, Sender};
use eventstore_outbox::{OutboxRelay, RelayStats, RelayStore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::data::order_created as created;
use crate::{Coordination, Fixture};

mod broker;
mod failures;
mod lease;
mod names;
mod order;
mod outage;
mod restart;

pub use failures::*;
pub use lease::*;
pub use names::*;
pub use order::*;
pub use outage::*;
pub use restart::*;

/// One store handle of a delivery test: the store as the test appends to it and looks
/// into it, the same store as relays take it, and where its database is.
pub struct Handle {
    /// The store, as relays take it.
    pub relay_store: Arc<dyn RelayStore>,
    /// Where the database is, in the words of the backend's `open`: a file's path, a
    /// schema's name.
    pub location: String,
    /// The same store, as the test appends to it and reads its checkpoints and dead
    /// letters, with whatever must live as long as it (a temporary directory, a schema
    /// to drop). Declared last, so that it is dropped last.
    pub fixture: Fixture,
}

impl Handle {
    /// A handle on `store`, whose database is at `location`. Both views share `store`'s
    /// connections (a store's clones are handles on one store).
    pub fn new<S: Coordination + Clone + 'static>(store: S, location: impl Into<String>) -> Self {
        Self {
            relay_store: Arc::new(store.clone()),
            location: location.into(),
            fixture: Fixture::new(store),
        }
    }

    /// Keeps `guard` alive as long as the handle.
    #[must_use]
    pub fn keep(self, guard: impl std::any::Any + Send + Sync) -> Self {
        Self {
            fixture: self.fixture.keep(guard),
            ..self
        }
    }

    /// The store, as the test uses it.
    pub fn store(&self) -> &Arc<dyn Coordination> {
        &self.fixture.coordination
    }

    /// A relay named `name` on this handle's store, delivering to `sender`.
    pub fn relay(&self, name: &str, sender: Arc<dyn Sender>) -> OutboxRelay {
        OutboxRelay::new(name, Arc::clone(&self.relay_store), sender)
    }
}

/// The name `cargo test` gives the test `name` generated in the module `module_path`
/// (what `module_path!()` says there): the path without the test crate's name. A child
/// process is started by it with `--exact`.
pub fn test_path(module_path: &str, name: &str) -> String {
    match module_path.split_once("::") {
        Some((_, module)) => format!("{module}::{name}"),
        None => name.to_owned(),
    }
}

/// The ids of the events [`append_numbered`] appends for `range`.
fn numbered_ids(range: Range<usize>) -> Vec<String> {
    range.map(|i| format!("o{i}-created")).collect()
}

/// Appends the creation events of orders `o<i>` for each `i` in `range`, in one batch.
async fn append_numbered(handle: &Handle, range: Range<usize>) -> AppendResult {
    let events = range.map(|i| created(&format!("o{i}"))).collect();
    handle
        .store()
        .append(events)
        .await
        .expect("the append commits")
}

/// A relay run on a task of its own, and what stops it.
type Running = (CancellationToken, JoinHandle<Result<RelayStats>>);

/// Runs `relay` on a task until the returned token is cancelled.
fn spawn(relay: OutboxRelay) -> Running {
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    (
        shutdown,
        tokio::spawn(async move { relay.run(token).await }),
    )
}

/// Generates one `#[tokio::test]` per delivery test from three functions of the backend:
/// `$fresh().await` gives a [`Handle`] on a new database; `$open(location, lock_wait)
/// .await` another handle on the database at `location`; `$hold_lease_lock(location,
/// hold).await` takes a lock the store's lease writes wait for and lets it go after
/// `hold`. See the [module](crate::delivery) documentation.
#[macro_export]
macro_rules! delivery_suite {
    ($fresh:path, $open:path, $hold_lease_lock:path) => {
        $crate::delivery_suite!(@one $fresh;
            relay_delivers_in_order_and_resumes_from_its_checkpoint,
            a_backlog_drains_in_full_batches_and_a_lone_event_waits_only_the_linger,
            concurrent_writers_while_the_relay_runs_lose_nothing,
            failed_sends_are_retried_then_dead_lettered,
            an_unavailable_destination_is_waited_out_without_dead_letters,
            shutdown_during_an_outage_returns_with_the_checkpoint_before_undelivered_events,
            an_outage_during_the_one_by_one_pass_dead_letters_only_the_refused_event,
            run_returns_at_shutdown_while_a_send_never_finishes,
            relay_names_up_to_their_limit_are_kept_and_longer_ones_refused
        );
        $crate::delivery_suite!(@two $fresh, $open;
            a_relay_killed_mid_batch_redelivers_only_that_batch,
            one_relay_per_name_delivers_and_another_takes_over,
            a_send_slower_than_the_lease_keeps_one_relay_of_a_name_sending,
            retries_outlasting_the_lease_keep_one_relay_of_a_name_sending,
            an_outage_outlasting_the_lease_keeps_one_relay_of_a_name_sending,
            a_closed_destination_store_is_waited_out
        );

        /// The first relay's renewals fail: the relays' statements give up on a lock
        /// after 50 ms.
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn a_relay_whose_renewals_fail_drops_its_send_before_another_takes_over() {
            let handle = $fresh().await;
            let lock_wait = Some(::std::time::Duration::from_millis(50));
            let first = $open(&handle.location, lock_wait).await;
            let second = $open(&handle.location, lock_wait).await;
            $crate::delivery::a_relay_that_cannot_renew_drops_its_send_before_another_takes_over(
                &first,
                &second,
                |hold| $hold_lease_lock(&handle.location, hold),
            )
            .await;
        }

        /// The first relay's renewals wait for the lock past its lease's deadline.
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn a_relay_whose_renewals_wait_drops_its_send_before_another_takes_over() {
            let handle = $fresh().await;
            let other = $open(&handle.location, None).await;
            $crate::delivery::a_relay_that_cannot_renew_drops_its_send_before_another_takes_over(
                &handle,
                &other,
                |hold| $hold_lease_lock(&handle.location, hold),
            )
            .await;
        }

        /// The child side of the crash test: a relay delivering to a file until killed.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        #[ignore = "run as a child process by a_relay_process_killed_mid_stream_loses_nothing_and_repeats_at_most_a_batch"]
        async fn child_relay_process() {
            $crate::delivery::child_relay_process(|location| async move {
                $open(&location, None).await
            })
            .await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn a_relay_process_killed_mid_stream_loses_nothing_and_repeats_at_most_a_batch() {
            let handle = $fresh().await;
            let child = $crate::delivery::test_path(module_path!(), "child_relay_process");
            $crate::delivery::a_relay_process_killed_mid_stream_loses_nothing_and_repeats_at_most_a_batch(
                &handle, &child,
            )
            .await;
        }
    };
    (@one $fresh:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let handle = $fresh().await;
                $crate::delivery::$name(&handle).await;
            }
        )*
    };
    (@two $fresh:path, $open:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let handle = $fresh().await;
                let other = $open(&handle.location, None).await;
                $crate::delivery::$name(&handle, &other).await;
            }
        )*
    };
}
