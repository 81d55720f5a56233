//! The `cloudevents-sdk` feature: events converted to and from the CloudEvents SDK's
//! `cloudevents::Event`, and SDK events stored and read back.

use eventstore_sql::sdk::cloudevents::event::ExtensionValue as SdkExtension;
use eventstore_sql::sdk::cloudevents::{
    self, AttributesReader as _, AttributesWriter as _, Data as SdkData, EventBuilder as _,
    EventBuilderV03, EventBuilderV10,
};
use eventstore_sql::{Event, EventStore as _, ExtensionValue, Rule, SqliteEventStore};
use serde_json::json;

fn at(text: &str) -> eventstore_sql::time::OffsetDateTime {
    eventstore_sql::timestamp::parse_rfc3339(text).unwrap()
}

fn full_event() -> Event {
    Event::builder()
        .id("order-1-created")
        .source("/shop/orders")
        .ty("com.example.order.created")
        .subject("order-1")
        .time(at("2026-11-29T00:59:01.123456789Z"))
        .dataschema("https://example.com/schemas/order")
        .correlationid("checkout-7")
        .topic("orders")
        .destination("billing")
        .extension("attempt", 3)
        .extension("urgent", true)
        .extension("region", "eu-west")
        .json(&json!({ "total": 42.5, "items": [1, 2, 3] }))
        .build()
        .unwrap()
}

#[test]
fn every_valid_conformance_vector_reads_the_same_through_the_sdk() {
    for vector in eventstore_testkit::vectors::valid() {
        let ours: Event = vector.event.parse().unwrap();
        let sdk: cloudevents::Event = serde_json::from_str(&vector.event)
            .unwrap_or_else(|e| panic!("{}: the SDK reads it: {e}", vector.id));
        let converted = Event::try_from(sdk)
            .unwrap_or_else(|e| panic!("{}: the store takes it: {e}", vector.id));
        assert_eq!(converted, ours, "{}", vector.id);
    }
}

#[test]
fn an_event_goes_to_the_sdk_and_back_unchanged() {
    let text = full_event()
        .into_builder()
        .datacontenttype("text/plain")
        .text("hello")
        .build()
        .unwrap();
    let binary = full_event()
        .into_builder()
        .datacontenttype("application/octet-stream")
        .binary(vec![0, 159, 255])
        .build()
        .unwrap();
    let bare = Event::builder()
        .id("1")
        .source("s")
        .ty("t")
        .build()
        .unwrap();
    for event in [full_event(), text, binary, bare] {
        let sdk = cloudevents::Event::try_from(&event).unwrap();
        assert_eq!(Event::try_from(sdk).unwrap(), event);
    }
}

#[test]
fn the_sdk_gets_every_attribute_and_strings_for_the_types_it_lacks() {
    let event = full_event()
        .into_builder()
        .extension(
            "callback",
            ExtensionValue::Uri("https://example.com/cb".into()),
        )
        .extension("due", ExtensionValue::Timestamp(at("2026-12-01T08:00:00Z")))
        .extension("blob", ExtensionValue::Binary(vec![1, 2, 3]))
        .build()
        .unwrap();
    let sdk = cloudevents::Event::try_from(event).unwrap();
    assert_eq!(sdk.id(), "order-1-created");
    assert_eq!(sdk.source(), "/shop/orders");
    assert_eq!(sdk.ty(), "com.example.order.created");
    assert_eq!(sdk.subject(), Some("order-1"));
    assert_eq!(
        sdk.time().unwrap().to_rfc3339(),
        "2026-11-29T00:59:01.123456789+00:00"
    );
    assert_eq!(sdk.datacontenttype(), Some("application/json"));
    assert_eq!(
        sdk.dataschema().map(|url| url.as_str()),
        Some("https://example.com/schemas/order")
    );
    let string = |s: &str| Some(SdkExtension::String(s.to_owned()));
    let extension = |name| sdk.extension(name).cloned();
    assert_eq!(extension("correlationid"), string("checkout-7"));
    assert_eq!(extension("topic"), string("orders"));
    assert_eq!(extension("destination"), string("billing"));
    assert_eq!(extension("attempt"), Some(SdkExtension::Integer(3)));
    assert_eq!(extension("urgent"), Some(SdkExtension::Boolean(true)));
    assert_eq!(extension("callback"), string("https://example.com/cb"));
    assert_eq!(extension("due"), string("2026-12-01T08:00:00Z"));
    assert_eq!(extension("blob"), string("AQID"));
    assert_eq!(
        sdk.data(),
        Some(&SdkData::Json(json!({ "total": 42.5, "items": [1, 2, 3] })))
    );
}

