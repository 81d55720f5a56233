//! An event's data: JSON, text or bytes.

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

/// The data an event carries.
#[derive(Clone, PartialEq)]
pub enum Data {
    /// A JSON value (the JSON format's `data` for a JSON `datacontenttype` or none).
    Json(Json),
    /// Text (the JSON format's `data` as a string, for a non-JSON `datacontenttype`).
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

/// A JSON document kept as validated text: it is stored and read back as written, and
/// callers deserialize it straight into their own types with
/// [`deserialize`](Self::deserialize), without an intermediate `Value`.
///
/// Two `Json`s are equal when their texts are equal or, failing that, when they parse to
/// equal values: whitespace and key order do not make events different.
#[derive(Clone)]
pub struct Json(Box<RawValue>);

impl Json {
    /// Validates JSON text (surrounding whitespace is trimmed).
    pub fn from_string(text: String) -> Result<Self, serde_json::Error> {
        RawValue::from_string(text).map(Self)
    }

    /// Serializes a value to JSON text.
    pub fn from_serialize<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        serde_json::value::to_raw_value(value).map(Self)
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    /// Deserializes the JSON into `T`.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.0.get())
    }

    /// The JSON as a `serde_json::Value`.
    pub fn to_value(&self) -> serde_json::Value {
        // The text was validated on construction, so this parse cannot fail.
        serde_json::from_str(self.0.get()).unwrap_or(serde_json::Value::Null)
    }

    pub(crate) fn raw(&self) -> &RawValue {
        &self.0
    }
}

impl From<serde_json::Value> for Json {
    fn from(value: serde_json::Value) -> Self {
        Self(serde_json::value::to_raw_value(&value).expect("a Value always serializes"))
    }
}

impl PartialEq for Json {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str() || self.to_value() == other.to_value()
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
