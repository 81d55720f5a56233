//! An event's data: JSON, text or bytes.

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use crate::{json_check, json_eq};

/// The data an event carries.
#[derive(Clone, PartialEq)]
pub enum Data {
    /// A JSON value (the JSON format's `data` for a JSON `datacontenttype` or none; under
    /// another `datacontenttype`, any JSON value but a string, which is text).
    Json(Json),
    /// Text (the JSON format's `data` as a string, for a non-JSON `datacontenttype`;
    /// an event's text data always has one, [`TEXT_CONTENT_TYPE`](crate::TEXT_CONTENT_TYPE)
    /// unless it was given another).
    Text(String),
    /// Bytes (the JSON format's `data_base64`).
    Binary(Vec<u8>),
}

impl Data {
    /// JSON data serialized from any `Serialize` value.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        Json::from_serialize(value).map(Self::Json)
    }

    /// The data's size in bytes (the JSON text's, the text's or the bytes').
    pub fn len(&self) -> usize {
        match self {
            Self::Json(json) => json.as_str().len(),
            Self::Text(text) => text.len(),
            Self::Binary(bytes) => bytes.len(),
        }
    }

    /// Whether the data is zero bytes long.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The JSON data, if the data is JSON.
    pub fn as_json(&self) -> Option<&Json> {
        match self {
            Self::Json(json) => Some(json),
            _ => None,
        }
    }
}

impl fmt::Debug for Data {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Json(json) => f.debug_tuple("Json").field(&json.as_str()).finish(),
            Self::Text(text) => f.debug_tuple("Text").field(text).finish(),
            Self::Binary(bytes) => write!(f, "Binary({} bytes)", bytes.len()),
        }
    }
}

impl From<Json> for Data {
    fn from(value: Json) -> Self {
        Self::Json(value)
    }
}

impl From<serde_json::Value> for Data {
    fn from(value: serde_json::Value) -> Self {
        Self::Json(Json::from(value))
    }
}

/// The deepest nesting of arrays and objects JSON data may have: serde_json's own limit
/// when it reads a document into a `Value` or a caller's type (deeper data could be
/// stored but never read back as JSON), well inside what PostgreSQL's `jsonb` parser
/// takes with its default stack.
pub const MAX_JSON_DEPTH: usize = 127;

/// A JSON document kept as validated text, which callers deserialize straight into
/// their own types with [`deserialize`](Self::deserialize), without an intermediate
/// `Value`.
///
/// A store keeps the document's meaning, not always its text: SQLite returns the text
/// as written; PostgreSQL returns most documents from a `jsonb` column, which rewrites
/// whitespace, member order and string escapes (`"\u00e9"` comes back `"é"`), and keeps
/// the text as written for the documents whose meaning `jsonb` would change (see
/// docs/schema.md, "Lossless JSON"). Numbers come back as written on both.
///
/// Every constructor validates (or, for [`from_serialize`](Self::from_serialize), writes
/// the text itself), so a `Json` always holds one valid JSON value: the texts accepted are
/// exactly those serde_json's `RawValue` accepts. Text read back from a store is checked
/// again like any other, with a fast grammar walk first and serde_json only where that
/// walk does not show the text valid.
///
/// Two `Json`s are equal when their texts are equal or, failing that, when they are the
/// same document: whitespace, member order and string escapes do not make events
/// different. Numbers are compared by their exact decimal value and sign, not as `f64`
/// (`-0.0` is not `0.0`, and 30-digit integers one apart differ), and by whether they
/// are written as integers (`1` is not `1.0`, which serde_json reads as a float);
/// members with the same key are all kept, in their order (`{"a":1,"a":2}` is not
/// `{"a":2}`). A text nested deeper than 512 levels, or with an exponent of more than 30
/// digits, equals only itself.
#[derive(Clone)]
pub struct Json(Box<str>);

impl Json {
    /// Validates JSON text (surrounding whitespace is trimmed).
    pub fn from_string(text: String) -> Result<Self, serde_json::Error> {
        match checked(&text) {
            Some(trimmed) if trimmed.len() == text.len() => Ok(Self(text.into_boxed_str())),
            Some(trimmed) => Ok(Self(trimmed.into())),
            // Not shown valid by the fast walk: serde_json decides, and names the error.
            None => RawValue::from_string(text).map(|raw| Self(raw.into())),
        }
    }

