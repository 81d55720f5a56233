//! The CloudEvents JSON event format (single events and batches).
//!
//! ```
//! use eventstore_core::{Event, JsonFormat};
//!
//! let event: Event = r#"{"specversion":"1.0","id":"1","source":"/shop","type":"order.created",
//!                        "datacontenttype":"application/json","data":{"total":10}}"#.parse()?;
//! let text = JsonFormat::new().write_event(&event);
//! assert_eq!(JsonFormat::new().parse_event(&text)?, event);
//! # Ok::<(), eventstore_core::Error>(())
//! ```

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::data::{Data, Json};
use crate::error::{Error, Result, Rule, ValidationError};
use crate::event::{Event, EventBuilder, SPEC_VERSION};
use crate::extension::{ExtensionType, ExtensionValue, parse_integer};
use crate::timestamp;
use crate::validate::{is_extension_name, is_json_media_type};

/// Reads and writes the CloudEvents JSON format.
///
/// Extension attributes carry no type in JSON beyond string, number and boolean. Tell
/// the format which extensions are URIs, timestamps or bytes with
/// [`with_extension_type`](Self::with_extension_type); others are read as strings,
/// integers and booleans.
#[derive(Debug, Clone, Default)]
pub struct JsonFormat {
    extension_types: HashMap<String, ExtensionType>,
}

impl JsonFormat {
    /// A format with no extension types declared.
    pub fn new() -> Self {
        Self::default()
    }

    /// Declares the type of an extension attribute, so that its JSON string is read as
    /// that type (and refused when it is not one).
    #[must_use]
    pub fn with_extension_type(mut self, name: impl Into<String>, ty: ExtensionType) -> Self {
        self.extension_types.insert(name.into(), ty);
        self
    }

    /// Parses one event (`application/cloudevents+json`).
    pub fn parse_event(&self, text: &str) -> Result<Event> {
        let members: Members<'_> = serde_json::from_str(text).map_err(|e| json_error(None, &e))?;
        self.event_from_members(members).map_err(Error::from)
    }

    /// Parses a batch (`application/cloudevents-batch+json`): all events or an error
    /// that gives the index of the first invalid one.
    pub fn parse_batch(&self, text: &str) -> Result<Vec<Event>> {
        let items: Vec<&RawValue> = serde_json::from_str(text).map_err(|e| json_error(None, &e))?;
        items
            .into_iter()
            .enumerate()
            .map(|(index, raw)| {
                let members: Members<'_> =
                    serde_json::from_str(raw.get()).map_err(|e| json_error(Some(index), &e))?;
                self.event_from_members(members)
                    .map_err(|e| Error::from(e.at(index)))
            })
            .collect()
    }

    /// Writes one event.
    pub fn write_event(&self, event: &Event) -> String {
        let mut out = String::new();
        write_into(&mut out, event);
        out
    }

