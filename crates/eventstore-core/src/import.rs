//! What the backends' bulk imports share: the chunks they write, the stream versions
//! they assign, and their result.
//!
//! An import writes many events in one transaction, faster than appends, with fewer
//! options: no expected versions, and a duplicate always fails it. The backends differ
//! only in how rows reach the table (binary `COPY` on PostgreSQL, one prepared insert
//! on SQLite); what the events get, and what is refused, is decided here.

use std::collections::{HashMap, HashSet};

use time::OffsetDateTime;

use crate::error::Result;
use crate::event::Event;
use crate::limits::Limits;

/// What an import wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportResult {
    /// How many events were written.
    pub count: u64,
    /// The recording time of every imported event.
    pub recorded_at: OffsetDateTime,
}

/// An import's events in chunks of at most `size` events, each event checked against
/// the event size limit (with its index in the whole import) before its chunk is
/// handed out, so that a chunk with an oversized event is never written.
///
/// The batch limits do not refuse an import: it is meant for loads larger than any
/// append. What bounds its memory is the chunk, so the batch-bytes limit
/// ([`Limits::batch_bytes`]) ends one: a chunk ends with the event that brings the sum
/// of its events' [`Event::size`] to that limit, so it holds at most the limit plus one
/// event. Events are pulled from the iterator only as their chunk is filled.
///
/// ```
/// use eventstore_core::{Event, ImportChunks, Limits};
///
/// let events = (0..5).map(|i| Event::builder().id(i.to_string()).source("/s").ty("t").build());
/// let events: Vec<Event> = events.collect::<Result<_, _>>()?;
/// let chunks: Vec<Vec<Event>> = ImportChunks::new(events, Limits::default(), 2)
///     .collect::<Result<_, _>>()?;
/// assert_eq!(chunks.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 1]);
///
/// // Chunks of 1 KiB events end at a 3 KiB batch-bytes limit, whatever their count.
/// let events = (0..5).map(|i| Event::builder().id(i.to_string()).source("/s").ty("t").binary(vec![0; 1024]).build());
/// let events: Vec<Event> = events.collect::<Result<_, _>>()?;
/// let limits = Limits::default().max_batch_bytes(3 * 1024);
/// let chunks: Vec<Vec<Event>> = ImportChunks::new(events, limits, 1_000)
///     .collect::<Result<_, _>>()?;
/// assert_eq!(chunks.iter().map(Vec::len).collect::<Vec<_>>(), [3, 2]);
/// # Ok::<(), eventstore_core::Error>(())
/// ```
#[derive(Debug)]
pub struct ImportChunks<I> {
    events: I,
    limits: Limits,
    size: usize,
    /// How many events earlier chunks held: the index of this chunk's first event.
    taken: usize,
    failed: bool,
}

impl<I: Iterator<Item = Event>> ImportChunks<I> {
    /// Cuts `events` into chunks of `size` events (at least one), or fewer where their
    /// sizes reach `limits`' batch-bytes limit.
    pub fn new(events: impl IntoIterator<IntoIter = I>, limits: Limits, size: usize) -> Self {
        Self {
            events: events.into_iter(),
            limits,
            size: size.max(1),
            taken: 0,
            failed: false,
        }
    }
}

impl<I: Iterator<Item = Event>> Iterator for ImportChunks<I> {
    type Item = Result<Vec<Event>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let mut chunk = Vec::new();
        let mut bytes = 0usize;
        // At least one event a chunk, whatever the limit.
        while chunk.len() < self.size && (chunk.is_empty() || bytes < self.limits.batch_bytes()) {
            let Some(event) = self.events.next() else {
                break;
            };
            if let Err(e) = self.limits.check_event(self.taken + chunk.len(), &event) {
                self.failed = true;
                return Some(Err(e));
            }
            bytes = bytes.saturating_add(event.size());
            chunk.push(event);
        }
        if chunk.is_empty() {
            return None;
        }
        self.taken += chunk.len();
        Some(Ok(chunk))
    }
}

/// The stream versions an import assigns: every subject's current version is looked up
/// once, by the backend, for the subjects [`unknown`](Self::unknown) names; then each
/// event of the subject gets the next version, in iteration order.
///
/// ```
/// use eventstore_core::{Event, StreamVersions};
///
/// let on = |id: &str, subject: &str| Event::builder().id(id).source("/s").ty("t").subject(subject).build();
/// let chunk = vec![on("1", "a")?, on("2", "b")?, on("3", "a")?];
/// let mut versions = StreamVersions::new();
/// assert_eq!(versions.unknown(&chunk), ["a", "b"]);
/// versions.record("a", Some(7)); // as stored
/// versions.record("b", None); // no events yet
/// let assigned: Vec<_> = chunk.iter().map(|e| versions.assign(e)).collect();
/// assert_eq!(assigned, [Some(8), Some(1), Some(9)]);
/// assert!(versions.unknown(&chunk).is_empty());
/// # Ok::<(), eventstore_core::Error>(())
/// ```
#[derive(Debug, Default, Clone)]
pub struct StreamVersions {
    current: HashMap<String, i64>,
}

