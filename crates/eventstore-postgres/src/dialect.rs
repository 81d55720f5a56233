//! PostgreSQL's spelling of the shared query builder, and parameter binding.

use eventstore_core::ExtensionValue;
use eventstore_core::sql::{Binder, Dialect, SqlValue};
use eventstore_core::timestamp::format_fixed;
use tokio_postgres::types::ToSql;

use crate::types::Jsonb;

/// The PostgreSQL [`Dialect`]: `$n` placeholders, `= ANY($n)` with one array parameter
/// for lists, extensions matched by JSONB containment (`@>`), which the optional GIN
/// index serves.
#[derive(Debug, Clone, Copy, Default)]
pub struct PostgresDialect;

/// The columns an [`EventRow`](eventstore_core::sql::EventRow) is read from, in order.
pub(crate) const EVENT_COLUMNS: &str = "sequence, stream_version, recorded_at, id, source, type, \
     subject, time, datacontenttype, dataschema, correlationid, topic, destination, extensions, \
     data_kind, data, data_bytes";

impl Dialect for PostgresDialect {
    fn placeholder(&self, index: usize) -> String {
        format!("${index}")
    }

    fn event_columns(&self) -> &'static str {
        EVENT_COLUMNS
    }

    fn any_of(&self, column: &str, values: &[String], b: &mut Binder<'_>) -> String {
        // One array parameter: one prepared statement whatever the list's length.
        format!(
            "{column} = ANY({}::text[])",
            b.bind(SqlValue::TextList(values.to_vec()))
        )
    }

    fn extension_equals(&self, name: &str, value: &ExtensionValue, b: &mut Binder<'_>) -> String {
        let mut object = serde_json::Map::new();
        object.insert(name.to_owned(), value.to_tagged_json());
        let param = b.bind(SqlValue::Json(serde_json::Value::Object(object)));
        format!("extensions @> {param}::jsonb")
    }

    fn time_probe_rows(&self, bounded: bool) -> Option<u64> {
        (!bounded).then_some(TIME_PROBE_ROWS)
    }
}

/// How many `(time)` index entries a read of events since a time scans for where its
/// first match lies: ~3.5 ms when the range holds more (each entry's sequence is read
/// from the table, ~0.3 µs an entry on a million events). Planned with its value, such
/// a read is walked from the start of the history whenever `ANALYZE`'s sample puts the
/// start among the newest hundredth of the table (docs/schema.md, "Query plans on
/// 1,000,000 rows"); with the bound, a start with fewer matches than this is read from
/// its first match, whatever the statistics. A range with an end is read from `(time)`
/// by the generic plan already.
const TIME_PROBE_ROWS: u64 = 10_000;

/// A query parameter as tokio-postgres binds it.
pub(crate) fn to_sql(value: &SqlValue) -> Box<dyn ToSql + Send + Sync> {
    match value {
        SqlValue::Int(i) => Box::new(*i),
        SqlValue::Text(t) => Box::new(t.clone()),
        // `time` is stored in the fixed-width text form: nanoseconds kept, text order
        // is time order (the column is COLLATE "C").
        SqlValue::Time(t) => Box::new(format_fixed(*t)),
        SqlValue::Json(j) => Box::new(Jsonb::owned(j.to_string())),
        SqlValue::TextList(list) => Box::new(list.clone()),
    }
}
