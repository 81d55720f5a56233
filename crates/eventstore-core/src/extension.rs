//! Extension attributes: values of the CloudEvents type system.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::error::Rule;
use crate::timestamp;
use crate::validate::{is_uri, is_uri_reference};

/// The value of an extension attribute, typed as the CloudEvents type system types it.
///
/// The type is kept through a store round trip: an `Integer` comes back an `Integer`, a
/// `Uri` a `Uri`, even though several types share a JSON representation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ExtensionValue {
    /// A string.
    String(String),
    /// A 32-bit signed integer, the range of the CloudEvents `Integer`.
    Integer(i32),
    /// A boolean.
    Boolean(bool),
    /// An absolute URI.
    Uri(String),
    /// A URI-reference.
    UriRef(String),
    /// An instant, nanosecond precision, normalized to UTC.
    Timestamp(OffsetDateTime),
    /// Bytes (base64 in JSON).
    Binary(Vec<u8>),
}

/// The CloudEvents type of an extension value, used to tell the JSON parser how to read
/// an extension whose JSON form (a string) could be several types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExtensionType {
    /// `String`.
    String,
    /// `Integer`.
    Integer,
    /// `Boolean`.
    Boolean,
    /// `URI`.
    Uri,
    /// `URI-reference`.
    UriRef,
    /// `Timestamp`.
    Timestamp,
    /// `Binary`.
    Binary,
}

impl ExtensionType {
    /// The tag this type has in the store's encoding of extensions.
    pub fn tag(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Integer => "integer",
            Self::Boolean => "boolean",
            Self::Uri => "uri",
            Self::UriRef => "uriref",
            Self::Timestamp => "timestamp",
            Self::Binary => "binary",
        }
    }

    /// The type a tag names, as [`tag`](Self::tag) writes it (`uri`, `timestamp`, …);
    /// `None` for any other text.
    pub fn from_tag(tag: &str) -> Option<Self> {
        Some(match tag {
            "string" => Self::String,
            "integer" => Self::Integer,
            "boolean" => Self::Boolean,
            "uri" => Self::Uri,
            "uriref" => Self::UriRef,
            "timestamp" => Self::Timestamp,
            "binary" => Self::Binary,
            _ => return None,
        })
    }

    /// Reads a value of this type from its string encoding, as the CloudEvents type
    /// system defines it (and as the CloudEvents JSON format writes every type but
    /// `Integer` and `Boolean`), and nothing else: an `Integer` is the integer portion
    /// of a JSON number (an optional `-`, then `0` or digits without a leading zero; no
    /// `+`, no spaces), a `Boolean` is `true` or `false` in lower case, a `Timestamp` is
    /// RFC 3339, a `Binary` is base64 with its padding. `Uri` and `UriRef` are checked
    /// by [`ExtensionValue::check`], as every value is when its event is built.
    pub fn parse_str(self, text: &str) -> Result<ExtensionValue, Rule> {
        Ok(match self {
            Self::String => ExtensionValue::String(text.to_owned()),
            Self::Integer => ExtensionValue::Integer(parse_integer(text)?),
            Self::Boolean => ExtensionValue::Boolean(match text {
                "true" => true,
                "false" => false,
                _ => return Err(Rule::NotBoolean(text.to_owned())),
            }),
            Self::Uri => ExtensionValue::Uri(text.to_owned()),
            Self::UriRef => ExtensionValue::UriRef(text.to_owned()),
            Self::Timestamp => ExtensionValue::Timestamp(
                timestamp::parse_rfc3339(text)
                    .ok_or_else(|| Rule::NotTimestamp(text.to_owned()))?,
            ),
            Self::Binary => {
                ExtensionValue::Binary(BASE64.decode(text).map_err(|_| Rule::NotBase64)?)
            }
        })
    }
}

/// Reads a CloudEvents `Integer` written as the integer portion of a JSON number (RFC
/// 8259 §6: an optional `-`, then `0` or digits without a leading zero), the string
/// encoding the type system gives it and the only form the JSON format writes, in the
/// 32-bit signed range. `-0` is that grammar's, and is 0.
pub(crate) fn parse_integer(text: &str) -> Result<i32, Rule> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let well_formed = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    if !well_formed {
        return Err(Rule::NotInteger(text.to_owned()));
    }
    text.parse()
        .map_err(|_| Rule::IntegerOutOfRange(text.to_owned()))
}

