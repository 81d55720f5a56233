//! Delivering events somewhere: the [`Sender`] trait the outbox relay delivers to.

use async_trait::async_trait;

use crate::stored::StoredEvent;

/// Why a send failed; the relay retries, then dead-letters.
pub type SendError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A destination for events: a broker, an HTTP endpoint, another store.
///
/// `send` delivers one batch, in order. It may be called again with events it already
/// received (delivery is at least once), so a receiver should be idempotent on
/// `(source, id)`.
#[async_trait]
pub trait Sender: Send + Sync {
    /// Delivers `events`, all of them or an error.
    async fn send(&self, events: &[StoredEvent]) -> Result<(), SendError>;
}
