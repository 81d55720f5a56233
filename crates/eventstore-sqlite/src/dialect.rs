//! SQLite's spelling of the shared query builder, and parameter binding.

use eventstore_core::ExtensionValue;
use eventstore_core::sql::{Binder, Dialect, SqlValue};
use eventstore_core::timestamp::format_fixed;
use rusqlite::types::{ToSqlOutput, Value};

/// The SQLite [`Dialect`]: numbered `?N` placeholders, `IN` lists, extensions read with
/// `json_extract`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SqliteDialect;

/// The columns an [`EventRow`](eventstore_core::sql::EventRow) is read from, in order.
pub(crate) const EVENT_COLUMNS: &str = "sequence, stream_version, recorded_at, id, source, type, \
     subject, time, datacontenttype, dataschema, correlationid, topic, destination, extensions, \
     data_kind, data";

impl Dialect for SqliteDialect {
    fn placeholder(&self, index: usize) -> String {
        format!("?{index}")
    }

    fn event_columns(&self) -> &'static str {
        EVENT_COLUMNS
    }

    /// A short list as `IN (?, ?, …)`, which SQLite plans as index look-ups; a long one
    /// as one JSON array read with `json_each`, as SQLite takes at most 32,766
    /// parameters a statement.
    fn any_of(&self, column: &str, values: &[String], b: &mut Binder<'_>) -> String {
        if values.len() <= LONGEST_IN_LIST {
            let placeholders: Vec<String> = values
                .iter()
                .map(|v| b.bind(SqlValue::Text(v.clone())))
                .collect();
            return format!("{column} IN ({})", placeholders.join(", "));
        }
        let list = b.bind(SqlValue::TextList(values.to_vec()));
        format!("{column} IN (SELECT value FROM json_each({list}))")
    }

    fn extension_equals(&self, name: &str, value: &ExtensionValue, b: &mut Binder<'_>) -> String {
        // The name was validated as [a-z0-9]+, and is bound anyway.
        let path = b.bind(SqlValue::Text(format!("$.{name}.{}", value.kind().tag())));
        let value = match value {
            ExtensionValue::Integer(i) => SqlValue::Int(i64::from(*i)),
            ExtensionValue::Boolean(v) => SqlValue::Int(i64::from(*v)),
            other => SqlValue::Text(other.to_string()),
        };
        format!("json_extract(extensions, {path}) = {}", b.bind(value))
    }

    fn time_probe_rows(&self, _bounded: bool) -> Option<u64> {
        Some(TIME_PROBE_ROWS)
    }
}

/// The most values a filter binds one parameter each; a longer list is one parameter.
const LONGEST_IN_LIST: usize = 1000;

/// How many `(time)` index entries a read with a time range scans for where its first
/// match lies: ~4 ms when the range holds more (the index holds each entry's sequence,
/// ~43 ns an entry on a million events), against a walk of the history before the range
/// without it, which SQLite chooses for such reads, statistics or not (docs/schema.md,
/// "Events since a time").
const TIME_PROBE_ROWS: u64 = 100_000;

/// A query parameter as rusqlite binds it.
pub(crate) fn to_sql(value: &SqlValue) -> ToSqlOutput<'_> {
    match value {
        SqlValue::Int(i) => ToSqlOutput::Owned(Value::Integer(*i)),
        SqlValue::Text(t) => ToSqlOutput::Borrowed(t.as_str().into()),
        SqlValue::Time(t) => ToSqlOutput::Owned(Value::Text(format_fixed(*t))),
        SqlValue::Json(j) => ToSqlOutput::Owned(Value::Text(j.to_string())),
        // A long `IN` list (see `SqliteDialect::any_of`), as a JSON array for
        // `json_each`.
        SqlValue::TextList(list) => ToSqlOutput::Owned(Value::Text(
            serde_json::Value::from(list.clone()).to_string(),
        )),
    }
}
