//! The query builder: an [`EventQuery`] becomes SQL text plus bound parameters.

use std::borrow::Cow;

use time::OffsetDateTime;

use super::{Dialect, TableName, text};
use crate::error::Result;
use crate::extension::ExtensionValue;
use crate::query::{EventQuery, Order, is_column_extension};

/// A parameter value, converted to the driver's type by the backend.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// An integer.
    Int(i64),
    /// Text.
    Text(String),
    /// An instant (the backend decides its column representation).
    Time(OffsetDateTime),
    /// A JSON document.
    Json(serde_json::Value),
    /// A list of texts, bound as one array parameter by backends whose
    /// [`Dialect::any_of`] uses it (PostgreSQL's `= ANY($n)`).
    TextList(Vec<String>),
}

/// SQL text and its parameters, in placeholder order.
#[derive(Debug, Clone, PartialEq)]
pub struct Sql {
    /// The statement.
    pub text: String,
    /// The values of its placeholders.
    pub params: Vec<SqlValue>,
}

/// Collects parameters and hands out their placeholders.
pub struct Binder<'d> {
    dialect: &'d dyn Dialect,
    params: Vec<SqlValue>,
}

impl<'d> Binder<'d> {
    fn new(dialect: &'d dyn Dialect) -> Self {
        Self {
            dialect,
            params: Vec::new(),
        }
    }

    /// Adds a parameter and returns its placeholder.
    pub fn bind(&mut self, value: SqlValue) -> String {
        self.params.push(value);
        self.dialect.placeholder(self.params.len())
    }

    fn finish(self, text: String) -> Sql {
        Sql {
            text,
            params: self.params,
        }
    }
}

/// The `SELECT` for an [`EventQuery`], reading at most `page` rows when given (the
/// smaller of it and the query's own limit).
pub fn select_events(
    dialect: &dyn Dialect,
    table: &TableName,
    query: &EventQuery,
    page: Option<u64>,
) -> Result<Sql> {
    query.check()?;
    let mut b = Binder::new(dialect);
    let mut conditions = Vec::new();
    let lists = [
        ("type", &query.types),
        ("source", &query.sources),
        ("subject", &query.subjects),
        ("correlationid", &query.correlation_ids),
        ("topic", &query.topics),
        ("destination", &query.destinations),
    ];
    // Filters no index serves on its own: they narrow, but leave the read's walk as is.
    let unindexed = [
        ("id", &query.ids),
        ("datacontenttype", &query.data_content_types),
        ("dataschema", &query.data_schemas),
    ];
    let narrowed = query.filters_indexed_attribute();
    for (column, values) in lists.into_iter().chain(unindexed) {
        let Some(values) = values.as_deref() else {
            continue;
        };
        let held = held_by_events(values);
        match held.as_ref() {
            [] => conditions.push("1 = 0".to_owned()),
            [one] => conditions.push(format!(
                "{column} = {}",
                b.bind(SqlValue::Text(one.clone()))
            )),
            many => conditions.push(dialect.any_of(column, many, &mut b)),
        }
    }
    for (name, value) in &query.extensions {
        let nul = match value {
            ExtensionValue::String(s) | ExtensionValue::Uri(s) | ExtensionValue::UriRef(s) => {
                !text::is_storable(s)
            }
            _ => false,
        };
        if nul {
            conditions.push("1 = 0".to_owned());
        } else if is_column_extension(name) {
            // Kept in their own columns, never in `extensions`, and always strings: a
            // value of another type matches nothing, as it would in `extensions`.
            conditions.push(match value {
                ExtensionValue::String(s) => {
                    format!("{name} = {}", b.bind(SqlValue::Text(s.clone())))
                }
                _ => "1 = 0".to_owned(),
            });
        } else {
            conditions.push(dialect.extension_equals(name, value, &mut b));
        }
    }
    let mut range = Vec::new();
    if let Some(from) = query.time_from {
        range.push(format!("time >= {}", b.bind(SqlValue::Time(from))));
    }
    if let Some(to) = query.time_to {
        range.push(format!("time < {}", b.bind(SqlValue::Time(to))));
    }
    let probe = (!narrowed)
        .then(|| first_match_probe(&mut b, table, query, &range.join(" AND ")))
        .flatten();
    conditions.extend(range);
    conditions.extend(probe);
    if let Some(min) = query.min_sequence {
        conditions.push(format!("sequence >= {}", b.bind(SqlValue::Int(min))));
    }
    if let Some(max) = query.max_sequence {
        conditions.push(format!("sequence <= {}", b.bind(SqlValue::Int(max))));
    }
    let direction = match query.order {
        Order::Ascending => "ASC",
        Order::Descending => "DESC",
    };
    if let Some(after) = query.after {
        let op = if query.order == Order::Ascending {
            ">"
        } else {
            "<"
        };
        conditions.push(format!("sequence {op} {}", b.bind(SqlValue::Int(after))));
    }
    let mut text = select_from(dialect, table, 64);
    if !conditions.is_empty() {
        text.push_str(" WHERE ");
        text.push_str(&conditions.join(" AND "));
    }
    text.push_str(" ORDER BY sequence ");
    text.push_str(direction);
    let limit = match (query.limit, page) {
        (Some(l), Some(p)) => Some(l.min(p)),
        (l, p) => l.or(p),
    };
    push_limit(&mut text, &mut b, limit, query.offset);
    Ok(b.finish(text))
}

