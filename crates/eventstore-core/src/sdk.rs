//! Conversions between [`Event`] and the CloudEvents SDK's
//! [`cloudevents::Event`] (the `cloudevents-sdk` crate), for services that already build
//! or receive their events with the SDK.
//!
//! ```
//! use cloudevents::{EventBuilder, EventBuilderV10};
//! use eventstore_core::Event;
//!
//! let sdk = EventBuilderV10::new()
//!     .id("order-1-created")
//!     .source("/shop/orders")
//!     .ty("com.example.order.created")
//!     .subject("order-1")
//!     .extension("correlationid", "checkout-7")
//!     .data("application/json", serde_json::json!({ "total": 42 }))
//!     .build()
//!     .expect("a valid SDK event");
//! let event = Event::try_from(sdk)?;
//! assert_eq!(event.correlationid(), Some("checkout-7"));
//!
//! let back = cloudevents::Event::try_from(&event)?;
//! assert_eq!(back.extension("correlationid").map(ToString::to_string).as_deref(), Some("checkout-7"));
//! # Ok::<(), eventstore_core::ValidationError>(())
//! ```
//!
//! What each side keeps of the other:
//!
//! - **Into the store** ([`TryFrom<cloudevents::Event>`](Event#impl-TryFrom<Event>-for-Event)):
//!   every attribute, validated as any event is ([`ValidationError`] names what was
//!   wrong). `correlationid`, `topic` and `destination` extensions become the store's
//!   attributes of those names and must be strings. An SDK `Integer` extension must fit
//!   the CloudEvents `Integer` (32 bits); the SDK holds 64. JSON data is kept as the SDK
//!   holds it (a `serde_json::Value`); string data is text, which under a JSON
//!   `datacontenttype` is the JSON document it holds (as the SDK sends it in an HTTP
//!   body, and as [`EventBuilder::text`](crate::EventBuilder::text) takes it) and must
//!   be JSON ([`Rule::NotJson`]), and without a `datacontenttype` gets
//!   [`TEXT_CONTENT_TYPE`](crate::TEXT_CONTENT_TYPE) (`text/plain`), as the builder
//!   gives any text; bytes are binary data. Only CloudEvents 1.0 events are stored: a
//!   0.3 event is refused ([`Rule::UnsupportedSpecVersion`]).
//! - **Out of the store** ([`TryFrom<&Event>`](cloudevents::Event#impl-TryFrom<%26Event>-for-Event)):
//!   the SDK knows three extension types, so the store's `URI`, `URI-reference`,
//!   `Timestamp` and `Binary` extensions become strings in their canonical form (as the
//!   CloudEvents JSON format writes them), and `correlationid`, `topic` and
//!   `destination` string extensions. The SDK keeps `dataschema` as a parsed URL, which
//!   normalizes it (`HTTP://Example.com` becomes `http://example.com/`), and JSON data
//!   as a `serde_json::Value`, which keeps numbers only to `f64`, `i64` or `u64`
//!   precision and a duplicated object key once. A `dataschema` the URL parser refuses
//!   is [`Rule::NotUri`].

/// The SDK itself, at the version these conversions are built against.
pub use cloudevents;

use cloudevents::Data as SdkData;
use cloudevents::event::{
    AttributesReader as _, AttributesWriter as _, ExtensionValue as SdkExtension, SpecVersion,
    TryIntoTime as _, TryIntoUrl as _,
};

use crate::error::{Rule, ValidationError};
use crate::extension::ExtensionValue;
use crate::{Data, Event, Json, timestamp};

impl TryFrom<cloudevents::Event> for Event {
    type Error = ValidationError;

