//! [`EventStoreSender`]: a [`Sender`] that appends what it receives to a store.

use std::sync::Arc;

use async_trait::async_trait;
use eventstore_core::{AppendOptions, EventStore, OnDuplicate, SendError, Sender, StoredEvent};

/// Delivers events by appending them to another store (a replica, an archive, another
/// service's store). Redelivered events are skipped by `(source, id)`, so at-least-once
/// delivery stores each event once.
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
        self.store.append_with(batch, skip).await?;
        Ok(())
    }
}
