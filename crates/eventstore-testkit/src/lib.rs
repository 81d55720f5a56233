//! The backend-agnostic conformance suite of eventstore-sql.
//!
//! Every backend runs the same tests through the public [`EventStore`] API, against a
//! real database, with a fresh store per test. A backend's test file is one macro call
//! naming an async function that opens a fresh store:
//!
//! ```ignore
//! async fn fresh() -> eventstore_testkit::Fixture {
//!     let dir = tempfile::tempdir().unwrap();
//!     let store = SqliteEventStore::open(dir.path().join("events.db")).await.unwrap();
//!     eventstore_testkit::Fixture::new(store).keep(dir)
//! }
//! eventstore_testkit::conformance_suite!(fresh);
//! ```
//!
//! The tests are also plain `pub async fn`s in [`suite`], for a backend that needs to
//! call them its own way.

use std::any::Any;
use std::sync::Arc;

use eventstore_core::{
    CheckpointStore, DeadLetterStore, EventQuery, EventStore, LeaseStore, SnapshotStore,
    StoredEvent,
};
use futures::future::BoxFuture;

pub mod arb;
pub mod bad_input;
pub mod crash;
pub mod data;
pub mod delivery;
pub mod import;
mod model;
pub mod relay_crash;
pub mod replay;
pub mod sender;
pub mod stress;
pub mod suite;
pub mod vectors;

/// What a backend offers beside events: the checkpoints, leases, dead letters and
/// snapshots that relays, projections and replays keep in the store's database. Every
/// backend provides all of them, and the suite checks that they behave alike.
pub trait Coordination:
    EventStore + CheckpointStore + LeaseStore + DeadLetterStore + SnapshotStore
{
}

impl<S> Coordination for S where
    S: EventStore + CheckpointStore + LeaseStore + DeadLetterStore + SnapshotStore
{
}

/// A fresh store for one test, and whatever must live as long as it (a temporary
/// directory, a schema to drop).
pub struct Fixture {
    /// The store under test.
    pub store: Arc<dyn EventStore>,
    /// The same store, as its checkpoints, leases, dead letters and snapshots.
    pub coordination: Arc<dyn Coordination>,
    /// Another way to run queries over the store's events, which
    /// [`suite::random_queries_match_the_model`] checks in place of the store's own
    /// [`query`](EventStore::query) (see [`read_queries_with`](Self::read_queries_with)).
    pub query_reader: Option<QueryReader>,
    keep: Vec<Box<dyn Any + Send + Sync>>,
}

/// Runs a query over a store's events and returns what it read, or how it failed: a
/// reader of the same database other than the store (a driver of its own, such as
/// eventstore-sqlx's `query_in`).
pub type QueryReader = Arc<
    dyn Fn(EventQuery) -> BoxFuture<'static, eventstore_core::Result<Vec<StoredEvent>>>
        + Send
        + Sync,
>;

impl Fixture {
    /// Wraps a store.
    pub fn new(store: impl Coordination + 'static) -> Self {
        let store = Arc::new(store);
        Self {
            store: Arc::clone(&store) as Arc<dyn EventStore>,
            coordination: store,
            query_reader: None,
            keep: Vec::new(),
        }
    }

    /// Has [`suite::random_queries_match_the_model`] run its queries through `reader`
    /// rather than the store's own `query`, over the events it appends to the store:
    /// how another driver on the same database is held to the same model.
    #[must_use]
    pub fn read_queries_with(mut self, reader: QueryReader) -> Self {
        self.query_reader = Some(reader);
        self
    }

    /// Keeps `guard` alive as long as the fixture.
    #[must_use]
    pub fn keep(mut self, guard: impl Any + Send + Sync) -> Self {
        self.keep.push(Box::new(guard));
        self
    }
}

