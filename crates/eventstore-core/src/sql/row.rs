//! The column encoding of an event, shared by the SQL backends: what goes into each
//! column on append, and how a row becomes a [`StoredEvent`] again.

use std::borrow::Cow;
use std::collections::BTreeMap;

use time::OffsetDateTime;

use crate::data::{Data, Json};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::extension::{ExtensionType, ExtensionValue};
use crate::packed::TextAttributes;
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

/// A row of the event table as a backend reads it, borrowing the row's text where the
/// driver lets it: [`into_stored`](Self::into_stored) copies what the event keeps, once.
#[derive(Debug, Clone, Default)]
#[allow(missing_docs)] // One field per column; the columns are documented in docs/schema.md.
pub struct EventRow<'a> {
    pub sequence: i64,
    pub stream_version: Option<i64>,
    pub recorded_at: Option<OffsetDateTime>,
    pub id: &'a str,
    pub source: &'a str,
    pub ty: &'a str,
    pub subject: Option<&'a str>,
    pub time: Option<OffsetDateTime>,
    pub datacontenttype: Option<&'a str>,
    pub dataschema: Option<&'a str>,
    pub correlationid: Option<&'a str>,
    pub topic: Option<&'a str>,
    pub destination: Option<&'a str>,
    pub extensions: Option<&'a str>,
    pub data_kind: Option<&'a str>,
    pub data_text: Option<Cow<'a, str>>,
    pub data_bytes: Option<Cow<'a, [u8]>>,
}

impl EventRow<'_> {
    /// Rebuilds the stored event. The row was validated when it was appended, so only
    /// what the columns encode is checked here: a row edited outside the store into
    /// something undecodable is reported as [`Error::Corrupt`].
    pub fn into_stored(self) -> Result<StoredEvent> {
        let sequence = self.sequence;
        let corrupt = |message: String| Error::Corrupt { sequence, message };
        let extensions = match self.extensions {
            None => BTreeMap::new(),
            Some(text) => decode_extensions(text).ok_or_else(|| {
                corrupt(format!(
                    "extensions column is not the store's encoding: {text}"
                ))
            })?,
        };
        let json = |text: Cow<'_, str>| {
            match text {
                Cow::Borrowed(text) => Json::from_str_checked(text),
                Cow::Owned(text) => Json::from_string(text),
            }
            .map(Data::Json)
            .map_err(|e| corrupt(format!("data is not JSON: {e}")))
        };
        let data = match (self.data_kind, self.data_text, self.data_bytes) {
            (None, _, _) => None,
            (Some("json"), Some(text), _) => Some(json(text)?),
            (Some("json"), None, Some(bytes)) => {
                Some(json(utf8(bytes).ok_or_else(|| {
                    corrupt("JSON data is not UTF-8".to_owned())
                })?)?)
            }
            (Some("text"), Some(text), _) => Some(Data::Text(text.into_owned())),
            (Some("text"), None, Some(bytes)) => Some(Data::Text(
                utf8(bytes)
                    .ok_or_else(|| corrupt("text data is not UTF-8".to_owned()))?
                    .into_owned(),
            )),
            (Some("binary"), _, Some(bytes)) => Some(Data::Binary(bytes.into_owned())),
            (Some("binary"), Some(text), None) => {
                Some(Data::Binary(text.into_owned().into_bytes()))
            }
            (Some(kind), _, _) => {
                return Err(corrupt(format!("data_kind {kind:?} without matching data")));
            }
        };
        let recorded_at = self
            .recorded_at
            .ok_or_else(|| corrupt("recorded_at is missing".to_owned()))?;
        let event = Event {
            text: TextAttributes::pack([
                Some(self.id),
                Some(self.source),
                Some(self.ty),
                self.subject,
                self.datacontenttype,
                self.dataschema,
                self.correlationid,
                self.topic,
                self.destination,
            ]),
            time: self.time,
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

/// Bytes as text, borrowed or owned as they came; `None` when they are not UTF-8.
fn utf8(bytes: Cow<'_, [u8]>) -> Option<Cow<'_, str>> {
    match bytes {
        Cow::Borrowed(bytes) => std::str::from_utf8(bytes).ok().map(Cow::Borrowed),
        Cow::Owned(bytes) => String::from_utf8(bytes).ok().map(Cow::Owned),
    }
}

/// Reads the `extensions` column straight into typed values, without building a
/// `serde_json::Value` first (a third of the benchmark's events carry extensions, and
/// the `Value` cost more than the rest of their decoding).
fn decode_extensions(text: &str) -> Option<BTreeMap<String, ExtensionValue>> {
    let map: BTreeMap<String, Tagged> = serde_json::from_str(text).ok()?;
    map.into_iter()
        .map(|(name, Tagged(value))| Some((name, value?)))
        .collect()
}

/// One extension in the store's typed encoding, `{"<type>": value}`: exactly one tag,
/// read as [`ExtensionValue::from_tagged_json`] reads it; `None` when it does not decode.
struct Tagged(Option<ExtensionValue>);

impl<'de> serde::Deserialize<'de> for Tagged {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(TaggedVisitor)
    }
}

struct TaggedVisitor;

impl<'de> serde::de::Visitor<'de> for TaggedVisitor {
    type Value = Tagged;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object of one type tag")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Tagged, A::Error> {
        let Some(tag) = map.next_key::<std::borrow::Cow<'de, str>>()? else {
            return Ok(Tagged(None));
        };
        let Some(kind) = ExtensionType::from_tag(&tag) else {
            map.next_value::<serde::de::IgnoredAny>()?;
            return Ok(Tagged(None));
        };
        let value = match (kind, map.next_value::<Scalar<'de>>()?) {
            (ExtensionType::Integer, Scalar::Int(i)) => {
                i32::try_from(i).ok().map(ExtensionValue::Integer)
            }
            (ExtensionType::Boolean, Scalar::Bool(b)) => Some(ExtensionValue::Boolean(b)),
            (kind, Scalar::Str(s)) => kind.parse_str(&s).ok(),
            _ => None,
        };
        // A second tag is not the store's encoding.
        if map.next_key::<serde::de::IgnoredAny>()?.is_some() {
            return Ok(Tagged(None));
        }
        Ok(Tagged(value))
    }
}

