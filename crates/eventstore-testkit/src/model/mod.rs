//! An in-memory model of what a query returns, written from `EventQuery`'s documented
//! semantics rather than from the SQL the store runs, and random datasets and queries
//! to hold the store to it ([`suite::random_queries_match_the_model`]).
//!
//! [`suite::random_queries_match_the_model`]: crate::suite::random_queries_match_the_model

mod generate;

use eventstore_core::time::{OffsetDateTime, UtcOffset};
use eventstore_core::{Event, EventQuery, ExtensionValue, Order};

pub(crate) use generate::{Dataset, dataset, missed_texts, query};

/// An event of the model, with the sequence the store gave it.
pub(crate) type Stored = (i64, Event);

/// One query, kept in a form both the store and the model understand.
///
/// Lists are the values of all the calls that build them (`ty("a").types(["b"])` is
/// `["a", "b"]`); `Some(vec![])` is an empty list, which matches nothing.
#[derive(Debug, Clone, Default)]
pub(crate) struct QuerySpec {
    pub(crate) types: Option<Vec<String>>,
    pub(crate) sources: Option<Vec<String>>,
    pub(crate) subjects: Option<Vec<String>>,
    pub(crate) ids: Option<Vec<String>>,
    /// Lists built one value at a time: never empty.
    pub(crate) correlation_ids: Vec<String>,
    pub(crate) topics: Vec<String>,
    pub(crate) destinations: Vec<String>,
    pub(crate) data_content_types: Vec<String>,
    pub(crate) data_schemas: Vec<String>,
    pub(crate) extensions: Vec<(String, ExtensionValue)>,
    pub(crate) time_from: Option<OffsetDateTime>,
    pub(crate) time_to: Option<OffsetDateTime>,
    pub(crate) min_sequence: Option<i64>,
    pub(crate) max_sequence: Option<i64>,
    /// `up_to` and `within_horizon` calls, in order, after `max_sequence`.
    pub(crate) caps: Vec<Cap>,
    pub(crate) after: Option<i64>,
    pub(crate) offset: u64,
    pub(crate) limit: Option<u64>,
    pub(crate) descending: bool,
}

/// A bound on the sequence added after `max_sequence`, which keeps the smaller maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cap {
    /// `up_to(n)`.
    UpTo(i64),
    /// `within_horizon(n)`.
    Within(i64),
    /// `within_horizon` of the horizon the store reports just before the query.
    WithinStoreHorizon,
}

/// Why the model refuses a query: the store must fail it with `Error::InvalidQuery`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invalid(pub(crate) String);

impl QuerySpec {
    /// The query, with the store's current safe horizon for
    /// [`Cap::WithinStoreHorizon`].
    pub(crate) fn to_query(&self, horizon: i64) -> EventQuery {
        let mut q = EventQuery::new();
        // The first value of a list through the one-value adder, the rest through the
        // list adder: both add to what is there.
        if let Some(list) = &self.types {
            q = match list.split_first() {
                Some((first, rest)) => q.ty(first).types(rest),
                None => q.types(Vec::<String>::new()),
            };
        }
        if let Some(list) = &self.sources {
            q = match list.split_first() {
                Some((first, rest)) => q.source(first).sources(rest),
                None => q.sources(Vec::<String>::new()),
            };
        }
        if let Some(list) = &self.subjects {
            q = match list.split_first() {
                Some((first, rest)) => q.subject(first).subjects(rest),
                None => q.subjects(Vec::<String>::new()),
            };
        }
        if let Some(list) = &self.ids {
            q = match list.split_first() {
                Some((first, rest)) => q.id(first).ids(rest),
                None => q.ids(Vec::<String>::new()),
            };
        }
        for v in &self.correlation_ids {
            q = q.correlation_id(v);
        }
        for v in &self.topics {
            q = q.topic(v);
        }
        for v in &self.destinations {
            q = q.destination(v);
        }
        for v in &self.data_content_types {
            q = q.data_content_type(v);
        }
        for v in &self.data_schemas {
            q = q.data_schema(v);
        }
        for (name, value) in &self.extensions {
            q = q.extension(name, value.clone());
        }
        if let Some(t) = self.time_from {
            q = q.time_from(t);
        }
        if let Some(t) = self.time_to {
            q = q.time_to(t);
        }
        if let Some(s) = self.min_sequence {
            q = q.min_sequence(s);
        }
        if let Some(s) = self.max_sequence {
            q = q.max_sequence(s);
        }
        for cap in &self.caps {
            q = match *cap {
                Cap::UpTo(s) => q.up_to(s),
                Cap::Within(s) => q.within_horizon(s),
                Cap::WithinStoreHorizon => q.within_horizon(horizon),
            };
        }
        if let Some(s) = self.after {
            q = q.after(s);
        }
        if self.offset > 0 {
            q = q.offset(self.offset);
        }
        if let Some(l) = self.limit {
            q = q.limit(l);
        }
        if self.descending {
            q = q.order(Order::Descending);
        }
        q
    }

