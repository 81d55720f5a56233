//! [`EventStoreSender`]: a [`Sender`] that appends what it receives to a store.

use std::sync::Arc;

use async_trait::async_trait;
use eventstore_core::{
    AppendOptions, Error, EventStore, OnDuplicate, SendError, Sender, StoredEvent, Unavailable,
};

/// Delivers events by appending them to another store (a replica, an archive, another
/// service's store). Redelivered events are skipped by `(source, id)`, so at-least-once
/// delivery stores each event once.
///
/// A failure of the destination store itself is reported [`Unavailable`], so that a
/// relay waits it out rather than dead-letter the events: a database error (a lost
/// connection, an I/O error: [`Error::is_database`]), a timeout
/// ([`Error::is_timeout`]) and a closed store ([`Error::Closed`]: the relay then waits,
/// dead-lettering nothing, until it is shut down too). Any other error is the events'
/// fault and is returned as it is: an event the destination refuses as invalid (its
/// [`Limits`](eventstore_core::Limits), say), a conflict.
#[derive(Clone)]
pub struct EventStoreSender {
    store: Arc<dyn EventStore>,
}

impl EventStoreSender {
    /// Appends to `store`.
    pub fn new(store: Arc<dyn EventStore>) -> Self {
        Self { store }
    }
}

impl std::fmt::Debug for EventStoreSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStoreSender").finish_non_exhaustive()
    }
}

#[async_trait]
impl Sender for EventStoreSender {
    async fn send(&self, events: &[StoredEvent]) -> Result<(), SendError> {
        let batch = events.iter().map(|e| e.event().clone()).collect();
        let skip = AppendOptions::new().on_duplicate(OnDuplicate::Skip);
        match self.store.append_with(batch, skip).await {
            Ok(_) => Ok(()),
            Err(error) if is_transient(&error) => Err(Unavailable::new(error).into()),
            Err(error) => Err(error.into()),
        }
    }
}

/// Whether `error` is the destination store's, not the events': retrying later works,
/// or (a closed store) waiting for shutdown loses nothing where a dead letter would.
fn is_transient(error: &Error) -> bool {
    error.is_database() || error.is_timeout() || matches!(error, Error::Closed)
}
