//! Binding and reading the store's columns with sqlx: the few conversions sqlx lacks
//! without its `json` feature, and a row of the event columns as an [`EventRow`].

use eventstore_core::sql::{EventRow, SqlValue};
use eventstore_core::timestamp::format_fixed;
use eventstore_core::{Result, StoredEvent};
use eventstore_postgres::statements::time_column;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArguments, PgRow, PgTypeInfo, PgValueFormat, PgValueRef};
use sqlx::query::Query;
use sqlx::{Decode, Postgres, Row as _, Type, TypeInfo as _, ValueRef as _};

use crate::error::db;

/// JSON text read from a `json` or `jsonb` column (the store keeps JSON as text: what
/// the server sends, unparsed).
pub(crate) struct JsonText(pub(crate) String);

impl Type<Postgres> for JsonText {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_name("jsonb")
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        ty.name().eq_ignore_ascii_case("jsonb") || ty.name().eq_ignore_ascii_case("json")
    }
}

impl<'r> Decode<'r, Postgres> for JsonText {
    fn decode(value: PgValueRef<'r>) -> std::result::Result<Self, BoxDynError> {
        let binary_jsonb =
            value.format() == PgValueFormat::Binary && value.type_info().name() == "JSONB";
        let raw = value.as_bytes()?;
        let raw = if binary_jsonb {
            match raw.split_first() {
                Some((1, rest)) => rest,
                _ => return Err("unsupported jsonb format version".into()),
            }
        } else {
            raw
        };
        Ok(Self(std::str::from_utf8(raw)?.to_owned()))
    }
}

/// Binds one parameter of the shared query builder, as the PostgreSQL backend does:
/// `time` in the fixed-width text form, JSON as text (the builder's SQL casts it to
/// `jsonb`), lists as one `text[]`.
pub(crate) fn bind<'q>(
    query: Query<'q, Postgres, PgArguments>,
    value: &SqlValue,
) -> Query<'q, Postgres, PgArguments> {
    match value {
        SqlValue::Int(i) => query.bind(*i),
        SqlValue::Text(t) => query.bind(t.clone()),
        SqlValue::Time(t) => query.bind(format_fixed(*t)),
        SqlValue::Json(j) => query.bind(j.to_string()),
        SqlValue::TextList(list) => query.bind(list.clone()),
    }
}

/// Reads one row of the event columns
/// ([`Dialect::event_columns`](eventstore_core::sql::Dialect::event_columns)).
pub(crate) fn event_row(row: &PgRow) -> Result<StoredEvent> {
    let sequence: i64 = row.try_get(0).map_err(db)?;
    let text = |i: usize| -> Result<Option<String>> { row.try_get(i).map_err(db) };
    let json = |i: usize| -> Result<Option<String>> {
        Ok(row
            .try_get::<Option<JsonText>, _>(i)
            .map_err(db)?
            .map(|j| j.0))
    };
    EventRow {
        sequence,
        stream_version: row.try_get(1).map_err(db)?,
        recorded_at: row.try_get(2).map_err(db)?,
        id: row.try_get(3).map_err(db)?,
        source: row.try_get(4).map_err(db)?,
        ty: row.try_get(5).map_err(db)?,
        subject: text(6)?,
        time: time_column(sequence, row.try_get(7).map_err(db)?)?,
        datacontenttype: text(8)?,
        dataschema: text(9)?,
        correlationid: text(10)?,
        topic: text(11)?,
        destination: text(12)?,
        extensions: json(13)?,
        data_kind: text(14)?,
        data_text: json(15)?,
        data_bytes: row.try_get(16).map_err(db)?,
    }
    .into_stored()
}