/// For a read in ascending sequence order from its start (no `after`) with a time
/// start, whose time `range` condition is already bound, on a dialect with
/// [`Dialect::time_probe_rows`]: a lower bound on the sequence of its first match,
/// found in the `(time)` index. The caller leaves it out for reads filtered on an
/// indexed attribute.
///
/// A planner reads `time >= $from ORDER BY sequence LIMIT n` by walking the table in
/// sequence order and checking each event's time, as it assumes the matches are spread
/// evenly through it; in an event store they lie at its end, so a read of the last
/// hour walks the whole history first (0.2 s on a million events in SQLite). The bound
/// scans the range's entries of the `(time)` index, in time order, up to the dialect's
/// count. If the range holds fewer, the lowest sequence among them is exactly where
/// the walk can start, as every match of the read is among them (past every sequence
/// when there is none); if it holds more, the bound is 0 and the read walks as before.
/// So a range of up to that many events is read from where it lies, and any other
/// read pays for scanning that many index entries. A read filtered on an indexed
/// attribute (a type, a subject, ...) walks that attribute's index instead, which the
/// bound would not shorten by much; a keyset page (`after`) walks from its position,
/// which is where its matches are.
fn first_match_probe(
    b: &mut Binder<'_>,
    table: &TableName,
    query: &EventQuery,
    range: &str,
) -> Option<String> {
    query.time_from?;
    let rows = b.dialect.time_probe_rows(query.time_to.is_some())?;
    if query.order != Order::Ascending || query.after.is_some() {
        return None;
    }
    let rows = b.bind(SqlValue::Int(i64::try_from(rows).unwrap_or(i64::MAX)));
    let none = b.bind(SqlValue::Int(i64::MAX));
    Some(format!(
        "sequence >= (SELECT CASE WHEN COUNT(*) < {rows} THEN COALESCE(MIN(sequence), {none}) \
         ELSE 0 END FROM (SELECT sequence FROM {} WHERE {range} ORDER BY time LIMIT {rows}) AS probe)",
        table.quoted()
    ))
}

/// The values of a filter list that an event can hold: all of them but those holding
/// U+0000, which no event holds (CloudEvents strings exclude control characters) and
/// PostgreSQL's `text` cannot even take as a parameter; such a value matches nothing.
fn held_by_events(values: &[String]) -> Cow<'_, [String]> {
    if values.iter().all(|v| text::is_storable(v)) {
        Cow::Borrowed(values)
    } else {
        Cow::Owned(
            values
                .iter()
                .filter(|v| text::is_storable(v))
                .cloned()
                .collect(),
        )
    }
}

/// `WHERE` for a lookup by text `values` (`column = value` each, joined by `AND`), or
/// one that matches nothing when a value holds U+0000, which no event holds.
fn where_equal(b: &mut Binder<'_>, sql: &mut String, values: &[(&str, &str)]) {
    if values.iter().any(|(_, v)| !text::is_storable(v)) {
        sql.push_str(" WHERE 1 = 0");
        return;
    }
    for (i, (column, value)) in values.iter().enumerate() {
        sql.push_str(if i == 0 { " WHERE " } else { " AND " });
        sql.push_str(column);
        sql.push_str(" = ");
        sql.push_str(&b.bind(SqlValue::Text((*value).to_owned())));
    }
}

