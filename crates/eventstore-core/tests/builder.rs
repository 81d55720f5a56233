//! The builder refuses every invalid attribute with an error naming it and the rule.

use eventstore_core::time::{Date, Month, OffsetDateTime, Time};
use eventstore_core::{Data, Event, EventBuilder, ExtensionValue, Rule};

fn valid() -> EventBuilder {
    Event::builder().id("1").source("/s").ty("t")
}

fn refused(builder: EventBuilder) -> (String, Rule) {
    let error = builder.build().expect_err("must be refused");
    assert!(error.to_string().contains(error.attribute()), "{error}");
    (error.attribute().to_owned(), error.rule().clone())
}

#[test]
fn required_attributes_must_be_present_and_non_empty() {
    assert_eq!(
        refused(Event::builder().source("/s").ty("t")),
        ("id".into(), Rule::Empty)
    );
    assert_eq!(
        refused(Event::builder().id("1").ty("t")),
        ("source".into(), Rule::Empty)
    );
    assert_eq!(
        refused(Event::builder().id("1").source("/s")),
        ("type".into(), Rule::Empty)
    );
    assert_eq!(
        refused(valid().subject("")),
        ("subject".into(), Rule::Empty)
    );
    assert_eq!(
        refused(valid().correlationid("")),
        ("correlationid".into(), Rule::Empty)
    );
}

#[test]
fn attribute_syntax_is_checked() {
    assert!(
        matches!(refused(valid().source("not a uri")), (a, Rule::NotUriReference(_)) if a == "source")
    );
    assert!(
        matches!(refused(valid().dataschema("relative/x")), (a, Rule::NotUri(_)) if a == "dataschema")
    );
    assert!(
        matches!(refused(valid().datacontenttype("json")), (a, Rule::NotMediaType(_)) if a == "datacontenttype")
    );
    assert_eq!(
        refused(valid().id("a\u{0}b")),
        ("id".into(), Rule::ControlCharacter('\0'))
    );
    assert_eq!(
        refused(valid().ty("line\nbreak")),
        ("type".into(), Rule::ControlCharacter('\n'))
    );
    let far_past = OffsetDateTime::new_utc(
        Date::from_calendar_date(-1, Month::January, 1).unwrap(),
        Time::MIDNIGHT,
    );
    assert!(matches!(refused(valid().time(far_past)), (a, Rule::NotTimestamp(_)) if a == "time"));
}

#[test]
fn extensions_are_checked_by_name_and_type() {
    assert_eq!(
        refused(valid().extension("Bad", "x")),
        ("Bad".into(), Rule::InvalidExtensionName)
    );
    assert_eq!(
        refused(valid().extension("data", "x")),
        ("data".into(), Rule::InvalidExtensionName)
    );
    assert_eq!(
        refused(valid().extension("id", "x")),
        ("id".into(), Rule::InvalidExtensionName)
    );
    assert!(matches!(
        refused(valid().extension("link", ExtensionValue::Uri("/relative".into()))),
        (_, Rule::NotUri(_))
    ));
    assert!(matches!(
        refused(valid().extension("link", ExtensionValue::UriRef("a b".into()))),
        (_, Rule::NotUriReference(_))
    ));
    assert_eq!(
        refused(valid().extension("topic", 5)),
        (
            "topic".into(),
            Rule::WrongType {
                expected: "a string"
            }
        )
    );
    // The first-class extensions are routed to their attributes.
    let event = valid().extension("correlationid", "c-1").build().unwrap();
    assert_eq!(event.correlationid(), Some("c-1"));
    assert!(event.extensions().is_empty());
    assert_eq!(
        event.extension("correlationid"),
        Some(ExtensionValue::String("c-1".into()))
    );
}

#[test]
fn json_data_sets_its_content_type_unless_given() {
    let event = valid().json(&serde_json::json!({"a": 1})).build().unwrap();
    assert_eq!(event.datacontenttype(), Some("application/json"));
    let event = valid()
        .datacontenttype("application/vnd.x+json")
        .json(&[1, 2])
        .build()
        .unwrap();
    assert_eq!(event.datacontenttype(), Some("application/vnd.x+json"));
    let json = event.data().and_then(Data::as_json).unwrap();
    assert_eq!(json.deserialize::<Vec<i32>>().unwrap(), [1, 2]);
}