/// A tagged extension's JSON value: what the encoding holds, or `Other`.
enum Scalar<'a> {
    Int(i64),
    Bool(bool),
    Str(std::borrow::Cow<'a, str>),
    Other,
}

impl<'de> serde::Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Scalar<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar<'de>, E> {
                Ok(i64::try_from(v).map_or(Scalar::Other, Scalar::Int))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Other)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Bool(v))
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Str(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Str(std::borrow::Cow::Owned(v.to_owned())))
            }
            fn visit_unit<E>(self) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Other)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Scalar<'de>, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Scalar<'de>, A::Error> {
                while map
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(Scalar::Other)
            }
        }
        deserializer.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timestamp::parse_rfc3339;

    #[test]
    fn extensions_decode_as_their_tagged_json_does() {
        let values = [
            ExtensionValue::String("a \"quoted\" text".into()),
            ExtensionValue::Integer(-10),
            ExtensionValue::Boolean(true),
            ExtensionValue::Uri("https://cloudevents.io".into()),
            ExtensionValue::UriRef("//authority/path".into()),
            ExtensionValue::Timestamp(parse_rfc3339("2023-03-31T15:12:00.5Z").unwrap()),
            ExtensionValue::Binary(b"Ma".to_vec()),
        ];
        let map: serde_json::Map<String, serde_json::Value> = values
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("x{i}"), v.to_tagged_json()))
            .collect();
        let decoded = decode_extensions(&serde_json::Value::Object(map).to_string());
        let expected = values
            .into_iter()
            .enumerate()
            .map(|(i, v)| (format!("x{i}"), v))
            .collect();
        assert_eq!(decoded, Some(expected));
    }

    #[test]
    fn what_is_not_the_encoding_does_not_decode() {
        for text in [
            "[]",
            "{\"a\":1}",
            "{\"a\":{}}",
            "{\"a\":{\"float\":1}}",
            "{\"a\":{\"integer\":1.5}}",
            "{\"a\":{\"integer\":3000000000}}",
            "{\"a\":{\"boolean\":\"yes\"}}",
            "{\"a\":{\"timestamp\":\"noon\"}}",
            "{\"a\":{\"string\":\"x\",\"integer\":1}}",
            "{\"a\":{\"string\":[\"x\"]}}",
            "{\"a\":{\"string\":\"x\"}",
        ] {
            assert_eq!(decode_extensions(text), None, "{text}");
        }
        assert_eq!(
            decode_extensions("{\"a\":{\"integer\":\"7\"}}"),
            Some(BTreeMap::from([(
                "a".to_owned(),
                ExtensionValue::Integer(7)
            )])),
            "a string form of the type reads as that type, as from_tagged_json reads it"
        );
    }
}