/// The `SELECT` of a subject's stream from `from_version` on, in stream-version order,
/// at most `page` rows.
pub fn select_stream(
    dialect: &dyn Dialect,
    table: &TableName,
    subject: &str,
    from_version: i64,
    page: Option<u64>,
) -> Sql {
    let mut b = Binder::new(dialect);
    let mut text = select_from(dialect, table, 96);
    where_equal(&mut b, &mut text, &[("subject", subject)]);
    let from = b.bind(SqlValue::Int(from_version));
    for part in [
        " AND stream_version >= ",
        &from,
        " ORDER BY stream_version ASC",
    ] {
        text.push_str(part);
    }
    push_limit(&mut text, &mut b, page, 0);
    b.finish(text)
}

/// The `SELECT` of one event by `(source, id)`.
pub fn select_by_id(dialect: &dyn Dialect, table: &TableName, source: &str, id: &str) -> Sql {
    let mut b = Binder::new(dialect);
    let mut text = select_from(dialect, table, 32);
    where_equal(&mut b, &mut text, &[("source", source), ("id", id)]);
    b.finish(text)
}

/// `SELECT <event columns> FROM <table>`, with room for `more` bytes after it. Built
/// with one allocation: `format!` grows its string several times over the long column
/// list, which made up an eighth of a SQLite `get`'s instructions.
fn select_from(dialect: &dyn Dialect, table: &TableName, more: usize) -> String {
    let columns = dialect.event_columns();
    let table = table.quoted();
    let mut text = String::with_capacity(columns.len() + table.len() + 13 + more);
    for part in ["SELECT ", columns, " FROM ", &table] {
        text.push_str(part);
    }
    text
}

