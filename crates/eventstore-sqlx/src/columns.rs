//! Binding and reading the store's columns with sqlx: the few conversions sqlx lacks
//! without its `json` feature, and a row of the event columns read through the
//! PostgreSQL backend's decoder.

use eventstore_core::sql::SqlValue;
use eventstore_core::timestamp::format_fixed;
use eventstore_core::{Result, StoredEvent};
use eventstore_postgres::statements::{EventColumns, decode_event};
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArguments, PgRow, PgTypeInfo, PgValueFormat, PgValueRef};
use sqlx::query::Query;
use sqlx::{Decode, Postgres, Row as _, Type, TypeInfo as _, ValueRef as _};

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

/// A sqlx row of the event columns, read through the PostgreSQL backend's decoder.
pub(crate) struct EventRow<'r>(pub(crate) &'r PgRow);

impl EventColumns for EventRow<'_> {
    type Error = sqlx::Error;

    fn int8(&self, i: usize) -> std::result::Result<Option<i64>, Self::Error> {
        self.0.try_get(i)
    }

    fn text(&self, i: usize) -> std::result::Result<Option<&str>, Self::Error> {
        self.0.try_get(i)
    }

    fn jsonb(&self, i: usize) -> std::result::Result<Option<String>, Self::Error> {
        Ok(self.0.try_get::<Option<JsonText>, _>(i)?.map(|j| j.0))
    }

    fn bytea(&self, i: usize) -> std::result::Result<Option<Vec<u8>>, Self::Error> {
        self.0.try_get(i)
    }

    fn timestamptz(
        &self,
        i: usize,
    ) -> std::result::Result<Option<time::OffsetDateTime>, Self::Error> {
        self.0.try_get(i)
    }
}

/// Reads one row of the event columns
/// ([`Dialect::event_columns`](eventstore_core::sql::Dialect::event_columns)).
pub(crate) fn event_row(row: &PgRow) -> Result<StoredEvent> {
    decode_event(&EventRow(row))
}