impl ExtensionValue {
    /// The value's CloudEvents type.
    pub fn kind(&self) -> ExtensionType {
        match self {
            Self::String(_) => ExtensionType::String,
            Self::Integer(_) => ExtensionType::Integer,
            Self::Boolean(_) => ExtensionType::Boolean,
            Self::Uri(_) => ExtensionType::Uri,
            Self::UriRef(_) => ExtensionType::UriRef,
            Self::Timestamp(_) => ExtensionType::Timestamp,
            Self::Binary(_) => ExtensionType::Binary,
        }
    }

    /// Checks the value against its type's rules.
    pub fn check(&self) -> Result<(), Rule> {
        match self {
            Self::Uri(u) if !is_uri(u) => Err(Rule::NotUri(u.clone())),
            Self::UriRef(u) if !is_uri_reference(u) => Err(Rule::NotUriReference(u.clone())),
            Self::Timestamp(t) if !timestamp::is_representable(*t) => {
                Err(Rule::NotTimestamp(format!("{t}")))
            }
            Self::String(s) | Self::Uri(s) | Self::UriRef(s) => crate::event::check_chars(s),
            _ => Ok(()),
        }
    }

    /// The value in the CloudEvents JSON format: a number for `Integer`, a boolean for
    /// `Boolean`, the canonical string for the other types.
    pub fn to_json(&self) -> Value {
        match self {
            Self::Integer(i) => Value::from(*i),
            Self::Boolean(b) => Value::Bool(*b),
            other => Value::String(other.to_string()),
        }
    }

    /// The value in the store's typed encoding: `{"<type>": <json>}`, so that the type
    /// survives a round trip.
    pub fn to_tagged_json(&self) -> Value {
        let mut map = Map::with_capacity(1);
        map.insert(self.kind().tag().to_owned(), self.to_json());
        Value::Object(map)
    }

    /// Reads the store's typed encoding written by [`to_tagged_json`](Self::to_tagged_json).
    pub fn from_tagged_json(value: &Value) -> Option<Self> {
        let (tag, inner) = value.as_object()?.iter().next()?;
        let kind = ExtensionType::from_tag(tag)?;
        match (kind, inner) {
            (ExtensionType::Integer, Value::Number(n)) => n
                .as_i64()
                .and_then(|i| i32::try_from(i).ok())
                .map(Self::Integer),
            (ExtensionType::Boolean, Value::Bool(b)) => Some(Self::Boolean(*b)),
            (kind, Value::String(s)) => kind.parse_str(s).ok(),
            _ => None,
        }
    }
}

impl fmt::Display for ExtensionValue {
    /// The canonical string form of the value (CloudEvents' "String Encoding").
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::String(s) | Self::Uri(s) | Self::UriRef(s) => f.write_str(s),
            Self::Integer(i) => write!(f, "{i}"),
            Self::Boolean(b) => write!(f, "{b}"),
            Self::Timestamp(t) => f.write_str(&timestamp::format_rfc3339(*t)),
            Self::Binary(bytes) => f.write_str(&BASE64.encode(bytes)),
        }
    }
}

impl From<String> for ExtensionValue {
    fn from(value: String) -> Self {
        Self::String(value)
    }
}

impl From<&str> for ExtensionValue {
    fn from(value: &str) -> Self {
        Self::String(value.to_owned())
    }
}

impl From<i32> for ExtensionValue {
    fn from(value: i32) -> Self {
        Self::Integer(value)
    }
}

impl From<bool> for ExtensionValue {
    fn from(value: bool) -> Self {
        Self::Boolean(value)
    }
}

impl From<OffsetDateTime> for ExtensionValue {
    /// A `Timestamp` in UTC. An instant outside the years UTC can write (0000 to 9999)
    /// keeps its offset, and [`check`](ExtensionValue::check) refuses it.
    fn from(value: OffsetDateTime) -> Self {
        Self::Timestamp(timestamp::to_utc(value).unwrap_or(value))
    }
}

impl From<Vec<u8>> for ExtensionValue {
    fn from(value: Vec<u8>) -> Self {
        Self::Binary(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagged_encoding_keeps_the_type() {
        let values = [
            ExtensionValue::String("text".into()),
            ExtensionValue::Integer(-10),
            ExtensionValue::Boolean(true),
            ExtensionValue::Uri("https://cloudevents.io".into()),
            ExtensionValue::UriRef("//authority/path".into()),
            ExtensionValue::Timestamp(timestamp::parse_rfc3339("2023-03-31T15:12:00.5Z").unwrap()),
            ExtensionValue::Binary(b"Ma".to_vec()),
        ];
        for value in values {
            let tagged = value.to_tagged_json();
            assert_eq!(ExtensionValue::from_tagged_json(&tagged), Some(value));
        }
    }
}
