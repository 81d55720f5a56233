//! The backend-agnostic replay suite: replays, subscriptions, upcasters, snapshots,
//! projections (side by side, failing, leased, shut down, killed mid-stream) and the
//! checkpointed transactions under them, through the public API of `eventstore-replay`
//! and `TransactionalStore`, against a real database.
//!
//! A [`ProjectionRunner`](eventstore_replay::ProjectionRunner) needs the store's own
//! type, and a projection whose state lives in the store's database needs the
//! backend's transaction work, so the suite does not take a type-erased
//! [`Fixture`](crate::Fixture): a backend's test file implements [`ReplayFixture`] on a
//! type of its own (which also keeps its temporary directory or schema alive) and
//! names the function that makes a fresh one:
//!
//! ```ignore
//! struct Sqlite { dir: tempfile::TempDir, store: Arc<SqliteEventStore> }
//! impl eventstore_testkit::replay::ReplayFixture for Sqlite { /* … */ }
//!
//! async fn fresh() -> Sqlite { /* a new database file in a new directory */ }
//! eventstore_testkit::replay_suite!(fresh);
//! ```
//!
//! The tests are also plain `pub async fn`s here, for a backend that needs to call them
//! its own way. They panic on failure.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use eventstore_core::{Event, TransactionalStore};

use crate::Coordination;

mod common;
mod exactly_once;
mod killed;
mod lease;
mod names;
mod outage;
mod projections;
mod replays;
mod subscribe;

pub use exactly_once::{
    checkpointed_work_runs_once_per_position_from_zero,
    transactions_no_backend_can_run_are_refused_before_their_work,
};
pub use killed::{
    LOCATION_VAR, projection_child, projections_survive_a_killed_process_with_exactly_once_effect,
};
pub use lease::{
    a_rebuild_longer_than_the_lease_keeps_it,
    a_rebuild_while_the_projection_runs_elsewhere_is_refused,
    an_event_slower_than_the_lease_keeps_one_runner_applying,
    retries_outlasting_the_lease_keep_one_runner_applying,
};
pub use names::projection_names_up_to_their_limit_are_kept_and_longer_or_shared_ones_refused;
pub use outage::{Outage, a_store_outage_while_applying_is_waited_out};
pub use projections::{
    a_failing_projection_is_retried_then_reported_while_others_go_on,
    a_projection_failing_with_a_store_error_is_reported_at_the_events_sequence,
    a_projections_own_order_and_paging_are_the_runners_in_run_and_rebuild,
    projections_follow_live_side_by_side_and_rebuild_to_the_same_state,
    run_returns_at_shutdown_while_a_handler_never_does,
};
pub use replays::{
    replays_follow_a_subject_or_a_type_in_order_and_stop_at_a_failing_handler,
    snapshots_replay_only_what_came_after, upcasters_apply_to_replays_and_subscriptions,
};
pub use subscribe::subscriptions_see_every_event_once_across_catch_up_and_live;

/// The transaction work of `F`'s store, returning a `T`.
pub type Work<F, T> = <<F as ReplayFixture>::Store as TransactionalStore>::Work<T>;

/// One test's database, and the little the suite cannot do through the public API
/// alone: a table of its own written in a projection's transaction (SQL differs per
/// backend), and an append held open in a transaction of the caller's.
///
/// The suite creates the table of counts itself, with [`create_counts`]; name it after
/// the store's table (`store.table().derived_qualified("counts")`), so that it lives in
/// the same schema and tests do not share it.
///
/// [`create_counts`]: Self::create_counts
pub trait ReplayFixture: Send + Sync + Sized + 'static {
    /// The backend's store.
    type Store: TransactionalStore + Coordination + 'static;

    /// The store under test.
    fn store(&self) -> &Arc<Self::Store>;

    /// Where the database is, as text another process can open with
    /// [`open`](Self::open): a file's path, a schema's name.
    fn location(&self) -> String;

    /// Opens a new handle on the database at `location`, sharing nothing with the
    /// others (no pool, no in-process wake-up): what another process would open.
    fn open(location: &str) -> impl Future<Output = Self::Store> + Send;

    /// Work creating the table of counts if it is missing: a text `type`, its primary
    /// key, and an integer `n`.
    fn create_counts(store: &Self::Store) -> Work<Self, ()>;

    /// Work adding one to `ty`'s count (from 0 when it has none).
    fn count(store: &Self::Store, ty: String) -> Work<Self, ()>;

    /// Work deleting every count.
    fn clear_counts(store: &Self::Store) -> Work<Self, ()>;

    /// Work reading every count, by type.
    fn read_counts(store: &Self::Store) -> Work<Self, BTreeMap<String, i64>>;

    /// Appends `event` in a transaction of the test's own (not through the store's
    /// `append`), holds it open for `hold`, then commits it and wakes the store's
    /// followers, or rolls it back: a writer whose event commits late, or never.
    fn append_held_open(
        &self,
        event: Event,
        hold: Duration,
        commit: bool,
    ) -> impl Future<Output = ()> + Send;
}

/// Generates one `#[tokio::test]` per replay test, each calling `$fresh().await` for a
/// new [`ReplayFixture`], and the ignored child test that the killed-process test
/// starts as a process of its own.
#[macro_export]
macro_rules! replay_suite {
    ($fresh:path) => {
        $crate::replay_suite!(@each $fresh;
            replays_follow_a_subject_or_a_type_in_order_and_stop_at_a_failing_handler,
            subscriptions_see_every_event_once_across_catch_up_and_live,
            upcasters_apply_to_replays_and_subscriptions,
            snapshots_replay_only_what_came_after,
            projections_follow_live_side_by_side_and_rebuild_to_the_same_state,
            a_failing_projection_is_retried_then_reported_while_others_go_on,
            a_projection_failing_with_a_store_error_is_reported_at_the_events_sequence,
            a_projections_own_order_and_paging_are_the_runners_in_run_and_rebuild,
            run_returns_at_shutdown_while_a_handler_never_does,
            projection_names_up_to_their_limit_are_kept_and_longer_or_shared_ones_refused,
            an_event_slower_than_the_lease_keeps_one_runner_applying,
            retries_outlasting_the_lease_keep_one_runner_applying,
            a_rebuild_longer_than_the_lease_keeps_it,
            a_rebuild_while_the_projection_runs_elsewhere_is_refused,
            checkpointed_work_runs_once_per_position_from_zero,
            transactions_no_backend_can_run_are_refused_before_their_work
        );

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn projections_survive_a_killed_process_with_exactly_once_effect() {
            // This binary's name for the child test: its module path without the crate.
            let child = concat!(module_path!(), "::child_projection_process");
            let child = child.split_once("::").map_or(child, |(_, test)| test);
            $crate::replay::projections_survive_a_killed_process_with_exactly_once_effect(
                $fresh().await,
                child,
            )
            .await;
        }

        /// The child side of the killed-process test: runs the projection until killed.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        #[ignore = "run by projections_survive_a_killed_process_with_exactly_once_effect as a child process"]
        async fn child_projection_process() {
            $crate::replay::projection_child($fresh).await;
        }
    };
    (@each $fresh:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                $crate::replay::$name($fresh().await).await;
            }
        )*
    };
}
