//! The CloudEvents 1.0 event and its builder.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use crate::data::{Data, Json, MAX_JSON_DEPTH};
use crate::error::{Rule, ValidationError};
use crate::extension::ExtensionValue;
use crate::packed::{Attr, TextAttributes};
use crate::timestamp;
use crate::validate::{
    is_extension_name, is_json_media_type, is_media_type, is_uri, is_uri_reference,
};

/// The only CloudEvents version this store accepts.
pub const SPEC_VERSION: &str = "1.0";

/// The `datacontenttype` [`EventBuilder::build`] gives text data that has none:
/// `text/plain`, so that the CloudEvents JSON format, which reads data without a
/// `datacontenttype` as JSON, reads the text back as text.
pub const TEXT_CONTENT_TYPE: &str = "text/plain";

/// A valid CloudEvents 1.0 event.
///
/// An `Event` can only be made through [`Event::builder`] or the JSON format, both of
/// which validate it, so every `Event` a store receives is valid. To change one, turn it
/// back into a builder with [`Event::into_builder`].
///
/// ```
/// use eventstore_core::Event;
///
/// let event = Event::builder()
///     .id("order-42-created")
///     .source("/shop/orders")
///     .ty("com.example.order.created")
///     .subject("order-42")
///     .json(&serde_json::json!({ "total": 99.5 }))
///     .build()?;
/// assert_eq!(event.subject(), Some("order-42"));
/// # Ok::<(), eventstore_core::Error>(())
/// ```
#[derive(Clone, PartialEq)]
pub struct Event {
    /// `id`, `source`, `type`, `subject`, `datacontenttype`, `dataschema`,
    /// `correlationid`, `topic` and `destination`, in one allocation.
    pub(crate) text: TextAttributes,
    pub(crate) time: Option<OffsetDateTime>,
    pub(crate) extensions: BTreeMap<String, ExtensionValue>,
    pub(crate) data: Option<Data>,
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("attributes", &self.text)
            .field("time", &self.time)
            .field("extensions", &self.extensions)
            .field("data", &self.data)
            .finish()
    }
}

impl Event {
    /// Starts building an event.
    pub fn builder() -> EventBuilder {
        EventBuilder::default()
    }

    /// Turns the event back into a builder, to change it.
    pub fn into_builder(self) -> EventBuilder {
        let text = |attr| self.text.get(attr).map(str::to_owned);
        let required = |attr| text(attr).unwrap_or_default();
        EventBuilder {
            parts: Parts {
                id: required(Attr::Id),
                source: required(Attr::Source),
                ty: required(Attr::Type),
                subject: text(Attr::Subject),
                datacontenttype: text(Attr::DataContentType),
                dataschema: text(Attr::DataSchema),
                correlationid: text(Attr::CorrelationId),
                topic: text(Attr::Topic),
                destination: text(Attr::Destination),
                time: self.time,
                extensions: self.extensions,
                data: self.data,
            },
            error: None,
        }
    }

    /// A required attribute (`id`, `source`, `type`): always present.
    fn required(&self, attr: Attr) -> &str {
        self.text.get(attr).unwrap_or_default()
    }

    /// `id`: identifies the event; unique per `source`.
    pub fn id(&self) -> &str {
        self.required(Attr::Id)
    }

    /// `source`: the context in which the event happened (a URI-reference).
    pub fn source(&self) -> &str {
        self.required(Attr::Source)
    }

