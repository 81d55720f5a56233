//! proptest strategies for valid events, for property tests of the JSON format and of
//! store round trips.

use eventstore_core::time::OffsetDateTime;
use eventstore_core::{Data, Event, ExtensionType, ExtensionValue, Json, JsonFormat};
use proptest::prelude::*;

/// Strings CloudEvents allows in attributes: any Unicode but control characters and
/// noncharacters.
fn text() -> impl Strategy<Value = String> {
    "[^\\p{Cc}\\p{Noncharacter_Code_Point}]{1,24}"
}

/// URI-reference-safe strings.
fn uri_ref() -> impl Strategy<Value = String> {
    "(/([a-zA-Z0-9._~!$&'()*+,;=:@-]|%[0-9A-F]{2}){0,12}){1,3}(\\?[a-z0-9=&]{0,8})?(#[a-z0-9]{0,6})?"
}

fn instant() -> impl Strategy<Value = OffsetDateTime> {
    // Years 0000 to 9999, any nanosecond.
    (
        -62_167_219_200i64..253_402_300_799i64,
        0u32..1_000_000_000u32,
    )
        .prop_map(|(secs, ns)| {
            OffsetDateTime::from_unix_timestamp(secs).expect("in range")
                + eventstore_core::time::Duration::nanoseconds(i64::from(ns))
        })
}

fn extension_value() -> impl Strategy<Value = ExtensionValue> {
    prop_oneof![
        text().prop_map(ExtensionValue::String),
        any::<i32>().prop_map(ExtensionValue::Integer),
        any::<bool>().prop_map(ExtensionValue::Boolean),
        uri_ref().prop_map(|p| ExtensionValue::Uri(format!("https://example.com{p}"))),
        uri_ref().prop_map(ExtensionValue::UriRef),
        instant().prop_map(ExtensionValue::Timestamp),
        proptest::collection::vec(any::<u8>(), 0..32).prop_map(ExtensionValue::Binary),
    ]
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        (-1e9f64..1e9).prop_map(serde_json::Value::from),
        "\\PC{0,16}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            proptest::collection::btree_map("\\PC{0,8}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Any content type for data that may be JSON: none (which the JSON format reads as
/// JSON), JSON ones, and others.
fn content_type() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![
        Just(None),
        Just(Some("application/json")),
        Just(Some("application/vnd.example+json; v=1")),
        Just(Some("text/plain; charset=utf-8")),
        Just(Some("application/octet-stream")),
    ]
}

/// A content type for text: any but a JSON one, under which text must be a JSON
/// document.
fn text_content_type() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![
        Just(None),
        Just(Some("text/plain; charset=utf-8")),
        Just(Some("text/csv")),
        Just(Some("application/octet-stream")),
    ]
}

/// Data of each kind under content types of each kind, or none.
fn data() -> impl Strategy<Value = Option<(Data, Option<&'static str>)>> {
    prop_oneof![
        Just(None),
        (json_value(), content_type()).prop_map(|(v, ct)| Some((Data::Json(Json::from(v)), ct))),
        ("\\PC{0,64}", text_content_type()).prop_map(|(t, ct)| Some((Data::Text(t), ct))),
        (
            proptest::collection::vec(any::<u8>(), 0..128),
            content_type()
        )
            .prop_map(|(b, ct)| Some((Data::Binary(b), ct))),
    ]
}

/// Any valid event: every optional attribute present or not, up to four extensions of
/// any type, data of any kind.
pub fn event() -> impl Strategy<Value = Event> {
    let ids = (text(), uri_ref(), text(), proptest::option::of(text()));
    let optional = (
        proptest::option::of(instant()),
        proptest::option::of(uri_ref().prop_map(|p| format!("https://schemas.example.com{p}"))),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(text()),
    );
    let extensions = proptest::collection::btree_map("[a-z][a-z0-9]{0,9}", extension_value(), 0..4);
    (ids, optional, extensions, data()).prop_map(
        |((id, source, ty, subject), (time, schema, corr, topic, dest), extensions, data)| {
            let mut b = Event::builder().id(id).source(source).ty(ty);
            if let Some(s) = subject {
                b = b.subject(s);
            }
            if let Some(t) = time {
                b = b.time(t);
            }
            if let Some(s) = schema {
                b = b.dataschema(s);
            }
            if let Some(c) = corr {
                b = b.correlationid(c);
            }
            if let Some(t) = topic {
                b = b.topic(t);
            }
            if let Some(d) = dest {
                b = b.destination(d);
            }
            for (name, value) in extensions {
                // Names the specification reserves are not extensions.
                if eventstore_core::validate::is_extension_name(&name) {
                    b = b.extension(name, value);
                }
            }
            if let Some((data, content_type)) = data {
                if let Some(ct) = content_type {
                    b = b.datacontenttype(ct);
                }
                b = b.data(data);
            }
            b.build().expect("the strategy makes valid events")
        },
    )
}

/// The JSON format with the types of `event`'s extensions declared, as a reader that
/// knows the event's schema would have it.
pub fn format_for(event: &Event) -> JsonFormat {
    event
        .extensions()
        .iter()
        .fold(JsonFormat::new(), |format, (name, value)| {
            let declared: ExtensionType = value.kind();
            format.with_extension_type(name.clone(), declared)
        })
}
