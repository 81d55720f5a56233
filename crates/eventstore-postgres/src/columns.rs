//! A row of the event columns, whatever the driver: what each column means is decoded
//! here once, for tokio-postgres and for other drivers (eventstore-sqlx) alike.

use std::borrow::Cow;

use eventstore_core::sql::EventRow;
use eventstore_core::timestamp::parse_fixed;
use eventstore_core::{Error, Result, StoredEvent};
use time::OffsetDateTime;

/// One row of the event columns
/// ([`Dialect::event_columns`](eventstore_core::sql::Dialect::event_columns)) as a
/// driver reads it: each method reads column `i` as the SQL type it names, `None` for
/// SQL `NULL`. [`decode_event`] turns it into a [`StoredEvent`].
pub trait EventColumns {
    /// The driver's error for a column it cannot read as asked.
    type Error: std::error::Error + Send + Sync + 'static;

    /// An `int8` column.
    fn int8(&self, i: usize) -> std::result::Result<Option<i64>, Self::Error>;

    /// A `text` column, borrowed from the row.
    fn text(&self, i: usize) -> std::result::Result<Option<&str>, Self::Error>;

    /// A `jsonb` column's JSON text, as the server sends it.
    fn jsonb(&self, i: usize) -> std::result::Result<Option<String>, Self::Error>;

    /// A `bytea` column.
    fn bytea(&self, i: usize) -> std::result::Result<Option<Vec<u8>>, Self::Error>;

    /// A `timestamptz` column.
    fn timestamptz(&self, i: usize) -> std::result::Result<Option<OffsetDateTime>, Self::Error>;
}

/// Decodes a row of the event columns: [`Error::Corrupt`] for a value the store would
/// not have written, [`Error::Database`] for a column the driver cannot read.
pub fn decode_event(row: &impl EventColumns) -> Result<StoredEvent> {
    let sequence = row
        .int8(0)
        .map_err(Error::database)?
        .ok_or_else(|| Error::database("the sequence column is NULL"))?;
    let corrupt = |message: String| Error::Corrupt { sequence, message };
    let text = |i: usize| row.text(i).map_err(Error::database);
    let required = |i: usize, name: &str| -> Result<&str> {
        text(i)?.ok_or_else(|| corrupt(format!("{name} is missing")))
    };
    let json = |i: usize| row.jsonb(i).map_err(Error::database);
    let extensions = json(13)?;
    EventRow {
        sequence,
        stream_version: row.int8(1).map_err(Error::database)?,
        recorded_at: row.timestamptz(2).map_err(Error::database)?,
        id: required(3, "id")?,
        source: required(4, "source")?,
        ty: required(5, "type")?,
        subject: text(6)?,
        time: time_column(sequence, text(7)?)?,
        datacontenttype: text(8)?,
        dataschema: text(9)?,
        correlationid: text(10)?,
        topic: text(11)?,
        destination: text(12)?,
        extensions: extensions.as_deref(),
        data_kind: text(14)?,
        data_text: json(15)?.map(Cow::Owned),
        data_bytes: row.bytea(16).map_err(Error::database)?.map(Cow::Owned),
    }
    .into_stored()
}

/// The `time` column of the row at `sequence`: the fixed-width RFC 3339 text the store
/// writes, or [`Error::Corrupt`].
pub fn time_column(sequence: i64, text: Option<&str>) -> Result<Option<OffsetDateTime>> {
    text.map(|t| {
        parse_fixed(t).ok_or_else(|| Error::Corrupt {
            sequence,
            message: format!("time {t:?} is not RFC 3339"),
        })
    })
    .transpose()
}