#[test]
fn times_keep_nanoseconds_and_become_utc() {
    let t = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789)
        .unwrap()
        .to_offset(eventstore_core::time::UtcOffset::from_hms(5, 30, 0).unwrap());
    let event = valid().time(t).build().unwrap();
    assert_eq!(event.time(), Some(t));
    assert_eq!(
        event.time().unwrap().offset(),
        eventstore_core::time::UtcOffset::UTC
    );
    assert_eq!(event.time().unwrap().nanosecond(), 123_456_789);
}

#[test]
fn into_builder_changes_an_event() {
    let event = valid().subject("a").extension("x", 1).build().unwrap();
    let changed = event
        .clone()
        .into_builder()
        .subject("b")
        .remove_extension("x")
        .build()
        .unwrap();
    assert_eq!(changed.subject(), Some("b"));
    assert!(changed.extensions().is_empty());
    assert_ne!(changed, event);
}

#[test]
fn every_text_attribute_reads_back_as_set_and_survives_a_round_trip_through_the_builder() {
    let event = valid()
        .subject("order-é")
        .datacontenttype("text/plain")
        .dataschema("https://example.com/schema")
        .correlationid("c-1")
        .topic("orders")
        .destination("billing")
        .build()
        .unwrap();
    assert_eq!(event.id(), "1");
    assert_eq!(event.source(), "/s");
    assert_eq!(event.ty(), "t");
    assert_eq!(event.subject(), Some("order-é"));
    assert_eq!(event.datacontenttype(), Some("text/plain"));
    assert_eq!(event.dataschema(), Some("https://example.com/schema"));
    assert_eq!(event.correlationid(), Some("c-1"));
    assert_eq!(event.topic(), Some("orders"));
    assert_eq!(event.destination(), Some("billing"));
    assert_eq!(event.clone().into_builder().build().unwrap(), event);

    // Values that concatenate to the same text are still different events.
    let split = |subject: &str, topic: &str| valid().subject(subject).topic(topic).build();
    assert_ne!(split("ab", "c").unwrap(), split("a", "bc").unwrap());
    // An absent attribute is not an empty one, and the others stay where they were.
    let without = event
        .clone()
        .into_builder()
        .remove_extension("topic")
        .build()
        .unwrap();
    assert_eq!(without.topic(), None);
    assert_eq!(without.destination(), Some("billing"));
    assert_eq!(without.correlationid(), Some("c-1"));
}

#[test]
fn noncharacters_are_refused_in_attributes_but_not_in_data() {
    // CloudEvents 1.0.2, "Type System": a String must not contain the code points
    // Unicode identifies as noncharacters.
    for (builder, attribute, found) in [
        (valid().subject("a\u{FFFE}"), "subject", "U+FFFE"),
        (valid().id("\u{FDD0}"), "id", "U+FDD0"),
        (valid().ty("t\u{FDEF}"), "type", "U+FDEF"),
        (
            valid().correlationid("\u{1FFFF}"),
            "correlationid",
            "U+1FFFF",
        ),
        (valid().extension("note", "x\u{10FFFF}"), "note", "U+10FFFF"),
    ] {
        let error = builder.build().expect_err(attribute);
        assert_eq!(error.attribute(), attribute);
        assert!(
            error
                .to_string()
                .contains(&format!("noncharacters, found {found}")),
            "{error}"
        );
    }
    let doc = r#"{"specversion":"1.0","id":"1","source":"/s","type":"t","topic":"\uffff"}"#;
    let error = doc.parse::<Event>().expect_err("a noncharacter in JSON");
    let invalid = error.as_validation().expect("a validation error");
    assert_eq!(invalid.attribute(), "topic");
    // Their neighbours are characters, and data is not an attribute.
    let event = valid()
        .subject("\u{FDCF}\u{FDF0}\u{FFFD}\u{10FFFD}")
        .text("\u{FFFF}\u{FDD0}")
        .build();
    assert!(event.is_ok(), "{event:?}");
}
