//! The column encoding of an event, shared by the SQL backends: what goes into each
//! column on append, and how a row becomes a [`StoredEvent`] again.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use crate::data::{Data, Json};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::extension::ExtensionValue;
use crate::stored::StoredEvent;

/// An event's data as its columns hold it: a `data_kind` tag (`json`, `text` or
/// `binary`) and the content as text (JSON, text) or bytes (binary).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataColumn<'a> {
    /// JSON text.
    Json(&'a str),
    /// Text.
    Text(&'a str),
    /// Bytes.
    Binary(&'a [u8]),
}

impl DataColumn<'_> {
    /// The `data_kind` column's value.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Json(_) => "json",
            Self::Text(_) => "text",
            Self::Binary(_) => "binary",
        }
    }
}

/// The data columns of an event.
pub fn data_columns(event: &Event) -> Option<DataColumn<'_>> {
    event.data().map(|data| match data {
        Data::Json(json) => DataColumn::Json(json.as_str()),
        Data::Text(text) => DataColumn::Text(text),
        Data::Binary(bytes) => DataColumn::Binary(bytes),
    })
}

/// The `extensions` column: the extension attributes (other than `correlationid`,
/// `topic` and `destination`) as a JSON object of typed values,
/// `{"name": {"<type>": value}}`, or `None` when there are none.
pub fn extensions_column(event: &Event) -> Option<String> {
    if event.extensions().is_empty() {
        return None;
    }
    let map: serde_json::Map<String, serde_json::Value> = event
        .extensions()
        .iter()
        .map(|(k, v)| (k.clone(), v.to_tagged_json()))
        .collect();
    Some(serde_json::Value::Object(map).to_string())
}

/// An owned row of the event table, as a backend reads it; see
/// [`into_stored`](Self::into_stored).
#[derive(Debug, Clone, Default)]
#[allow(missing_docs)] // One field per column; the columns are documented in docs/schema.md.
pub struct EventRow {
    pub sequence: i64,
    pub stream_version: Option<i64>,
    pub recorded_at: Option<OffsetDateTime>,
    pub id: String,
    pub source: String,
    pub ty: String,
    pub subject: Option<String>,
    pub time: Option<OffsetDateTime>,
    pub datacontenttype: Option<String>,
    pub dataschema: Option<String>,
    pub correlationid: Option<String>,
    pub topic: Option<String>,
    pub destination: Option<String>,
    pub extensions: Option<String>,
    pub data_kind: Option<String>,
    pub data_text: Option<String>,
    pub data_bytes: Option<Vec<u8>>,
}

impl EventRow {
    /// Rebuilds the stored event. The row was validated when it was appended, so only
    /// what the columns encode is checked here: a row edited outside the store into
    /// something undecodable is reported as [`Error::Corrupt`].
    pub fn into_stored(self) -> Result<StoredEvent> {
        let sequence = self.sequence;
        let corrupt = |message: String| Error::Corrupt { sequence, message };
        let extensions = match &self.extensions {
            None => BTreeMap::new(),
            Some(text) => decode_extensions(text).ok_or_else(|| {
                corrupt(format!(
                    "extensions column is not the store's encoding: {text}"
                ))
            })?,
        };
        let data = match (self.data_kind.as_deref(), self.data_text, self.data_bytes) {
            (None, _, _) => None,
            (Some("json"), Some(text), _) => Some(Data::Json(
                Json::from_string(text).map_err(|e| corrupt(format!("data is not JSON: {e}")))?,
            )),
            (Some("json"), None, Some(bytes)) => Some(Data::Json(
                String::from_utf8(bytes)
                    .ok()
                    .and_then(|t| Json::from_string(t).ok())
                    .ok_or_else(|| corrupt("data is not JSON".to_owned()))?,
            )),
            (Some("text"), Some(text), _) => Some(Data::Text(text)),
            (Some("text"), None, Some(bytes)) => Some(Data::Text(
                String::from_utf8(bytes)
                    .map_err(|_| corrupt("text data is not UTF-8".to_owned()))?,
            )),
            (Some("binary"), _, Some(bytes)) => Some(Data::Binary(bytes)),
            (Some("binary"), Some(text), None) => Some(Data::Binary(text.into_bytes())),
            (Some(kind), _, _) => {
                return Err(corrupt(format!("data_kind {kind:?} without matching data")));
            }
        };
        let recorded_at = self
            .recorded_at
            .ok_or_else(|| corrupt("recorded_at is missing".to_owned()))?;
        let event = Event {
            id: self.id,
            source: self.source,
            ty: self.ty,
            subject: self.subject,
            time: self.time,
            datacontenttype: self.datacontenttype,
            dataschema: self.dataschema,
            correlationid: self.correlationid,
            topic: self.topic,
            destination: self.destination,
            extensions,
            data,
        };
        Ok(StoredEvent::new(
            event,
            sequence,
            self.stream_version,
            recorded_at,
        ))
    }
}

fn decode_extensions(text: &str) -> Option<BTreeMap<String, ExtensionValue>> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    value
        .as_object()?
        .iter()
        .map(|(name, tagged)| Some((name.clone(), ExtensionValue::from_tagged_json(tagged)?)))
        .collect()
}