    /// `specversion`: always `"1.0"`.
    pub fn specversion(&self) -> &'static str {
        SPEC_VERSION
    }

    /// `type`: what happened, e.g. `com.example.order.created`.
    pub fn ty(&self) -> &str {
        self.required(Attr::Type)
    }

    /// `subject`: what the event is about within its source; the store's stream key.
    pub fn subject(&self) -> Option<&str> {
        self.text.get(Attr::Subject)
    }

    /// `time`: when it happened, as a UTC instant with nanoseconds.
    pub fn time(&self) -> Option<OffsetDateTime> {
        self.time
    }

    /// `datacontenttype`: the media type of the data.
    pub fn datacontenttype(&self) -> Option<&str> {
        self.text.get(Attr::DataContentType)
    }

    /// `dataschema`: a URI of the schema the data adheres to.
    pub fn dataschema(&self) -> Option<&str> {
        self.text.get(Attr::DataSchema)
    }

    /// `correlationid` extension: ties together the events of one business operation.
    pub fn correlationid(&self) -> Option<&str> {
        self.text.get(Attr::CorrelationId)
    }

    /// `topic` extension: where the event is published.
    pub fn topic(&self) -> Option<&str> {
        self.text.get(Attr::Topic)
    }

    /// `destination` extension: the intended recipient.
    pub fn destination(&self) -> Option<&str> {
        self.text.get(Attr::Destination)
    }

    /// All other extension attributes, by name.
    pub fn extensions(&self) -> &BTreeMap<String, ExtensionValue> {
        &self.extensions
    }

    /// One extension attribute, including `correlationid`, `topic` and `destination`.
    pub fn extension(&self, name: &str) -> Option<ExtensionValue> {
        match name {
            "correlationid" => self.string_extension(Attr::CorrelationId),
            "topic" => self.string_extension(Attr::Topic),
            "destination" => self.string_extension(Attr::Destination),
            _ => self.extensions.get(name).cloned(),
        }
    }

    /// The data, if any.
    pub fn data(&self) -> Option<&Data> {
        self.data.as_ref()
    }

    fn string_extension(&self, attr: Attr) -> Option<ExtensionValue> {
        let value = self.text.get(attr)?;
        Some(ExtensionValue::String(value.to_owned()))
    }

    /// An estimate of the event's size in bytes: its attributes and data.
    pub fn size(&self) -> usize {
        self.text.len()
            + self
                .extensions
                .iter()
                .map(|(k, v)| k.len() + ext_len(v))
                .sum::<usize>()
            + self.data.as_ref().map_or(0, Data::len)
    }
}

/// An event's attributes as the builder sets them, one owned value each, packed into an
/// [`Event`] once valid.
#[derive(Debug, Clone, Default)]
struct Parts {
    id: String,
    source: String,
    ty: String,
    subject: Option<String>,
    time: Option<OffsetDateTime>,
    datacontenttype: Option<String>,
    dataschema: Option<String>,
    correlationid: Option<String>,
    topic: Option<String>,
    destination: Option<String>,
    extensions: BTreeMap<String, ExtensionValue>,
    data: Option<Data>,
}

impl Parts {
    /// Checks every attribute against the CloudEvents rules.
    pub(crate) fn validate(&self) -> Result<(), ValidationError> {
        required("id", &self.id)?;
        required("source", &self.source)?;
        if !is_uri_reference(&self.source) {
            return Err(invalid(
                "source",
                Rule::NotUriReference(self.source.clone()),
            ));
        }
        required("type", &self.ty)?;
        optional("subject", &self.subject)?;
        optional("datacontenttype", &self.datacontenttype)?;
        if let Some(ct) = self
            .datacontenttype
            .as_ref()
            .filter(|ct| !is_media_type(ct))
        {
            return Err(invalid("datacontenttype", Rule::NotMediaType(ct.clone())));
        }
        optional("dataschema", &self.dataschema)?;
        if let Some(schema) = self.dataschema.as_ref().filter(|s| !is_uri(s)) {
            return Err(invalid("dataschema", Rule::NotUri(schema.clone())));
        }
        if let Some(t) = self.time.filter(|t| !timestamp::is_representable(*t)) {
            return Err(invalid("time", Rule::NotTimestamp(format!("{t}"))));
        }
        if let Some(Data::Json(json)) = &self.data {
            let depth = json.depth();
            if depth > MAX_JSON_DEPTH {
                let rule = Rule::TooDeep {
                    limit: MAX_JSON_DEPTH,
                    depth,
                };
                return Err(invalid("data", rule));
            }
        }
        optional("correlationid", &self.correlationid)?;
        optional("topic", &self.topic)?;
        optional("destination", &self.destination)?;
        for (name, value) in &self.extensions {
            if !is_extension_name(name)
                || matches!(name.as_str(), "correlationid" | "topic" | "destination")
            {
                return Err(invalid(name, Rule::InvalidExtensionName));
            }
            value.check().map_err(|rule| invalid(name, rule))?;
        }
        Ok(())
    }

    /// The event, text attributes packed.
    fn pack(self) -> Event {
        Event {
            text: TextAttributes::pack([
                Some(&self.id),
                Some(&self.source),
                Some(&self.ty),
                self.subject.as_deref(),
                self.datacontenttype.as_deref(),
                self.dataschema.as_deref(),
                self.correlationid.as_deref(),
                self.topic.as_deref(),
                self.destination.as_deref(),
            ]),
            time: self.time,
            extensions: self.extensions,
            data: self.data,
        }
    }
}

