//! The CloudEvents 1.0 event and its builder.

use std::collections::BTreeMap;

use time::{OffsetDateTime, UtcOffset};

use crate::data::{Data, Json, MAX_JSON_DEPTH};
use crate::error::{Rule, ValidationError};
use crate::extension::ExtensionValue;
use crate::timestamp;
use crate::validate::{is_extension_name, is_media_type, is_uri, is_uri_reference};

/// The only CloudEvents version this store accepts.
pub const SPEC_VERSION: &str = "1.0";

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
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub(crate) id: String,
    pub(crate) source: String,
    pub(crate) ty: String,
    pub(crate) subject: Option<String>,
    pub(crate) time: Option<OffsetDateTime>,
    pub(crate) datacontenttype: Option<String>,
    pub(crate) dataschema: Option<String>,
    pub(crate) correlationid: Option<String>,
    pub(crate) topic: Option<String>,
    pub(crate) destination: Option<String>,
    pub(crate) extensions: BTreeMap<String, ExtensionValue>,
    pub(crate) data: Option<Data>,
}

impl Event {
    /// Starts building an event.
    pub fn builder() -> EventBuilder {
        EventBuilder::default()
    }

    /// Turns the event back into a builder, to change it.
    pub fn into_builder(self) -> EventBuilder {
        EventBuilder {
            event: self,
            error: None,
        }
    }

    /// `id`: identifies the event; unique per `source`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `source`: the context in which the event happened (a URI-reference).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// `specversion`: always `"1.0"`.
    pub fn specversion(&self) -> &'static str {
        SPEC_VERSION
    }

    /// `type`: what happened, e.g. `com.example.order.created`.
    pub fn ty(&self) -> &str {
        &self.ty
    }

    /// `subject`: what the event is about within its source; the store's stream key.
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }

    /// `time`: when it happened, as a UTC instant with nanoseconds.
    pub fn time(&self) -> Option<OffsetDateTime> {
        self.time
    }

    /// `datacontenttype`: the media type of the data.
    pub fn datacontenttype(&self) -> Option<&str> {
        self.datacontenttype.as_deref()
    }

    /// `dataschema`: a URI of the schema the data adheres to.
    pub fn dataschema(&self) -> Option<&str> {
        self.dataschema.as_deref()
    }

    /// `correlationid` extension: ties together the events of one business operation.
    pub fn correlationid(&self) -> Option<&str> {
        self.correlationid.as_deref()
    }

    /// `topic` extension: where the event is published.
    pub fn topic(&self) -> Option<&str> {
        self.topic.as_deref()
    }

    /// `destination` extension: the intended recipient.
    pub fn destination(&self) -> Option<&str> {
        self.destination.as_deref()
    }

    /// All other extension attributes, by name.
    pub fn extensions(&self) -> &BTreeMap<String, ExtensionValue> {
        &self.extensions
    }

    /// One extension attribute, including `correlationid`, `topic` and `destination`.
    pub fn extension(&self, name: &str) -> Option<ExtensionValue> {
        match name {
            "correlationid" => self.correlationid.clone().map(ExtensionValue::String),
            "topic" => self.topic.clone().map(ExtensionValue::String),
            "destination" => self.destination.clone().map(ExtensionValue::String),
            _ => self.extensions.get(name).cloned(),
        }
    }

    /// The data, if any.
    pub fn data(&self) -> Option<&Data> {
        self.data.as_ref()
    }

    /// An estimate of the event's size in bytes: its attributes and data.
    pub fn size(&self) -> usize {
        let opt = |s: &Option<String>| s.as_ref().map_or(0, String::len);
        self.id.len()
            + self.source.len()
            + self.ty.len()
            + opt(&self.subject)
            + opt(&self.datacontenttype)
            + opt(&self.dataschema)
            + opt(&self.correlationid)
            + opt(&self.topic)
            + opt(&self.destination)
            + self
                .extensions
                .iter()
                .map(|(k, v)| k.len() + ext_len(v))
                .sum::<usize>()
            + self.data.as_ref().map_or(0, Data::len)
    }

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
/// U+007F–U+009F); PostgreSQL could not store U+0000 in any case.
pub(crate) fn check_chars(value: &str) -> Result<(), Rule> {
    match value.chars().find(|c| c.is_control()) {
        Some(c) => Err(Rule::ControlCharacter(c)),
        None => Ok(()),
    }
}