    /// Writes a batch.
    pub fn write_batch(&self, events: &[Event]) -> String {
        let mut out = String::from("[");
        for (i, event) in events.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_into(&mut out, event);
        }
        out.push(']');
        out
    }

    fn event_from_members(&self, members: Members<'_>) -> Result<Event, ValidationError> {
        let Members(members, required, repeated) = members;
        if let Some(name) = repeated {
            return Err(ValidationError::new(name, Rule::Repeated));
        }
        let mut b = EventBuilder::default();
        let mut specversion = None;
        let mut data = None;
        let mut data_base64 = None;
        let mut content_type = None;
        for (name, raw) in members {
            if raw.get() == "null" {
                continue;
            }
            match name.as_str() {
                "specversion" => specversion = Some(string(&name, raw)?),
                "id" => b = b.id(string(&name, raw)?),
                "source" => b = b.source(string(&name, raw)?),
                "type" => b = b.ty(string(&name, raw)?),
                "subject" => b = b.subject(string(&name, raw)?),
                "time" => {
                    let text = string(&name, raw)?;
                    let time = timestamp::parse_rfc3339(&text)
                        .ok_or_else(|| ValidationError::new("time", Rule::NotTimestamp(text)))?;
                    b = b.time(time);
                }
                "datacontenttype" => {
                    let ct = string(&name, raw)?;
                    content_type = Some(ct.clone());
                    b = b.datacontenttype(ct);
                }
                "dataschema" => b = b.dataschema(string(&name, raw)?),
                "data" => data = Some(raw),
                "data_base64" => data_base64 = Some(string(&name, raw)?),
                _ => b = b.extension(name.clone(), self.extension(&name, raw)?),
            }
        }
        match specversion.as_deref() {
            None => return Err(ValidationError::new("specversion", Rule::Missing)),
            Some("") => return Err(ValidationError::new("specversion", Rule::Empty)),
            Some(SPEC_VERSION) => {}
            Some(other) => {
                return Err(ValidationError::new(
                    "specversion",
                    Rule::UnsupportedSpecVersion(other.to_owned()),
                ));
            }
        }
        match (data, data_base64) {
            (Some(_), Some(_)) => {
                return Err(ValidationError::new("data", Rule::DataAndDataBase64));
            }
            (None, Some(encoded)) => {
                let bytes = BASE64
                    .decode(encoded)
                    .map_err(|_| ValidationError::new("data_base64", Rule::NotBase64))?;
                b = b.data(Data::Binary(bytes));
            }
            (Some(raw), None) => b = b.data(data_member(raw, content_type.as_deref())?),
            (None, None) => {}
        }
        // Missing required attributes are reported by name, before the builder's
        // emptiness checks would report them as empty.
        for (attribute, present) in required {
            if !present {
                return Err(ValidationError::new(attribute, Rule::Missing));
            }
        }
        b.build()
    }

    fn extension(&self, name: &str, raw: &RawValue) -> Result<ExtensionValue, ValidationError> {
        let invalid = |rule| ValidationError::new(name, rule);
        if !is_extension_name(name) {
            return Err(invalid(Rule::InvalidExtensionName));
        }
        let declared = self.extension_types.get(name).copied();
        // A JSON number is read from its text, as a string encoding is: its grammar is
        // the Integer's plus a fraction and an exponent, which no Integer has (`1.0`,
        // `1e2`), and a `Value` would hold `-0` as a float and `1e400` not at all.
        if raw
            .get()
            .starts_with(|c: char| c == '-' || c.is_ascii_digit())
        {
            return match declared {
                None | Some(ExtensionType::Integer) => parse_integer(raw.get())
                    .map(ExtensionValue::Integer)
                    .map_err(invalid),
                Some(ty) => Err(invalid(Rule::WrongType {
                    expected: type_name(ty),
                })),
            };
        }
        let value: serde_json::Value =
            serde_json::from_str(raw.get()).map_err(|e| invalid(Rule::NotJson(e.to_string())))?;
        match (declared, value) {
            (None | Some(ExtensionType::Boolean), serde_json::Value::Bool(b)) => {
                Ok(ExtensionValue::Boolean(b))
            }
            (None, serde_json::Value::String(s)) => Ok(ExtensionValue::String(s)),
            (Some(ty), serde_json::Value::String(s)) => ty.parse_str(&s).map_err(invalid),
            (Some(ty), _) => Err(invalid(Rule::WrongType {
                expected: type_name(ty),
            })),
            (None, _) => Err(invalid(Rule::WrongType {
                expected: "a string, an integer or a boolean",
            })),
        }
    }
}

fn type_name(ty: ExtensionType) -> &'static str {
    match ty {
        ExtensionType::String => "a string",
        ExtensionType::Integer => "an integer",
        ExtensionType::Boolean => "a boolean",
        ExtensionType::Uri => "a URI string",
        ExtensionType::UriRef => "a URI-reference string",
        ExtensionType::Timestamp => "an RFC 3339 timestamp string",
        ExtensionType::Binary => "a base64 string",
    }
}

/// Reads `data`: JSON for a JSON content type (or none), text for a string under any
/// other content type, JSON otherwise.
fn data_member(raw: &RawValue, content_type: Option<&str>) -> Result<Data, ValidationError> {
    let is_json = content_type.is_none_or(is_json_media_type);
    if !is_json && raw.get().starts_with('"') {
        return Ok(Data::Text(string("data", raw)?));
    }
    Ok(Data::Json(Json::from_raw(raw)))
}

fn string(attribute: &str, raw: &RawValue) -> Result<String, ValidationError> {
    serde_json::from_str(raw.get()).map_err(|e| {
        // A JSON string that does not decode (a lone UTF-16 surrogate escape) is the
        // right type with a broken value: say so rather than "must be a string".
        let rule = if raw.get().starts_with('"') {
            Rule::NotJson(e.to_string())
        } else {
            Rule::WrongType {
                expected: "a string",
            }
        };
        ValidationError::new(attribute, rule)
    })
}

fn json_error(index: Option<usize>, error: &serde_json::Error) -> Error {
    Error::Json {
        index,
        message: error.to_string(),
    }
}

/// How many members an event object's repeated names are looked for among by a scan;
/// past them, in a set.
const SCANNED_MEMBERS: usize = 32;

