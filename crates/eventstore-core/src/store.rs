//! The [`EventStore`] trait every backend implements.

use async_trait::async_trait;
use futures::stream::BoxStream;

use crate::append::{AppendOptions, AppendResult};
use crate::error::Result;
use crate::event::Event;
use crate::follow::{Horizon, Wakeups};
use crate::query::EventQuery;
use crate::stored::StoredEvent;

/// An owned stream of stored events, read from the database as it is consumed.
pub type EventStream = BoxStream<'static, Result<StoredEvent>>;

/// A durable, queryable store of CloudEvents.
///
/// Object-safe: pick a backend at run time and hold it as `Arc<dyn EventStore>`.
/// Reads return an [`EventStream`] that owns what it needs; it reads in bounded pages,
/// so a query over millions of events uses little memory.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Appends a batch atomically: every event is written, or none is. Duplicates of a
    /// stored `(source, id)` are refused.
    async fn append(&self, events: Vec<Event>) -> Result<AppendResult> {
        self.append_with(events, AppendOptions::default()).await
    }

    /// Appends a batch atomically with expected stream versions and a duplicate policy.
    /// On [`Error::Conflict`](crate::Error::Conflict) or
    /// [`Error::Duplicate`](crate::Error::Duplicate) nothing is written.
    async fn append_with(&self, events: Vec<Event>, options: AppendOptions)
    -> Result<AppendResult>;

    /// The events matching `query`, in its order.
    fn query(&self, query: EventQuery) -> EventStream;

    /// The event with this `(source, id)`, if stored.
    async fn get(&self, source: &str, id: &str) -> Result<Option<StoredEvent>>;

    /// The events of `subject`, in stream-version order, from `from_version` on (1 is
    /// the first event).
    fn stream(&self, subject: &str, from_version: i64) -> EventStream;

    /// The subject's current stream version (`None`: no events).
    async fn stream_version(&self, subject: &str) -> Result<Option<i64>>;

    /// How far followers may read: see [`Horizon`]. Readers that follow the global
    /// sequence read only up to `safe`, so they never skip an event that commits late.
    async fn horizon(&self) -> Result<Horizon>;

    /// Wake-ups for followers: after this store's appends commit, and at a polling
    /// interval for appends made elsewhere. Ends when the store is closed.
    fn wakeups(&self) -> Wakeups;

    /// Closes the store: later calls fail with [`Error::Closed`](crate::Error::Closed)
    /// and the connections are released once the streams still reading finish.
    ///
    /// A read already under way yields its events in order, none left out or repeated,
    /// then fails with `Error::Closed` before its end, on every backend, and is ended
    /// after that: a SQLite store ends it at its next page (its readers close, and its
    /// file is checkpointed and closed so that it is complete on its own); a PostgreSQL
    /// store at its next row, streamed (its statement is cancelled) or paged (a
    /// follower's, bounded by [`EventQuery::within_horizon`]), whoever owns the pool.
    /// Only a read that reached its end before that, its last event taken, ends without
    /// the error.
    async fn close(&self) -> Result<()>;
}
