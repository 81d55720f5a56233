//! What followers that must survive restarts keep in the store's database: checkpoints,
//! leases, dead letters and snapshots.
//!
//! The names these are kept under (a checkpoint's, a lease's and its holder's, a relay's,
//! a snapshot's name and subject) may hold any text but U+0000, which PostgreSQL's `text`
//! cannot hold, up to [`MAX_NAME_BYTES`](crate::sql::text::MAX_NAME_BYTES) (1 KiB): every
//! backend refuses another name with [`Error::Config`](crate::Error) and writes nothing
//! ([`crate::sql::text::check_name`]).

use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::data::Json;
use crate::error::Result;
use crate::stored::StoredEvent;

/// Durable positions, one per name (a relay, a projection).
#[async_trait]
pub trait CheckpointStore: Send + Sync {
    /// The position saved under `name`, if any.
    async fn load_checkpoint(&self, name: &str) -> Result<Option<i64>>;

    /// Saves `position` under `name` (positions only move forward: a smaller one is
    /// ignored).
    async fn save_checkpoint(&self, name: &str, position: i64) -> Result<()>;

    /// Forgets the position saved under `name` (to rebuild from the start).
    async fn reset_checkpoint(&self, name: &str) -> Result<()>;
}

/// The longest a lease is held for: [`LeaseStore::try_lease`] holds one asked for
/// longer (up to [`Duration::MAX`]) this long, on every backend, since PostgreSQL's
/// intervals end well before `Duration`'s.
pub const MAX_LEASE_TTL: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// Time-limited exclusive leases, one per name, so that one process at a time does a
/// job across many; a holder that dies loses its lease when it expires.
#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// Takes the lease `name` for `holder` for `ttl` (at most [`MAX_LEASE_TTL`]), or
    /// extends it if `holder` has it. Returns whether `holder` holds it now.
    async fn try_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool>;

    /// Gives the lease up, if `holder` has it.
    async fn release_lease(&self, name: &str, holder: &str) -> Result<()>;
}

/// An event a relay could not deliver, kept for inspection and replay.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// The relay that gave up on it.
    pub relay: String,
    /// The event's sequence.
    pub sequence: i64,
    /// The event's `source`.
    pub source: String,
    /// The event's `id`.
    pub id: String,
    /// The last error.
    pub error: String,
    /// When the relay gave up.
    pub failed_at: OffsetDateTime,
}

/// Events that could not be delivered.
#[async_trait]
pub trait DeadLetterStore: Send + Sync {
    /// Records that `relay` gave up on `event` after `error`. The error is kept as given,
    /// except that U+0000 becomes U+FFFD on every backend ([`crate::sql::text::storable`]),
    /// so that a sender's error, whatever it holds, never keeps its event from being set
    /// aside.
    async fn dead_letter(&self, relay: &str, event: &StoredEvent, error: &str) -> Result<()>;

    /// The dead letters of `relay`, oldest first.
    async fn dead_letters(&self, relay: &str) -> Result<Vec<DeadLetter>>;
}

/// A subject's state at a stream version, so that loading it replays only what came
/// after.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The subject.
    pub subject: String,
    /// The stream version the state includes.
    pub stream_version: i64,
    /// The state, as JSON.
    pub state: Json,
    /// When it was taken.
    pub taken_at: OffsetDateTime,
}

/// Snapshots of subjects' states, the latest per `(name, subject)`; `name` tells apart
/// the kinds of state kept for one subject (and their versions of shape).
#[async_trait]
pub trait SnapshotStore: Send + Sync {
    /// Keeps `state` as `subject`'s state at `stream_version` under `name`, unless a
    /// snapshot of that version or a later one is kept already (the first state saved
    /// for a version stays).
    async fn save_snapshot(
        &self,
        name: &str,
        subject: &str,
        stream_version: i64,
        state: Json,
    ) -> Result<()>;

    /// The latest snapshot of `subject` under `name`.
    async fn load_snapshot(&self, name: &str, subject: &str) -> Result<Option<Snapshot>>;
}