    /// Validates an SDK event as the store's event (see the [module](self) for what
    /// maps to what).
    fn try_from(mut sdk: cloudevents::Event) -> Result<Self, Self::Error> {
        if sdk.specversion() != SpecVersion::V10 {
            return Err(ValidationError::new(
                "specversion",
                Rule::UnsupportedSpecVersion(sdk.specversion().to_string()),
            ));
        }
        let mut builder = Event::builder()
            .id(sdk.id())
            .source(sdk.source().as_str())
            .ty(sdk.ty());
        if let Some(subject) = sdk.subject() {
            builder = builder.subject(subject);
        }
        if let Some(time) = sdk.time() {
            // The SDK's own RFC 3339 form (a leap second as `:60`), read as the JSON
            // format reads a time.
            let text = time.to_rfc3339();
            let time = timestamp::parse_rfc3339(&text)
                .ok_or_else(|| ValidationError::new("time", Rule::NotTimestamp(text)))?;
            builder = builder.time(time);
        }
        for (name, value) in sdk.iter_extensions() {
            let value = match value {
                SdkExtension::String(s) => ExtensionValue::String(s.clone()),
                SdkExtension::Boolean(b) => ExtensionValue::Boolean(*b),
                SdkExtension::Integer(i) => {
                    ExtensionValue::Integer(i32::try_from(*i).map_err(|_| {
                        ValidationError::new(name, Rule::IntegerOutOfRange(i.to_string()))
                    })?)
                }
            };
            builder = builder.extension(name, value);
        }
        let (content_type, schema, data) = sdk.take_data();
        if let Some(schema) = schema {
            builder = builder.dataschema(schema.as_str());
        }
        if let Some(content_type) = content_type {
            builder = builder.datacontenttype(content_type);
        }
        let data = match data {
            None => None,
            Some(SdkData::Json(value)) => Some(Data::Json(json(&value)?)),
            // Under a JSON `datacontenttype` the builder takes text as the JSON document.
            Some(SdkData::String(text)) => Some(Data::Text(text)),
            Some(SdkData::Binary(bytes)) => Some(Data::Binary(bytes)),
        };
        if let Some(data) = data {
            builder = builder.data(data);
        }
        builder.build()
    }
}

/// JSON data serialized from a value the SDK holds.
fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<Json, ValidationError> {
    Json::from_serialize(value)
        .map_err(|e| ValidationError::new("data", Rule::NotJson(e.to_string())))
}

impl TryFrom<&Event> for cloudevents::Event {
    type Error = ValidationError;

    /// The event as the SDK holds it (see the [module](self) for what it keeps).
    fn try_from(event: &Event) -> Result<Self, Self::Error> {
        let time = event
            .time()
            .map(|time| {
                let text = timestamp::format_rfc3339(time);
                text.as_str()
                    .into_time()
                    .map_err(|_| ValidationError::new("time", Rule::NotTimestamp(text.clone())))
            })
            .transpose()?;
        let schema = event
            .dataschema()
            .map(|schema| {
                schema.into_url().map_err(|_| {
                    ValidationError::new("dataschema", Rule::NotUri(schema.to_owned()))
                })
            })
            .transpose()?;
        // The default SDK event is a 1.0 event; every attribute is set below.
        let mut sdk = cloudevents::Event::default();
        sdk.set_id(event.id());
        sdk.set_source(event.source());
        sdk.set_type(event.ty());
        sdk.set_subject(event.subject());
        sdk.set_time(time);
        sdk.set_datacontenttype(event.datacontenttype());
        sdk.set_dataschema(schema);
        let strings = [
            ("correlationid", event.correlationid()),
            ("topic", event.topic()),
            ("destination", event.destination()),
        ];
        for (name, value) in strings {
            if let Some(value) = value {
                sdk.set_extension(name, value);
            }
        }
        for (name, value) in event.extensions() {
            let value = match value {
                ExtensionValue::Integer(i) => SdkExtension::Integer(i64::from(*i)),
                ExtensionValue::Boolean(b) => SdkExtension::Boolean(*b),
                other => SdkExtension::String(other.to_string()),
            };
            sdk.set_extension(name, value);
        }
        if let Some(data) = event.data() {
            sdk.set_data_unchecked(match data {
                Data::Json(json) => SdkData::Json(json.to_value()),
                Data::Text(text) => SdkData::String(text.clone()),
                Data::Binary(bytes) => SdkData::Binary(bytes.clone()),
            });
        }
        Ok(sdk)
    }
}

impl TryFrom<Event> for cloudevents::Event {
    type Error = ValidationError;

    /// The event as the SDK holds it (see the [module](self) for what it keeps).
    fn try_from(event: Event) -> Result<Self, Self::Error> {
        Self::try_from(&event)
    }
}