fn push_limit(text: &mut String, b: &mut Binder<'_>, limit: Option<u64>, offset: u64) {
    // Both databases take LIMIT and OFFSET as signed 64-bit values.
    let clamp = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    // An OFFSET needs a LIMIT in SQLite; the largest one means "no limit" everywhere.
    let limit = limit.or((offset > 0).then_some(u64::MAX));
    if let Some(limit) = limit {
        text.push_str(&format!(" LIMIT {}", b.bind(SqlValue::Int(clamp(limit)))));
    }
    if offset > 0 {
        text.push_str(&format!(" OFFSET {}", b.bind(SqlValue::Int(clamp(offset)))));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::extension::ExtensionValue;

    struct Numbered;

    impl Dialect for Numbered {
        fn placeholder(&self, index: usize) -> String {
            format!("?{index}")
        }
        fn event_columns(&self) -> &'static str {
            "*"
        }
        fn extension_equals(
            &self,
            name: &str,
            value: &ExtensionValue,
            b: &mut Binder<'_>,
        ) -> String {
            let v = b.bind(SqlValue::Text(value.to_string()));
            format!("ext({name}) = {v}")
        }
    }

    #[test]
    fn every_value_is_bound() {
        let table = TableName::new("events").unwrap();
        let query = EventQuery::new()
            .types(["a", "b'; DROP TABLE events; --"])
            .subject("s")
            .extension("ext", "v")
            .min_sequence(5)
            .after(10)
            .order(Order::Descending)
            .limit(20)
            .offset(3);
        let sql = select_events(&Numbered, &table, &query, Some(7)).unwrap();
        assert_eq!(
            sql.text,
            "SELECT * FROM \"events\" WHERE type IN (?1, ?2) AND subject = ?3 AND ext(ext) = ?4 \
             AND sequence >= ?5 AND sequence < ?6 ORDER BY sequence DESC LIMIT ?7 OFFSET ?8"
        );
        assert_eq!(sql.params.len(), 8);
        assert_eq!(sql.params[6], SqlValue::Int(7));
        assert!(!sql.text.contains("DROP"));
    }

    /// [`Numbered`] with a time probe of 7 rows for ranges without an end.
    struct Probing;

    impl Dialect for Probing {
        fn placeholder(&self, index: usize) -> String {
            Numbered.placeholder(index)
        }
        fn event_columns(&self) -> &'static str {
            "*"
        }
        fn extension_equals(&self, n: &str, v: &ExtensionValue, b: &mut Binder<'_>) -> String {
            Numbered.extension_equals(n, v, b)
        }
        fn time_probe_rows(&self, bounded: bool) -> Option<u64> {
            (!bounded).then_some(7)
        }
    }

    #[test]
    fn a_time_start_is_probed_only_where_it_bounds_the_walk() {
        let table = TableName::default();
        let at = OffsetDateTime::UNIX_EPOCH;
        let since = EventQuery::new().time_from(at).limit(10);
        let sql = select_events(&Probing, &table, &since, None).unwrap();
        assert_eq!(
            sql.text,
            "SELECT * FROM \"events\" WHERE time >= ?1 AND sequence >= (SELECT CASE WHEN \
             COUNT(*) < ?2 THEN COALESCE(MIN(sequence), ?3) ELSE 0 END FROM (SELECT sequence \
             FROM \"events\" WHERE time >= ?1 ORDER BY time LIMIT ?2) AS probe) \
             ORDER BY sequence ASC LIMIT ?4"
        );
        assert_eq!(
            sql.params,
            [
                SqlValue::Time(at),
                SqlValue::Int(7),
                SqlValue::Int(i64::MAX),
                SqlValue::Int(10)
            ]
        );
        // Not where the walk starts elsewhere, or the dialect does not probe.
        for query in [
            since.clone().after(3),
            since.clone().order(Order::Descending),
            since.clone().ty("a"),
            since.clone().subject("s"),
            since.clone().time_to(at),
            EventQuery::new().time_to(at),
        ] {
            let sql = select_events(&Probing, &table, &query, None).unwrap();
            assert!(!sql.text.contains("probe"), "{query:?}: {}", sql.text);
        }
        let plain = select_events(&Numbered, &table, &since, None).unwrap();
        assert!(!plain.text.contains("probe"));
    }

    #[test]
    fn invalid_extension_names_are_refused() {
        let table = TableName::default();
        let query = EventQuery::new().extension("x') OR 1=1 --", "v");
        assert!(matches!(
            select_events(&Numbered, &table, &query, None),
            Err(Error::InvalidQuery(_))
        ));
    }

    #[test]
    fn the_three_column_extensions_are_filtered_by_their_columns() {
        let table = TableName::default();
        let query = EventQuery::new()
            .extension("topic", "orders")
            .extension("correlationid", 7)
            .extension("destination", ExtensionValue::Uri("https://d".into()))
            .extension("region", "eu")
            .time_from(OffsetDateTime::UNIX_EPOCH);
        let sql = select_events(&Probing, &table, &query, None).unwrap();
        assert_eq!(
            sql.text,
            "SELECT * FROM \"events\" WHERE topic = ?1 AND 1 = 0 AND 1 = 0 AND ext(region) = ?2 \
             AND time >= ?3 ORDER BY sequence ASC"
        );
        assert_eq!(sql.params[0], SqlValue::Text("orders".into()));
    }

    #[test]
    fn times_no_event_can_hold_are_refused() {
        let table = TableName::default();
        // 9999-12-31T23:30:00-01:00: year 10000 in UTC, past the `time` crate's range.
        let late = time::PrimitiveDateTime::new(
            time::Date::from_calendar_date(9999, time::Month::December, 31).unwrap(),
            time::Time::from_hms(23, 30, 0).unwrap(),
        )
        .assume_offset(time::UtcOffset::from_hms(-1, 0, 0).unwrap());
        for query in [
            EventQuery::new().time_from(late),
            EventQuery::new().time_to(late),
            EventQuery::new().extension("when", late),
        ] {
            assert!(
                matches!(
                    select_events(&Numbered, &table, &query, None),
                    Err(Error::InvalidQuery(_))
                ),
                "{query:?}"
            );
        }
    }

    #[test]
    fn empty_lists_match_nothing_and_offsets_need_a_limit() {
        let table = TableName::default();
        let query = EventQuery::new().types(Vec::<String>::new()).offset(2);
        let sql = select_events(&Numbered, &table, &query, None).unwrap();
        assert_eq!(
            sql.text,
            "SELECT * FROM \"events\" WHERE 1 = 0 ORDER BY sequence ASC LIMIT ?1 OFFSET ?2"
        );
        assert_eq!(sql.params[0], SqlValue::Int(i64::MAX));
    }
}