impl StreamVersions {
    /// No subject known yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The subjects of `events` whose current version is not known yet, each once, in
    /// the order they first appear.
    pub fn unknown<'a>(&self, events: &'a [Event]) -> Vec<&'a str> {
        let mut seen = HashSet::new();
        events
            .iter()
            .filter_map(Event::subject)
            .filter(|s| !self.current.contains_key(*s) && seen.insert(*s))
            .collect()
    }

    /// Records `subject`'s stored version (`None`: it has no events yet).
    pub fn record(&mut self, subject: &str, current: Option<i64>) {
        self.current
            .insert(subject.to_owned(), current.unwrap_or(0));
    }

    /// The stream version `event` gets, counted as taken: the next of its subject's, or
    /// `None` without a subject. A subject never [recorded](Self::record) counts from
    /// no events, which is right only if the backend looked it up and found none.
    pub fn assign(&mut self, event: &Event) -> Option<i64> {
        let subject = event.subject()?;
        // Looked up by `&str` first: the key is allocated once per subject, not per event.
        if let Some(version) = self.current.get_mut(subject) {
            *version += 1;
            return Some(*version);
        }
        debug_assert!(false, "subject {subject:?} assigned before it was recorded");
        self.current.insert(subject.to_owned(), 1);
        Some(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::tests::event;

    #[test]
    fn an_oversized_event_fails_its_chunk_by_its_index_in_the_import() {
        let limits = Limits::default().max_event_bytes(100).max_batch_events(1);
        let events = vec![
            event(0, 0),
            event(1, 0),
            event(2, 0),
            event(3, 101),
            event(4, 0),
        ];
        let mut chunks = ImportChunks::new(events, limits, 2);
        // The batch limit (one event) does not apply to an import's chunks.
        assert_eq!(chunks.next().unwrap().unwrap().len(), 2);
        let error = chunks.next().unwrap().unwrap_err();
        let v = error.as_validation().expect("a validation error");
        assert_eq!((v.attribute(), v.index()), ("event", Some(3)));
        assert!(chunks.next().is_none(), "nothing after a refused chunk");
    }

    #[test]
    fn a_chunk_ends_once_its_events_reach_the_batch_bytes_limit() {
        // Ten events of one size (ids of one digit), three to the limit's worth.
        let size = event(0, 100).size();
        let limits = Limits::default().max_batch_bytes(3 * size);
        let pulled = std::cell::Cell::new(0);
        let events = (0..10).map(|i| {
            pulled.set(pulled.get() + 1);
            event(i, 100)
        });
        let mut chunks = ImportChunks::new(events, limits, 1_000);
        assert_eq!(chunks.next().unwrap().unwrap().len(), 3);
        assert_eq!(
            pulled.get(),
            3,
            "no event is pulled before its chunk is filled"
        );
        let rest: Vec<usize> = chunks.map(|c| c.unwrap().len()).collect();
        assert_eq!(rest, [3, 3, 1]);

        // An event over the batch-bytes limit (within the event limit) is a chunk of
        // its own; the count still bounds a chunk; an oversized event is still named by
        // its index in the whole import.
        let limits = limits.max_event_bytes(10 * size);
        let events = vec![
            event(0, 100),
            event(1, 100),
            event(2, 5 * size),
            event(3, 5 * size),
            event(4, 100),
            event(5, 100),
            event(6, 100),
            event(7, 11 * size),
        ];
        let mut chunks = ImportChunks::new(events, limits, 2);
        let lens: Vec<usize> = chunks.by_ref().take(4).map(|c| c.unwrap().len()).collect();
        assert_eq!(lens, [2, 1, 1, 2]);
        let error = chunks.next().unwrap().unwrap_err();
        assert_eq!(error.as_validation().unwrap().index(), Some(7));
        assert!(chunks.next().is_none());
    }

    #[test]
    fn subjects_are_unknown_once_and_events_without_one_get_no_version() {
        let on = |id: &str, subject: Option<&str>| {
            let b = Event::builder().id(id).source("/s").ty("t");
            match subject {
                Some(s) => b.subject(s),
                None => b,
            }
            .build()
            .unwrap()
        };
        let chunk = vec![on("1", Some("a")), on("2", None), on("3", Some("a"))];
        let mut versions = StreamVersions::new();
        assert_eq!(versions.unknown(&chunk), ["a"]);
        versions.record("a", None);
        let assigned: Vec<_> = chunk.iter().map(|e| versions.assign(e)).collect();
        assert_eq!(assigned, [Some(1), None, Some(2)]);
    }
}
