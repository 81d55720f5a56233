//! What to read: [`EventQuery`] and its builder.

use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::extension::ExtensionValue;
use crate::timestamp;
use crate::validate::is_extension_name;

/// The order of a query's results by sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Oldest first.
    #[default]
    Ascending,
    /// Newest first.
    Descending,
}

/// A query over the store: filters (all of which must hold), order, and paging.
///
/// Filters that take several values match any of them (`types(["a", "b"])` is
/// `type IN ('a', 'b')`); an empty list matches nothing. The time range is half-open
/// (`from` inclusive, `to` exclusive); events without `time` never match a time range.
/// The sequence range is inclusive. A range that holds nothing (a time range whose
/// `from` is at or after its `to`, a sequence range whose minimum is above its maximum)
/// matches nothing, as an empty list does, rather than failing: readers narrow a
/// caller's range ([`up_to`](Self::up_to)) and may narrow it to nothing. For large
/// tables page with [`after`](Self::after) (keyset) rather than [`offset`](Self::offset).
///
/// Every CloudEvents attribute can be filtered on (`specversion` aside: every stored
/// event is 1.0). Indexes serve the type, source, subject, `correlationid`, `topic`,
/// `destination`, time and sequence filters (and extension filters on PostgreSQL with
/// its optional index); an `id`, `datacontenttype` or `dataschema` filter narrows a read
/// served by those, and on its own reads the table in sequence order. To read one event
/// by its `(source, id)`, use [`EventStore::get`](crate::EventStore::get); `source`
/// together with `id` is index-served too.
///
/// ```
/// use eventstore_core::{EventQuery, Order};
///
/// let query = EventQuery::new()
///     .ty("com.example.order.created")
///     .subject("order-42")
///     .order(Order::Descending)
///     .limit(10);
/// assert_eq!(query.limit_value(), Some(10));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[must_use]
pub struct EventQuery {
    pub(crate) types: Option<Vec<String>>,
    pub(crate) sources: Option<Vec<String>>,
    pub(crate) subjects: Option<Vec<String>>,
    pub(crate) correlation_ids: Option<Vec<String>>,
    pub(crate) topics: Option<Vec<String>>,
    pub(crate) destinations: Option<Vec<String>>,
    pub(crate) ids: Option<Vec<String>>,
    pub(crate) data_content_types: Option<Vec<String>>,
    pub(crate) data_schemas: Option<Vec<String>>,
    pub(crate) extensions: Vec<(String, ExtensionValue)>,
    pub(crate) time_from: Option<OffsetDateTime>,
    pub(crate) time_to: Option<OffsetDateTime>,
    pub(crate) min_sequence: Option<i64>,
    pub(crate) max_sequence: Option<i64>,
    pub(crate) after: Option<i64>,
    pub(crate) limit: Option<u64>,
    pub(crate) offset: u64,
    pub(crate) order: Order,
    pub(crate) within_horizon: bool,
}

fn push(list: &mut Option<Vec<String>>, values: impl IntoIterator<Item = impl Into<String>>) {
    list.get_or_insert_with(Vec::new)
        .extend(values.into_iter().map(Into::into));
}

impl EventQuery {
    /// A query for every event, oldest first.
    pub fn new() -> Self {
        Self::default()
    }

    /// Events of this `type` (adds to any types already given).
    pub fn ty(mut self, ty: impl Into<String>) -> Self {
        push(&mut self.types, [ty]);
        self
    }

    /// Events of any of these types.
    pub fn types(mut self, types: impl IntoIterator<Item = impl Into<String>>) -> Self {
        push(&mut self.types, types);
        self
    }

    /// Events from this `source`.
    pub fn source(mut self, source: impl Into<String>) -> Self {
        push(&mut self.sources, [source]);
        self
    }

    /// Events from any of these sources.
    pub fn sources(mut self, sources: impl IntoIterator<Item = impl Into<String>>) -> Self {
        push(&mut self.sources, sources);
        self
    }