/// Generates one `#[tokio::test]` per conformance test, each calling `$fresh().await`
/// for a new [`Fixture`].
#[macro_export]
macro_rules! conformance_suite {
    ($fresh:path) => {
        $crate::conformance_suite!(@each $fresh;
            append_and_get_round_trip,
            get_of_unknown_event_is_none,
            failed_batch_writes_nothing,
            a_refused_batch_names_its_first_duplicate,
            a_refused_batch_names_its_first_conflict,
            empty_batch_is_a_no_op,
            duplicates_are_refused_or_skipped,
            expected_versions_are_enforced,
            concurrent_appenders_race_one_winner,
            concurrent_appenders_get_distinct_versions,
            stream_reads_from_a_version,
            events_without_subject_have_no_stream_version,
            every_filter_matches_the_model,
            long_lists_are_answered,
            orders_limits_offsets_and_keyset_pages,
            extension_filters_match_typed_values,
            time_ranges_are_nanosecond_exact,
            long_reads_are_paged_without_loss,
            events_appended_during_a_read_are_neither_skipped_nor_repeated,
            valid_vectors_round_trip,
            invalid_vectors_are_refused,
            large_payloads_round_trip,
            indexed_attributes_of_the_longest_length_round_trip,
            unicode_round_trips,
            binary_data_round_trips,
            json_data_round_trips_exactly,
            bad_input_is_refused,
            closed_store_refuses_work,
            a_read_under_way_at_close_ends_with_closed
        );
        $crate::conformance_suite!(@shared $fresh;
            followers_catch_up_then_follow_live,
            followers_apply_filters,
            followers_refuse_an_invalid_filter_at_once,
            followers_see_concurrent_appends_once_in_order,
            batches_spanning_many_subjects_append_beside_narrow_ones
        );
        $crate::conformance_suite!(@coordination $fresh;
            checkpoints_move_only_forward,
            leases_are_exclusive_until_released,
            leases_may_be_asked_for_any_time_to_live,
            leases_expire_after_their_time_to_live,
            dead_letters_are_kept_per_relay_in_order,
            dead_letter_errors_keep_any_text,
            snapshots_keep_the_latest_version,
            unkeepable_names_are_refused,
            every_call_on_a_closed_store_is_refused
        );
        $crate::conformance_suite!(@coordination_shared $fresh;
            concurrent_checkpoint_saves_keep_the_highest,
            concurrent_lease_requests_have_one_winner
        );
        $crate::conformance_suite!(@fresh $fresh; random_queries_match_the_model);
    };
    (@fresh $fresh:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                $crate::suite::$name(|| $fresh()).await;
            }
        )*
    };
    (@coordination $fresh:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let fixture = $fresh().await;
                $crate::suite::$name(&*fixture.coordination).await;
            }
        )*
    };
    (@coordination_shared $fresh:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let fixture = $fresh().await;
                $crate::suite::$name(::std::sync::Arc::clone(&fixture.coordination)).await;
            }
        )*
    };
    (@shared $fresh:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let fixture = $fresh().await;
                $crate::suite::$name(::std::sync::Arc::clone(&fixture.store)).await;
            }
        )*
    };
    (@each $fresh:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let fixture = $fresh().await;
                $crate::suite::$name(&*fixture.store).await;
            }
        )*
    };
}

/// Generates the query tests of [`conformance_suite!`] (the fixed filter list, keyset
/// pages, long reads, random queries against the model) for a store configured to read
/// in small pages, where the edges of paging (a page boundary at the limit, at the
/// offset, at a keyset position) are everywhere. Call it in a module of its own, beside
/// `conformance_suite!`:
///
/// ```ignore
/// mod small_pages {
///     async fn fresh() -> eventstore_testkit::Fixture {
///         let store = SqliteOptions::in_memory().page_size(3)?.open().await?;
///         eventstore_testkit::Fixture::new(store)
///     }
///     eventstore_testkit::paging_suite!(fresh);
/// }
/// ```
#[macro_export]
macro_rules! paging_suite {
    ($fresh:path) => {
        $crate::conformance_suite!(@each $fresh;
            every_filter_matches_the_model,
            orders_limits_offsets_and_keyset_pages,
            long_reads_are_paged_without_loss,
            events_appended_during_a_read_are_neither_skipped_nor_repeated
        );
        $crate::conformance_suite!(@fresh $fresh; random_queries_match_the_model);
    };
}

/// The store under test, as the suite functions take it.
pub type Store = dyn EventStore;