/// Builds a valid [`Event`]; [`build`](Self::build) reports the first rule broken.
///
/// `id`, `source` and `type` are required. Setters that can fail (serializing JSON data)
/// keep the error for `build` to report, so the chain stays readable.
#[derive(Debug, Clone)]
#[must_use]
pub struct EventBuilder {
    event: Event,
    error: Option<ValidationError>,
}

impl Default for EventBuilder {
    fn default() -> Self {
        Self {
            event: Event {
                id: String::new(),
                source: String::new(),
                ty: String::new(),
                subject: None,
                time: None,
                datacontenttype: None,
                dataschema: None,
                correlationid: None,
                topic: None,
                destination: None,
                extensions: BTreeMap::new(),
                data: None,
            },
            error: None,
        }
    }
}

impl EventBuilder {
    /// Sets `id` (required).
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.event.id = id.into();
        self
    }

    /// Sets `source` (required, a URI-reference).
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.event.source = source.into();
        self
    }

    /// Sets `type` (required).
    pub fn ty(mut self, ty: impl Into<String>) -> Self {
        self.event.ty = ty.into();
        self
    }

    /// Sets `subject`, the stream the event belongs to.
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.event.subject = Some(subject.into());
        self
    }

    /// Sets `time`; it is kept as a UTC instant with nanoseconds.
    pub fn time(mut self, time: OffsetDateTime) -> Self {
        self.event.time = Some(time.to_offset(UtcOffset::UTC));
        self
    }

    /// Sets `datacontenttype`.
    pub fn datacontenttype(mut self, content_type: impl Into<String>) -> Self {
        self.event.datacontenttype = Some(content_type.into());
        self
    }

    /// Sets `dataschema` (an absolute URI).
    pub fn dataschema(mut self, schema: impl Into<String>) -> Self {
        self.event.dataschema = Some(schema.into());
        self
    }

    /// Sets the `correlationid` extension.
    pub fn correlationid(mut self, correlation_id: impl Into<String>) -> Self {
        self.event.correlationid = Some(correlation_id.into());
        self
    }

    /// Sets the `topic` extension.
    pub fn topic(mut self, topic: impl Into<String>) -> Self {
        self.event.topic = Some(topic.into());
        self
    }

    /// Sets the `destination` extension.
    pub fn destination(mut self, destination: impl Into<String>) -> Self {
        self.event.destination = Some(destination.into());
        self
    }

    /// Sets an extension attribute. `correlationid`, `topic` and `destination` go to
    /// their own attributes, and must be strings.
    pub fn extension(mut self, name: impl Into<String>, value: impl Into<ExtensionValue>) -> Self {
        let name = name.into();
        let value = value.into();
        let slot = match name.as_str() {
            "correlationid" => &mut self.event.correlationid,
            "topic" => &mut self.event.topic,
            "destination" => &mut self.event.destination,
            _ => {
                self.event.extensions.insert(name, value);
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
            "correlationid" => self.event.correlationid = None,
            "topic" => self.event.topic = None,
            "destination" => self.event.destination = None,
            _ => {
                self.event.extensions.remove(name);
            }
        }
        self
    }

    /// Sets the data.
    pub fn data(mut self, data: impl Into<Data>) -> Self {
        self.event.data = Some(data.into());
        self
    }

    /// Sets JSON data serialized from `value`, and `datacontenttype` to
    /// `application/json` unless one is set.
    pub fn json<T: serde::Serialize + ?Sized>(mut self, value: &T) -> Self {
        match Json::from_serialize(value) {
            Ok(json) => {
                self.event.data = Some(Data::Json(json));
                if self.event.datacontenttype.is_none() {
                    self.event.datacontenttype = Some("application/json".to_owned());
                }
            }
            Err(e) => self.fail(invalid("data", Rule::NotJson(e.to_string()))),
        }
        self
    }

    /// Sets text data.
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.event.data = Some(Data::Text(text.into()));
        self
    }

    /// Sets binary data.
    pub fn binary(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.event.data = Some(Data::Binary(bytes.into()));
        self
    }

    /// Validates and returns the event.
    ///
    /// JSON `null` data is no data: the CloudEvents JSON format cannot tell them apart,
    /// so the event model does not either.
    pub fn build(mut self) -> Result<Event, ValidationError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        if matches!(&self.event.data, Some(Data::Json(json)) if json.as_str() == "null") {
            self.event.data = None;
        }
        self.event.validate()?;
        Ok(self.event)
    }

    fn fail(&mut self, error: ValidationError) {
        self.error.get_or_insert(error);
    }
}
