//! Size limits on what one append may write, checked before any database work.

use crate::error::{Error, Result, Rule, ValidationError};
use crate::event::Event;

/// The largest event and batch a store accepts, checked by every backend before it
/// touches the database: an append over a limit is refused with
/// [`Error::Invalid`] naming the limit ([`Rule::TooLarge`] or
/// [`Rule::TooManyEvents`]) and writes nothing.
///
/// The attributes the store indexes (`id`, `source`, `type`, `subject`, `correlationid`,
/// `topic`, `destination`) are at most [`Limits::MAX_INDEXED_ATTRIBUTE_BYTES`] each, on
/// every backend: PostgreSQL's B-tree indexes cannot hold longer entries, and SQLite
/// refuses the same so that an event stored on one is stored on the other.
///
/// The defaults leave room for any reasonable event (4 MiB, so 1 MiB documents with
/// their attributes fit easily) while bounding what one append holds in memory and how
/// long it holds the database's write lock (100,000 events or 64 MiB per batch). Sizes
/// are [`Event::size`]: attributes, extensions and data.
///
/// ```
/// use eventstore_core::{Event, Limits};
///
/// let limits = Limits::default().max_event_bytes(16);
/// let event = Event::builder().id("1").source("/s").ty("t").text("far more than sixteen bytes").build()?;
/// let error = limits.check(std::slice::from_ref(&event)).unwrap_err();
/// assert!(error.to_string().contains("over the limit of 16 bytes"));
/// # Ok::<(), eventstore_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct Limits {
    max_event_bytes: usize,
    max_batch_events: usize,
    max_batch_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_event_bytes: Self::DEFAULT_MAX_EVENT_BYTES,
            max_batch_events: Self::DEFAULT_MAX_BATCH_EVENTS,
            max_batch_bytes: Self::DEFAULT_MAX_BATCH_BYTES,
        }
    }
}

impl Limits {
    /// The default largest event: 4 MiB.
    pub const DEFAULT_MAX_EVENT_BYTES: usize = 4 * 1024 * 1024;
    /// The default largest batch, in events: 100,000.
    pub const DEFAULT_MAX_BATCH_EVENTS: usize = 100_000;
    /// The default largest batch, in bytes: 64 MiB.
    pub const DEFAULT_MAX_BATCH_BYTES: usize = 64 * 1024 * 1024;
    /// The longest value, in bytes, of each attribute the store indexes: `id`, `source`,
    /// `type`, `subject`, `correlationid`, `topic` and `destination`. PostgreSQL's B-tree
    /// index entries hold at most 2,704 bytes and `(source, id)` is one entry, so 1 KiB
    /// each keeps every entry within it; not configurable, so that both backends store
    /// the same events.
    pub const MAX_INDEXED_ATTRIBUTE_BYTES: usize = 1024;

    /// Sets the largest event, in bytes of [`Event::size`].
    pub fn max_event_bytes(mut self, bytes: usize) -> Self {
        self.max_event_bytes = bytes;
        self
    }

    /// Sets the most events one append may carry.
    pub fn max_batch_events(mut self, events: usize) -> Self {
        self.max_batch_events = events;
        self
    }

    /// Sets the largest batch, in bytes (the sum of its events' sizes).
    pub fn max_batch_bytes(mut self, bytes: usize) -> Self {
        self.max_batch_bytes = bytes;
        self
    }

    /// The largest event, in bytes.
    pub fn event_bytes(&self) -> usize {
        self.max_event_bytes
    }

    /// The most events in one batch.
    pub fn batch_events(&self) -> usize {
        self.max_batch_events
    }

    /// The largest batch, in bytes.
    pub fn batch_bytes(&self) -> usize {
        self.max_batch_bytes
    }

    /// Checks a batch: first its count, then each event in batch order (the first over
    /// the event limit, or with an indexed attribute over its limit, by its index), then
    /// the batch's total size. The first limit broken is the one named.
    pub fn check(&self, events: &[Event]) -> Result<()> {
        if events.len() > self.max_batch_events {
            return Err(Error::Invalid(ValidationError::new(
                "batch",
                Rule::TooManyEvents {
                    limit: self.max_batch_events,
                    count: events.len(),
                },
            )));
        }
        let mut total = 0usize;
        for (index, event) in events.iter().enumerate() {
            total = total.saturating_add(self.event_size(index, event)?);
        }
        if total > self.max_batch_bytes {
            let rule = Rule::TooLarge {
                limit: self.max_batch_bytes,
                size: total,
            };
            return Err(Error::Invalid(ValidationError::new("batch", rule)));
        }
        Ok(())
    }