    /// What the query returns from `events` (in sequence order), as their sequences.
    pub(crate) fn expected(&self, events: &[Stored], horizon: i64) -> Result<Vec<i64>, Invalid> {
        self.check()?;
        let max = self
            .caps
            .iter()
            .map(|cap| match *cap {
                Cap::UpTo(s) | Cap::Within(s) => s,
                Cap::WithinStoreHorizon => horizon,
            })
            .chain(self.max_sequence)
            .min();
        let mut selected: Vec<i64> = events
            .iter()
            .filter(|(sequence, event)| self.matches(event, *sequence, max))
            .map(|(sequence, _)| *sequence)
            .collect();
        if self.descending {
            selected.reverse();
        }
        let offset = usize::try_from(self.offset).unwrap_or(usize::MAX);
        let limit = self
            .limit
            .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        Ok(selected.into_iter().skip(offset).take(limit).collect())
    }

    /// The documented reasons a query is refused: an extension name that is not one
    /// (lower-case letters a-z and digits only, not a context attribute's name), or an
    /// instant no event's time can be (outside years 0000 to 9999 in UTC).
    fn check(&self) -> Result<(), Invalid> {
        const ATTRIBUTES: [&str; 9] = [
            "id",
            "source",
            "specversion",
            "type",
            "subject",
            "time",
            "datacontenttype",
            "dataschema",
            "data",
        ];
        for (name, value) in &self.extensions {
            let letters = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
            if !letters || ATTRIBUTES.contains(&name.as_str()) {
                return Err(Invalid(format!("extension name {name:?}")));
            }
            if let ExtensionValue::Timestamp(t) = value
                && !holdable(*t)
            {
                return Err(Invalid(format!("extension {name} at {t}")));
            }
        }
        for t in self.time_from.iter().chain(&self.time_to) {
            if !holdable(*t) {
                return Err(Invalid(format!("time bound {t}")));
            }
        }
        Ok(())
    }

    fn matches(&self, e: &Event, sequence: i64, max: Option<i64>) -> bool {
        let among = |list: &Option<Vec<String>>, value: Option<&str>| {
            list.as_ref()
                .is_none_or(|l| value.is_some_and(|v| l.iter().any(|x| x == v)))
        };
        let among_all = |list: &Vec<String>, value: Option<&str>| {
            list.is_empty() || value.is_some_and(|v| list.iter().any(|x| x == v))
        };
        among(&self.types, Some(e.ty()))
            && among(&self.sources, Some(e.source()))
            && among(&self.subjects, e.subject())
            && among(&self.ids, Some(e.id()))
            && among_all(&self.correlation_ids, e.correlationid())
            && among_all(&self.topics, e.topic())
            && among_all(&self.destinations, e.destination())
            && among_all(&self.data_content_types, e.datacontenttype())
            && among_all(&self.data_schemas, e.dataschema())
            && self
                .extensions
                .iter()
                .all(|(name, value)| e.extension(name).is_some_and(|v| same(&v, value)))
            && self
                .time_from
                .is_none_or(|t| e.time().is_some_and(|et| et >= t))
            && self
                .time_to
                .is_none_or(|t| e.time().is_some_and(|et| et < t))
            && self.min_sequence.is_none_or(|m| sequence >= m)
            && max.is_none_or(|m| sequence <= m)
            && self.after.is_none_or(|a| {
                if self.descending {
                    sequence < a
                } else {
                    sequence > a
                }
            })
    }
}

/// What `stream(subject, from)` returns from `events` (in sequence order): the
/// subject's events from stream version `from` on, as `(sequence, stream version)`, the
/// versions counting the subject's events from 1 in sequence order.
pub(crate) fn expected_stream(events: &[Stored], subject: &str, from: i64) -> Vec<(i64, i64)> {
    events
        .iter()
        .filter(|(_, e)| e.subject() == Some(subject))
        .zip(1..)
        .filter(|(_, version)| *version >= from)
        .map(|((sequence, _), version)| (*sequence, version))
        .collect()
}

/// What `get(source, id)` returns from `events`: the sequence of the event with that
/// `(source, id)`.
pub(crate) fn expected_get(events: &[Stored], source: &str, id: &str) -> Option<i64> {
    events
        .iter()
        .find(|(_, e)| e.source() == source && e.id() == id)
        .map(|(sequence, _)| *sequence)
}

/// Whether two extension values are the same value: the same type, and the same text,
/// number, truth, bytes or instant (whatever the offset it is written with).
fn same(a: &ExtensionValue, b: &ExtensionValue) -> bool {
    match (a, b) {
        (ExtensionValue::Timestamp(x), ExtensionValue::Timestamp(y)) => {
            x.checked_to_offset(UtcOffset::UTC) == y.checked_to_offset(UtcOffset::UTC)
        }
        (x, y) => x == y,
    }
}

/// Whether an event's time can be `t`: within years 0000 to 9999 in UTC.
fn holdable(t: OffsetDateTime) -> bool {
    t.checked_to_offset(UtcOffset::UTC)
        .is_some_and(|utc| (0..=9999).contains(&utc.year()))
}