#[test]
fn string_data_under_a_json_content_type_is_the_json_document_it_holds() {
    let with_string = |content_type: &str, data: &str| {
        let sdk = EventBuilderV10::new()
            .id("1")
            .source("s")
            .ty("t")
            .data(content_type, data)
            .build()
            .unwrap();
        Event::try_from(sdk)
    };
    let event = with_string("application/cloudevents+json", r#"{"total":5}"#).unwrap();
    let data = event
        .data()
        .and_then(eventstore_sql::Data::as_json)
        .unwrap();
    assert_eq!(data.to_value(), json!({ "total": 5 }));

    let error = with_string("application/json", "not json").unwrap_err();
    assert_eq!(error.attribute(), "data");
    assert!(matches!(error.rule(), Rule::NotJson(_)));

    assert_eq!(
        with_string("text/plain", "plain").unwrap().data(),
        Some(&eventstore_sql::Data::Text("plain".to_owned()))
    );
}

#[test]
fn sdk_events_the_store_refuses_name_what_was_wrong() {
    let sdk = || {
        EventBuilderV10::new()
            .id("1")
            .source("s")
            .ty("t")
            .build()
            .unwrap()
    };
    let refused = |event: cloudevents::Event| Event::try_from(event).unwrap_err();

    let mut wide = sdk();
    wide.set_extension("count", 1_i64 << 40);
    let error = refused(wide);
    assert_eq!(error.attribute(), "count");
    assert_eq!(
        error.rule(),
        &Rule::IntegerOutOfRange("1099511627776".to_owned())
    );

    let mut flag = sdk();
    flag.set_extension("correlationid", true);
    let error = refused(flag);
    assert_eq!(error.attribute(), "correlationid");
    assert!(matches!(error.rule(), Rule::WrongType { .. }));

    let mut unnamed = sdk();
    unnamed.set_extension("Not-Valid", "x");
    assert_eq!(refused(unnamed).rule(), &Rule::InvalidExtensionName);

    let mut sourceless = sdk();
    sourceless.set_source("");
    let error = refused(sourceless);
    assert_eq!(error.attribute(), "source");
    assert_eq!(error.rule(), &Rule::Empty);

    let old = EventBuilderV03::new()
        .id("1")
        .source("s")
        .ty("t")
        .build()
        .unwrap();
    let error = refused(old);
    assert_eq!(error.attribute(), "specversion");
    assert_eq!(
        error.rule(),
        &Rule::UnsupportedSpecVersion("0.3".to_owned())
    );
}

#[tokio::test]
async fn sdk_events_are_stored_and_read_back_as_they_were_sent() {
    let store = SqliteEventStore::open_in_memory().await.unwrap();
    let sent = EventBuilderV10::new()
        .id("order-2-created")
        .source("/shop/orders")
        .ty("com.example.order.created")
        .subject("order-2")
        .time("2026-11-29T01:00:00.5Z")
        .extension("correlationid", "checkout-8")
        .extension("attempt", 2_i64)
        .data_with_schema(
            "application/json",
            "https://example.com/schemas/order",
            json!({ "total": 7 }),
        )
        .build()
        .unwrap();
    store
        .append(vec![Event::try_from(sent.clone()).unwrap()])
        .await
        .unwrap();
    let stored = store
        .get("/shop/orders", "order-2-created")
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(stored.correlationid(), Some("checkout-8"));
    let read = cloudevents::Event::try_from(stored.event()).unwrap();
    assert_eq!(read, sent);
}