fn ext_len(value: &ExtensionValue) -> usize {
    match value {
        ExtensionValue::String(s) | ExtensionValue::Uri(s) | ExtensionValue::UriRef(s) => s.len(),
        ExtensionValue::Binary(b) => b.len(),
        _ => 8,
    }
}

fn invalid(attribute: &str, rule: Rule) -> ValidationError {
    ValidationError::new(attribute, rule)
}

fn required(attribute: &str, value: &str) -> Result<(), ValidationError> {
    if value.is_empty() {
        return Err(invalid(attribute, Rule::Empty));
    }
    check_chars(value).map_err(|rule| invalid(attribute, rule))
}

fn optional(attribute: &str, value: &Option<String>) -> Result<(), ValidationError> {
    value.as_deref().map_or(Ok(()), |v| required(attribute, v))
}

/// CloudEvents strings must not contain control characters (U+0000–U+001F,
/// U+007F–U+009F; PostgreSQL could not store U+0000 in any case) nor Unicode
/// noncharacters.
pub(crate) fn check_chars(value: &str) -> Result<(), Rule> {
    for c in value.chars() {
        if c.is_control() {
            return Err(Rule::ControlCharacter(c));
        }
        if is_noncharacter(c) {
            return Err(Rule::Noncharacter(c));
        }
    }
    Ok(())
}

/// The 66 code points Unicode sets aside as noncharacters: U+FDD0–U+FDEF and the last
/// two of every plane (U+FFFE, U+FFFF, U+1FFFE, …, U+10FFFF).
fn is_noncharacter(c: char) -> bool {
    let c = u32::from(c);
    (0xFDD0..=0xFDEF).contains(&c) || c & 0xFFFE == 0xFFFE
}

/// Builds a valid [`Event`]; [`build`](Self::build) reports the first rule broken.
///
/// `id`, `source` and `type` are required. Setters that can fail (serializing JSON data)
/// keep the error for `build` to report, so the chain stays readable.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct EventBuilder {
    parts: Parts,
    error: Option<ValidationError>,
}