    /// Validates borrowed JSON text (surrounding whitespace is trimmed), copying it only
    /// once it is known valid: what a backend reads from a row it still holds.
    pub(crate) fn from_str_checked(text: &str) -> Result<Self, serde_json::Error> {
        match checked(text) {
            Some(trimmed) => Ok(Self(trimmed.into())),
            // As in `from_string`: serde_json decides, without walking the text again.
            None => RawValue::from_string(text.to_owned()).map(|raw| Self(raw.into())),
        }
    }

    /// Serializes a value to JSON text.
    pub fn from_serialize<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        // serde_json's serializer writes valid JSON (its own `to_raw_value` relies on it).
        serde_json::to_string(value).map(|text| Self(text.into_boxed_str()))
    }

    /// JSON text that serde_json has already validated, such as a member of a document it
    /// parsed.
    pub(crate) fn from_raw(raw: &RawValue) -> Self {
        Self(raw.get().into())
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Deserializes the JSON into `T`.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.0)
    }

    /// The JSON as a `serde_json::Value`, or `Null` for the valid texts a `Value`
    /// cannot hold: a number beyond `f64` (`1e400`) or a string with a lone surrogate
    /// escape (`"\ud800"`). A `Value` also holds numbers as `f64` (without serde_json's
    /// `arbitrary_precision`), so digits past its precision are lost.
    /// [`deserialize`](Self::deserialize) into a `Value` reports those texts as errors.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::from_str(&self.0).unwrap_or(serde_json::Value::Null)
    }

    /// The text as serde_json's `RawValue`, for writing it into a document verbatim.
    /// serde_json builds one only by validating, so this checks the text again: the
    /// price of not checking it twice on every read.
    pub(crate) fn raw(&self) -> Result<&RawValue, serde_json::Error> {
        serde_json::from_str(&self.0)
    }

    /// How deeply arrays and objects nest in the document (0 for a scalar).
    pub fn depth(&self) -> usize {
        let (mut depth, mut deepest) = (0usize, 0usize);
        let (mut in_string, mut escaped) = (false, false);
        for b in self.as_str().bytes() {
            match (in_string, b) {
                (true, _) if escaped => escaped = false,
                (true, b'\\') => escaped = true,
                (true, b'"') | (false, b'"') => in_string = !in_string,
                (false, b'[' | b'{') => {
                    depth += 1;
                    deepest = deepest.max(depth);
                }
                (false, b']' | b'}') => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        deepest
    }
}

impl From<serde_json::Value> for Json {
    fn from(value: serde_json::Value) -> Self {
        Self(value.to_string().into_boxed_str())
    }
}

/// `text` without its surrounding whitespace, if the fast grammar walk shows it valid.
fn checked(text: &str) -> Option<&str> {
    let trimmed = text.trim_matches(is_json_whitespace);
    json_check::is_json(trimmed).then_some(trimmed)
}

/// JSON's insignificant whitespace (RFC 8259), what serde_json skips around a value.
fn is_json_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\n' | '\r' | '\t')
}

impl PartialEq for Json {
    fn eq(&self, other: &Self) -> bool {
        json_eq::equal(self.as_str(), other.as_str())
    }
}

impl fmt::Debug for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Json").field(&self.as_str()).finish()
    }
}

impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Event, Rule};

    fn nested(depth: usize) -> Json {
        let text = format!("{}\"]}}\\\\\"{}", "[".repeat(depth), "]".repeat(depth));
        Json::from_string(text).expect("valid JSON")
    }

    #[test]
    fn depth_counts_arrays_and_objects_outside_strings() {
        assert_eq!(Json::from_string("1".into()).unwrap().depth(), 0);
        assert_eq!(nested(3).depth(), 3);
        let mixed = Json::from_string(r#"{"a":[{"b":"[[{"}],"c":{}}"#.into()).unwrap();
        assert_eq!(mixed.depth(), 3);
    }

    #[test]
    fn the_deepest_data_allowed_reads_back_and_deeper_is_refused() {
        let deepest = nested(MAX_JSON_DEPTH);
        assert!(deepest.deserialize::<serde_json::Value>().is_ok());
        let build = |json: Json| {
            Event::builder()
                .id("1")
                .source("/s")
                .ty("t")
                .data(json)
                .build()
        };
        assert!(build(deepest).is_ok());
        let error = build(nested(MAX_JSON_DEPTH + 1)).unwrap_err();
        assert_eq!(error.attribute(), "data");
        assert!(matches!(error.rule(), Rule::TooDeep { .. }), "{error}");
    }
}