    /// Checks one event against the event limit and the indexed attributes' limit;
    /// `index` is its place in the batch (or the import), named in the error.
    pub fn check_event(&self, index: usize, event: &Event) -> Result<()> {
        self.event_size(index, event).map(drop)
    }

    fn event_size(&self, index: usize, event: &Event) -> Result<usize> {
        let size = event.size();
        if size > self.max_event_bytes {
            let rule = Rule::TooLarge {
                limit: self.max_event_bytes,
                size,
            };
            return Err(Error::Invalid(
                ValidationError::new("event", rule).at(index),
            ));
        }
        let indexed = [
            ("id", Some(event.id())),
            ("source", Some(event.source())),
            ("type", Some(event.ty())),
            ("subject", event.subject()),
            ("correlationid", event.correlationid()),
            ("topic", event.topic()),
            ("destination", event.destination()),
        ];
        for (attribute, value) in indexed {
            let len = value.map_or(0, str::len);
            if len > Self::MAX_INDEXED_ATTRIBUTE_BYTES {
                let rule = Rule::TooLarge {
                    limit: Self::MAX_INDEXED_ATTRIBUTE_BYTES,
                    size: len,
                };
                return Err(Error::Invalid(
                    ValidationError::new(attribute, rule).at(index),
                ));
            }
        }
        Ok(size)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An event `id` with `data` bytes of binary data (the import's tests use it too).
    pub(crate) fn event(id: usize, data: usize) -> Event {
        Event::builder()
            .id(id.to_string())
            .source("/s")
            .ty("t")
            .binary(vec![0u8; data])
            .build()
            .expect("valid")
    }

    #[test]
    fn each_limit_is_named_and_placed() {
        let limits = Limits::default()
            .max_event_bytes(100)
            .max_batch_events(3)
            .max_batch_bytes(200);
        assert!(limits.check(&[event(1, 50), event(2, 50)]).is_ok());

        let too_big = limits.check(&[event(1, 10), event(2, 101)]).unwrap_err();
        let v = too_big.as_validation().expect("a validation error");
        assert_eq!((v.attribute(), v.index()), ("event", Some(1)));
        assert!(matches!(v.rule(), Rule::TooLarge { limit: 100, .. }));

        let too_many = limits.check(&[event(1, 0), event(2, 0), event(3, 0), event(4, 0)]);
        let e = too_many.unwrap_err();
        assert!(
            e.to_string().contains("4 events, over the limit of 3"),
            "{e}"
        );

        let too_heavy = limits.check(&[event(1, 90), event(2, 90), event(3, 90)]);
        let e = too_heavy.unwrap_err();
        let v = e.as_validation().unwrap();
        assert_eq!(v.attribute(), "batch");
        assert!(matches!(v.rule(), Rule::TooLarge { limit: 200, .. }));
    }

    #[test]
    fn the_count_is_checked_before_the_events_and_the_total_after_them() {
        let limits = Limits::default()
            .max_event_bytes(100)
            .max_batch_events(2)
            .max_batch_bytes(150);
        let too_many = limits.check(&[event(1, 0), event(2, 101), event(3, 0)]);
        let e = too_many.unwrap_err();
        let v = e.as_validation().unwrap();
        assert_eq!((v.attribute(), v.index()), ("batch", None));
        assert!(matches!(
            v.rule(),
            Rule::TooManyEvents { limit: 2, count: 3 }
        ));

        let e = limits.check(&[event(1, 90), event(2, 101)]).unwrap_err();
        let v = e.as_validation().unwrap();
        assert_eq!((v.attribute(), v.index()), ("event", Some(1)));
    }

    #[test]
    fn defaults_take_mebibyte_documents() {
        let limits = Limits::default();
        assert!(
            limits
                .check(&[event(1, 1024 * 1024), event(2, 1024 * 1024)])
                .is_ok()
        );
        assert!(limits.check(&[event(1, 5 * 1024 * 1024)]).is_err());
    }
}