/// An event object's members in document order, refusing repeated names, and which of
/// the required attributes were present (non-null).
struct Members<'a>(
    Vec<(String, &'a RawValue)>,
    [(&'static str, bool); 4],
    Option<String>,
);

impl<'de: 'a, 'a> Deserialize<'de> for Members<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor<'a>(std::marker::PhantomData<&'a ()>);

        impl<'de: 'a, 'a> Visitor<'de> for MembersVisitor<'a> {
            type Value = Members<'a>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a CloudEvent: a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members: Vec<(String, &'a RawValue)> = Vec::with_capacity(8);
                let mut required = [
                    ("specversion", true),
                    ("id", false),
                    ("source", false),
                    ("type", false),
                ];
                let mut repeated = None;
                // Past a few members, their names in a set: a scan per member would make
                // an object of many members (an event under the size limit can hold
                // hundreds of thousands) cost their count squared.
                let mut names: Option<HashSet<String>> = None;
                while let Some(name) = map.next_key::<String>()? {
                    let raw: &'a RawValue = map.next_value()?;
                    let seen = match &mut names {
                        Some(names) => !names.insert(name.clone()),
                        None => members.iter().any(|(n, _)| *n == name),
                    };
                    if seen {
                        repeated.get_or_insert(name);
                        continue;
                    }
                    if names.is_none() && members.len() == SCANNED_MEMBERS {
                        names = Some(
                            members
                                .iter()
                                .map(|(n, _)| n.clone())
                                .chain([name.clone()])
                                .collect(),
                        );
                    }
                    if let Some(slot) = required
                        .iter_mut()
                        .find(|(n, _)| *n == name)
                        .filter(|_| raw.get() != "null")
                    {
                        slot.1 = true;
                    }
                    members.push((name, raw));
                }
                Ok(Members(members, required, repeated))
            }
        }

        deserializer.deserialize_map(MembersVisitor(std::marker::PhantomData))
    }
}

/// Appends one event in the JSON format. JSON data, text the `Json` already checked, is
/// copied in as it is: going through serde_json would need a `RawValue`, which serde_json
/// only builds by checking the text again.
fn write_into(out: &mut String, event: &Event) {
    let attributes =
        serde_json::to_string(&Attributes(event)).expect("an event's attributes serialize");
    match event.data() {
        Some(Data::Json(json)) => {
            // The attributes' object always has members (specversion at least).
            out.push_str(attributes.strip_suffix('}').unwrap_or(&attributes));
            out.push_str(",\"data\":");
            out.push_str(json.as_str());
            out.push('}');
        }
        _ => out.push_str(&attributes),
    }
}

/// An event's members but JSON data (text and binary data included).
struct Attributes<'a>(&'a Event);

impl Serialize for Attributes<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        attribute_members(&mut map, self.0)?;
        if let Some(data) = self.0.data() {
            other_data_member(&mut map, data)?;
        }
        map.end()
    }
}

impl Serialize for Event {
    /// Writes the event in the CloudEvents JSON format.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        attribute_members(&mut map, self)?;
        match self.data() {
            Some(Data::Json(json)) => {
                let raw = json.raw().map_err(serde::ser::Error::custom)?;
                map.serialize_entry("data", raw)?;
            }
            Some(data) => other_data_member(&mut map, data)?,
            None => {}
        }
        map.end()
    }
}

/// Every member but `data`/`data_base64`.
fn attribute_members<M: SerializeMap>(map: &mut M, event: &Event) -> Result<(), M::Error> {
    map.serialize_entry("specversion", SPEC_VERSION)?;
    map.serialize_entry("id", event.id())?;
    map.serialize_entry("source", event.source())?;
    map.serialize_entry("type", event.ty())?;
    if let Some(subject) = event.subject() {
        map.serialize_entry("subject", subject)?;
    }
    if let Some(time) = event.time() {
        map.serialize_entry("time", &timestamp::format_rfc3339(time))?;
    }
    let optional = [
        ("datacontenttype", event.datacontenttype()),
        ("dataschema", event.dataschema()),
        ("correlationid", event.correlationid()),
        ("topic", event.topic()),
        ("destination", event.destination()),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            map.serialize_entry(name, value)?;
        }
    }
    for (name, value) in event.extensions() {
        map.serialize_entry(name, &value.to_json())?;
    }
    Ok(())
}

/// The `data` member of text data, or the `data_base64` member of binary data.
fn other_data_member<M: SerializeMap>(map: &mut M, data: &Data) -> Result<(), M::Error> {
    match data {
        Data::Text(text) => map.serialize_entry("data", text),
        Data::Binary(bytes) => map.serialize_entry("data_base64", &BASE64.encode(bytes)),
        Data::Json(_) => Ok(()),
    }
}

impl FromStr for Event {
    type Err = Error;

    /// Parses one event in the CloudEvents JSON format, with no extension types
    /// declared (see [`JsonFormat`]).
    fn from_str(text: &str) -> Result<Self> {
        JsonFormat::new().parse_event(text)
    }
}
