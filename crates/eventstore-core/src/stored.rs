//! An event as the store holds it.

use time::OffsetDateTime;

use crate::event::Event;

/// An [`Event`] together with what the store assigned to it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    event: Event,
    sequence: i64,
    stream_version: Option<i64>,
    recorded_at: OffsetDateTime,
}

impl StoredEvent {
    /// Assembles a stored event; backends call this when they read a row.
    pub fn new(
        event: Event,
        sequence: i64,
        stream_version: Option<i64>,
        recorded_at: OffsetDateTime,
    ) -> Self {
        Self {
            event,
            sequence,
            stream_version,
            recorded_at,
        }
    }

    /// The event, as it was appended.
    pub fn event(&self) -> &Event {
        &self.event
    }

    /// The event, by value.
    pub fn into_event(self) -> Event {
        self.event
    }

    /// The same stored event carrying `event` instead (what an upcaster returns).
    #[must_use]
    pub fn with_event(self, event: Event) -> Self {
        Self { event, ..self }
    }

    /// The event's position in the store's global order (starts at 1, strictly
    /// increasing in commit order for followers; on PostgreSQL an append that did not
    /// commit, rolled back or refused, leaves a gap: see docs/architecture.md).
    pub fn sequence(&self) -> i64 {
        self.sequence
    }

    /// The event's version within its subject's stream (1 for the first event), or
    /// `None` when the event has no subject.
    pub fn stream_version(&self) -> Option<i64> {
        self.stream_version
    }

    /// When the store committed the event (UTC).
    pub fn recorded_at(&self) -> OffsetDateTime {
        self.recorded_at
    }
}

impl std::ops::Deref for StoredEvent {
    type Target = Event;

    fn deref(&self) -> &Event {
        &self.event
    }
}