impl EventBuilder {
    /// Sets `id` (required).
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.parts.id = id.into();
        self
    }

    /// Sets `source` (required, a URI-reference).
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.parts.source = source.into();
        self
    }

    /// Sets `type` (required).
    pub fn ty(mut self, ty: impl Into<String>) -> Self {
        self.parts.ty = ty.into();
        self
    }

    /// Sets `subject`, the stream the event belongs to.
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.parts.subject = Some(subject.into());
        self
    }

    /// Sets `time`; it is kept as a UTC instant with nanoseconds. A time whose UTC
    /// instant is outside years 0000 to 9999 is kept for [`build`](Self::build) to
    /// refuse as [`Rule::NotTimestamp`].
    pub fn time(mut self, time: OffsetDateTime) -> Self {
        match timestamp::to_utc(time) {
            Some(utc) => self.parts.time = Some(utc),
            None => {
                self.parts.time = Some(time);
                self.fail(invalid("time", Rule::NotTimestamp(format!("{time}"))));
            }
        }
        self
    }

    /// Sets `datacontenttype`.
    pub fn datacontenttype(mut self, content_type: impl Into<String>) -> Self {
        self.parts.datacontenttype = Some(content_type.into());
        self
    }

    /// Sets `dataschema` (an absolute URI).
    pub fn dataschema(mut self, schema: impl Into<String>) -> Self {
        self.parts.dataschema = Some(schema.into());
        self
    }

    /// Sets the `correlationid` extension.
    pub fn correlationid(mut self, correlation_id: impl Into<String>) -> Self {
        self.parts.correlationid = Some(correlation_id.into());
        self
    }

    /// Sets the `topic` extension.
    pub fn topic(mut self, topic: impl Into<String>) -> Self {
        self.parts.topic = Some(topic.into());
        self
    }

    /// Sets the `destination` extension.
    pub fn destination(mut self, destination: impl Into<String>) -> Self {
        self.parts.destination = Some(destination.into());
        self
    }

    /// Sets an extension attribute. `correlationid`, `topic` and `destination` go to
    /// their own attributes, and must be strings.
    pub fn extension(mut self, name: impl Into<String>, value: impl Into<ExtensionValue>) -> Self {
        let name = name.into();
        let value = value.into();
        let slot = match name.as_str() {
            "correlationid" => &mut self.parts.correlationid,
            "topic" => &mut self.parts.topic,
            "destination" => &mut self.parts.destination,
            _ => {
                self.parts.extensions.insert(name, value);
                return self;
            }
        };
        match value {
            ExtensionValue::String(s) => *slot = Some(s),
            _ => self.fail(invalid(
                &name,
                Rule::WrongType {
                    expected: "a string",
                },
            )),
        }
        self
    }

    /// Removes an extension attribute (or clears `correlationid`, `topic`, `destination`).
    pub fn remove_extension(mut self, name: &str) -> Self {
        match name {
            "correlationid" => self.parts.correlationid = None,
            "topic" => self.parts.topic = None,
            "destination" => self.parts.destination = None,
            _ => {
                self.parts.extensions.remove(name);
            }
        }
        self
    }

    /// Sets the data.
    pub fn data(mut self, data: impl Into<Data>) -> Self {
        self.parts.data = Some(data.into());
        self
    }

    /// Sets JSON data serialized from `value`, and `datacontenttype` to
    /// `application/json` unless one is set.
    pub fn json<T: serde::Serialize + ?Sized>(mut self, value: &T) -> Self {
        match Json::from_serialize(value) {
            Ok(json) => {
                self.parts.data = Some(Data::Json(json));
                if self.parts.datacontenttype.is_none() {
                    self.parts.datacontenttype = Some("application/json".to_owned());
                }
            }
            Err(e) => self.fail(invalid("data", Rule::NotJson(e.to_string()))),
        }
        self
    }

    /// Sets text data. Under a JSON `datacontenttype` (`application/json`, a `+json`
    /// suffix) the text is a JSON document, and [`build`](Self::build) keeps it as JSON
    /// data; without a `datacontenttype`, `build` sets [`TEXT_CONTENT_TYPE`]
    /// (`text/plain`), as [`json`](Self::json) sets `application/json`.
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.parts.data = Some(Data::Text(text.into()));
        self
    }

    /// Sets binary data.
    pub fn binary(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.parts.data = Some(Data::Binary(bytes.into()));
        self
    }

    /// Validates and returns the event.
    ///
    /// Text data under a JSON `datacontenttype` becomes JSON data, and is refused
    /// ([`Rule::NotJson`]) when it is not JSON: the CloudEvents JSON format writes such
    /// data as a JSON value, never as a string holding a document, and reads it back as
    /// JSON. For the same reason a JSON string under a `datacontenttype` that is not
    /// JSON becomes the text it holds: the format writes both as a JSON string, and reads
    /// that back as text (a JSON string that holds no text, a lone surrogate escape, is
    /// refused as [`Rule::NotJson`]). Text data without a `datacontenttype` gets
    /// [`TEXT_CONTENT_TYPE`]: the CloudEvents JSON format reads data without one as JSON
    /// (its §3.1), so such text would come back from it as a JSON string, a different
    /// event. JSON `null` data is no data: the CloudEvents JSON format cannot tell them
    /// apart, so the event model does not either.
    pub fn build(mut self) -> Result<Event, ValidationError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        if matches!(self.parts.data, Some(Data::Text(_))) && self.parts.datacontenttype.is_none() {
            self.parts.datacontenttype = Some(TEXT_CONTENT_TYPE.to_owned());
        }
        let declared_json = self
            .parts
            .datacontenttype
            .as_deref()
            .is_some_and(is_json_media_type);
        let declared_other = self.parts.datacontenttype.is_some() && !declared_json;
        match &mut self.parts.data {
            Some(Data::Text(text)) if declared_json => {
                let json = Json::from_string(std::mem::take(text))
                    .map_err(|e| invalid("data", Rule::NotJson(e.to_string())))?;
                self.parts.data = Some(Data::Json(json));
            }
            // A `Json` is trimmed: a string is one from its first character.
            Some(Data::Json(json)) if declared_other && json.as_str().starts_with('"') => {
                let text = json
                    .deserialize::<String>()
                    .map_err(|e| invalid("data", Rule::NotJson(e.to_string())))?;
                self.parts.data = Some(Data::Text(text));
            }
            _ => {}
        }
        if matches!(&self.parts.data, Some(Data::Json(json)) if json.as_str() == "null") {
            self.parts.data = None;
        }
        self.parts.validate()?;
        Ok(self.parts.pack())
    }

    fn fail(&mut self, error: ValidationError) {
        self.error.get_or_insert(error);
    }
}
