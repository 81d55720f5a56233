//! What followers that must survive restarts keep in the store's database: checkpoints,
//! leases and dead letters.

use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

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

/// Time-limited exclusive leases, one per name, so that one process at a time does a
/// job across many; a holder that dies loses its lease when it expires.
#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// Takes the lease `name` for `holder` for `ttl`, or extends it if `holder` has it.
    /// Returns whether `holder` holds it now.
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
    /// Records that `relay` gave up on `event` after `error`.
    async fn dead_letter(&self, relay: &str, event: &StoredEvent, error: &str) -> Result<()>;

    /// The dead letters of `relay`, oldest first.
    async fn dead_letters(&self, relay: &str) -> Result<Vec<DeadLetter>>;
}