    /// Events about this `subject`.
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        push(&mut self.subjects, [subject]);
        self
    }

    /// Events about any of these subjects.
    pub fn subjects(mut self, subjects: impl IntoIterator<Item = impl Into<String>>) -> Self {
        push(&mut self.subjects, subjects);
        self
    }

    /// Events with this `correlationid`.
    pub fn correlation_id(mut self, id: impl Into<String>) -> Self {
        push(&mut self.correlation_ids, [id]);
        self
    }

    /// Events with this `topic`.
    pub fn topic(mut self, topic: impl Into<String>) -> Self {
        push(&mut self.topics, [topic]);
        self
    }

    /// Events with this `destination`.
    pub fn destination(mut self, destination: impl Into<String>) -> Self {
        push(&mut self.destinations, [destination]);
        self
    }

    /// Events with this `id` (adds to any ids already given).
    pub fn id(mut self, id: impl Into<String>) -> Self {
        push(&mut self.ids, [id]);
        self
    }

    /// Events with any of these ids.
    pub fn ids(mut self, ids: impl IntoIterator<Item = impl Into<String>>) -> Self {
        push(&mut self.ids, ids);
        self
    }

    /// Events whose `datacontenttype` is exactly this text (`application/json` does not
    /// match `application/json; charset=utf-8`); events without one never match.
    pub fn data_content_type(mut self, media_type: impl Into<String>) -> Self {
        push(&mut self.data_content_types, [media_type]);
        self
    }

    /// Events whose `dataschema` is exactly this URI; events without one never match.
    pub fn data_schema(mut self, uri: impl Into<String>) -> Self {
        push(&mut self.data_schemas, [uri]);
        self
    }

    /// Events whose extension `name` equals `value`, type included (as
    /// [`Event::extension`](crate::Event::extension) returns it): `correlationid`,
    /// `topic` and `destination` included, which are strings, so a value of another
    /// type matches nothing. A name that is not an extension name, or a timestamp
    /// outside years 0000 to 9999 in UTC, makes the query fail with
    /// [`Error::InvalidQuery`](crate::Error::InvalidQuery).
    pub fn extension(mut self, name: impl Into<String>, value: impl Into<ExtensionValue>) -> Self {
        self.extensions.push((name.into(), value.into()));
        self
    }

    /// Events whose `time` is at or after `from`. An instant outside years 0000 to 9999
    /// in UTC, which no event's time can be, makes the query fail with
    /// [`Error::InvalidQuery`](crate::Error::InvalidQuery).
    pub fn time_from(mut self, from: OffsetDateTime) -> Self {
        self.time_from = Some(from);
        self
    }

    /// Events whose `time` is before `to`; refused as [`time_from`](Self::time_from)
    /// refuses an instant outside years 0000 to 9999 in UTC.
    pub fn time_to(mut self, to: OffsetDateTime) -> Self {
        self.time_to = Some(to);
        self
    }

    /// Events whose sequence is at least `min`.
    pub fn min_sequence(mut self, min: i64) -> Self {
        self.min_sequence = Some(min);
        self
    }

    /// Events whose sequence is at most `max`.
    pub fn max_sequence(mut self, max: i64) -> Self {
        self.max_sequence = Some(max);
        self
    }

    /// Whether a store can run the query: every [`extension`](Self::extension) filter
    /// names an extension, and every instant is within years 0000 to 9999 in UTC.
    /// Otherwise [`Error::InvalidQuery`] saying which filter is wrong. Every read checks
    /// this before it touches the database; call it to refuse a query built from user
    /// input before opening a store, or before following one
    /// ([`follow`](crate::follow) refuses such a query at once this way).
    pub fn check(&self) -> Result<()> {
        for (name, value) in &self.extensions {
            if !is_extension_name(name) {
                return Err(Error::InvalidQuery(format!(
                    "extension name {name:?} is not valid: use only lower-case letters a-z and \
                     digits 0-9, and not a name the specification reserves (id, source, type, …)"
                )));
            }
            if let ExtensionValue::Timestamp(t) = value {
                representable(*t, name)?;
            }
        }
        if let Some(from) = self.time_from {
            representable(from, "time_from")?;
        }
        if let Some(to) = self.time_to {
            representable(to, "time_to")?;
        }
        Ok(())
    }

    /// The same filters, oldest first, with no limit, offset or `after`: what a reader
    /// that orders and pages the events itself keeps of a caller's query (a follower, a
    /// relay, a projection's run and rebuild).
    pub fn filters_only(self) -> Self {
        Self {
            order: Order::Ascending,
            limit: None,
            offset: 0,
            after: None,
            ..self
        }
    }

    /// Events whose sequence is at most `sequence`, keeping a smaller maximum already
    /// set: how a reader bounds a query to a safe horizon.
    pub fn up_to(mut self, sequence: i64) -> Self {
        self.max_sequence = Some(self.max_sequence.map_or(sequence, |m| m.min(sequence)));
        self
    }

    /// Events whose sequence is at most `horizon`, a safe horizon just read from the
    /// same store ([`EventStore::horizon`](crate::EventStore::horizon)): like
    /// [`up_to`](Self::up_to), and the store does not bound the query by a horizon of its
    /// own. A reader that moves past `horizon` once the read ends needs this: a second
    /// horizon, read later, can be lower (a writer's horizon lock can appear after a
    /// later append committed), and moving past what that lower bound left out would
    /// skip events. [`follow`](crate::follow) reads this way, and so do projection
    /// rebuilds. A backend serves such a read in pages, holding no pooled connection
    /// while the reader's consumer handles events (it may need one to apply them).
    pub fn within_horizon(self, horizon: i64) -> Self {
        let mut query = self.up_to(horizon);
        query.within_horizon = true;
        query
    }

    /// Whether [`within_horizon`](Self::within_horizon) bounded this query already.
    pub fn is_within_horizon(&self) -> bool {
        self.within_horizon
    }

    /// Events strictly after `sequence` in the query's order: greater for ascending,
    /// smaller for descending. Pass the last sequence of one page to get the next.
    pub fn after(mut self, sequence: i64) -> Self {
        self.after = Some(sequence);
        self
    }

    /// At most `limit` events (`limit(0)`: none; it is not an error).
    pub fn limit(mut self, limit: u64) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Skips the first `offset` matching events.
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = offset;
        self
    }

    /// Sets the order.
    pub fn order(mut self, order: Order) -> Self {
        self.order = order;
        self
    }

    /// The `type` filter, if any.
    pub fn type_filter(&self) -> Option<&[String]> {
        self.types.as_deref()
    }

    /// The `source` filter, if any.
    pub fn source_filter(&self) -> Option<&[String]> {
        self.sources.as_deref()
    }

    /// The `subject` filter, if any.
    pub fn subject_filter(&self) -> Option<&[String]> {
        self.subjects.as_deref()
    }

    /// The `correlationid` filter, if any.
    pub fn correlation_id_filter(&self) -> Option<&[String]> {
        self.correlation_ids.as_deref()
    }

    /// Whether the query filters on an attribute the event table indexes with the
    /// sequence: `type`, `source`, `subject`, `correlationid`, `topic` or `destination`
    /// (as a list, or for the last three as an [`extension`](Self::extension) filter).
    /// How many events one such value selects varies widely from value to value (a type
    /// held by half the table, another by ten events), so a backend may plan such reads
    /// with their values rather than once for any value.
    pub fn filters_indexed_attribute(&self) -> bool {
        [
            &self.types,
            &self.sources,
            &self.subjects,
            &self.correlation_ids,
            &self.topics,
            &self.destinations,
        ]
        .iter()
        .any(|values| values.is_some())
            || self
                .extensions
                .iter()
                .any(|(name, _)| is_column_extension(name))
    }

    /// The extension filters.
    pub fn extension_filters(&self) -> &[(String, ExtensionValue)] {
        &self.extensions
    }

    /// The time range's bounds.
    pub fn time_range(&self) -> (Option<OffsetDateTime>, Option<OffsetDateTime>) {
        (self.time_from, self.time_to)
    }

    /// The inclusive sequence range's bounds (`min_sequence`, `max_sequence`).
    pub fn sequence_range(&self) -> (Option<i64>, Option<i64>) {
        (self.min_sequence, self.max_sequence)
    }

    /// The `after` position, if any.
    pub fn after_value(&self) -> Option<i64> {
        self.after
    }

    /// The limit, if any.
    pub fn limit_value(&self) -> Option<u64> {
        self.limit
    }

    /// The offset.
    pub fn offset_value(&self) -> u64 {
        self.offset
    }

    /// The order.
    pub fn order_value(&self) -> Order {
        self.order
    }
}

/// Whether the extension `name` is one of the three the event table keeps in columns
/// of their own (indexed, as their [`EventQuery`] filters use them).
pub(crate) fn is_column_extension(name: &str) -> bool {
    matches!(name, "correlationid" | "topic" | "destination")
}

/// Refuses an instant no event can hold, outside years 0000 to 9999 in UTC: the store
/// could not write it in the form it compares times in.
fn representable(time: OffsetDateTime, what: &str) -> Result<()> {
    if timestamp::is_representable(time) {
        Ok(())
    } else {
        Err(Error::InvalidQuery(format!(
            "{what} {time} is outside the years 0000 to 9999 in UTC that a time can have"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn up_to_keeps_the_smaller_maximum() {
        assert_eq!(
            EventQuery::new().up_to(10).sequence_range(),
            (None, Some(10))
        );
        assert_eq!(
            EventQuery::new().max_sequence(5).up_to(10).sequence_range(),
            (None, Some(5))
        );
        assert_eq!(
            EventQuery::new()
                .max_sequence(50)
                .up_to(10)
                .sequence_range(),
            (None, Some(10))
        );
    }
}
