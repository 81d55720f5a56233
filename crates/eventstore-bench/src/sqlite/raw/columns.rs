//! An event as the values bound to the insert's columns, computed before the clock
//! starts: the baseline pays for the SQL only, the store for everything it does.

use eventstore_core::Event;
use eventstore_core::sql::{DataColumn, data_columns, extensions_column};
use eventstore_core::timestamp::format_fixed;
use rusqlite::types::{ToSqlOutput, ValueRef};

/// The column values of one event, byte for byte what the store binds for it (except
/// `stream_version` and `recorded_at`, which the append computes).
#[derive(Debug, Clone)]
pub(crate) struct Columns {
    /// `id`.
    pub(crate) id: String,
    /// `source`.
    pub(crate) source: String,
    /// `type`.
    pub(crate) ty: String,
    /// `subject`.
    pub(crate) subject: Option<String>,
    /// `time`, in the store's fixed-width text form.
    pub(crate) time: Option<String>,
    /// `datacontenttype`.
    pub(crate) datacontenttype: Option<String>,
    /// `dataschema`.
    pub(crate) dataschema: Option<String>,
    /// `correlationid`.
    pub(crate) correlationid: Option<String>,
    /// `topic`.
    pub(crate) topic: Option<String>,
    /// `destination`.
    pub(crate) destination: Option<String>,
    /// `extensions`, in the store's typed JSON encoding.
    pub(crate) extensions: Option<String>,
    /// `data_kind`.
    pub(crate) data_kind: Option<&'static str>,
    /// `data`: text for JSON and text data, bytes for binary data.
    pub(crate) data: Option<DataValue>,
}

/// The `data` column's value.
#[derive(Debug, Clone)]
pub(crate) enum DataValue {
    /// Stored as TEXT.
    Text(String),
    /// Stored as BLOB.
    Blob(Vec<u8>),
}

impl DataValue {
    /// The value as rusqlite binds it, borrowed.
    pub(crate) fn to_sql(&self) -> ToSqlOutput<'_> {
        match self {
            Self::Text(text) => ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes())),
            Self::Blob(bytes) => ToSqlOutput::Borrowed(ValueRef::Blob(bytes)),
        }
    }
}

impl From<&Event> for Columns {
    fn from(event: &Event) -> Self {
        let data = data_columns(event);
        Self {
            id: event.id().to_owned(),
            source: event.source().to_owned(),
            ty: event.ty().to_owned(),
            subject: event.subject().map(str::to_owned),
            time: event.time().map(format_fixed),
            datacontenttype: event.datacontenttype().map(str::to_owned),
            dataschema: event.dataschema().map(str::to_owned),
            correlationid: event.correlationid().map(str::to_owned),
            topic: event.topic().map(str::to_owned),
            destination: event.destination().map(str::to_owned),
            extensions: extensions_column(event),
            data_kind: data.map(|d| d.kind()),
            data: data.map(|d| match d {
                DataColumn::Json(text) | DataColumn::Text(text) => DataValue::Text(text.to_owned()),
                DataColumn::Binary(bytes) => DataValue::Blob(bytes.to_vec()),
            }),
        }
    }
}
