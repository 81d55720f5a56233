//! The CloudEvents JSON format beyond the conformance vectors.

use eventstore_core::{Data, Error, Event, ExtensionType, ExtensionValue, JsonFormat, Rule};

fn parse(text: &str) -> Result<Event, Error> {
    JsonFormat::new().parse_event(text)
}

fn attribute_of(error: Error) -> (String, Rule) {
    match error {
        Error::Invalid(e) => (e.attribute().to_owned(), e.rule().clone()),
        other => panic!("expected a validation error, got {other}"),
    }
}

const BASE: &str = r#""specversion":"1.0","id":"1","source":"/s","type":"t""#;

#[test]
fn data_is_json_text_or_bytes_by_content_type() {
    let json = parse(&format!(r#"{{{BASE},"data":{{"b":2, "a":1}}}}"#)).unwrap();
    assert_eq!(
        json.data().unwrap().as_json().unwrap().as_str(),
        r#"{"b":2, "a":1}"#
    );
    let string_json = parse(&format!(r#"{{{BASE},"data":"x"}}"#)).unwrap();
    assert!(matches!(string_json.data(), Some(Data::Json(_))));
    let text = parse(&format!(
        r#"{{{BASE},"datacontenttype":"text/csv","data":"a,b"}}"#
    ))
    .unwrap();
    assert_eq!(text.data(), Some(&Data::Text("a,b".into())));
    let xml_object = parse(&format!(
        r#"{{{BASE},"datacontenttype":"text/xml","data":{{"a":1}}}}"#
    ))
    .unwrap();
    assert!(matches!(xml_object.data(), Some(Data::Json(_))));
    let bytes = parse(&format!(r#"{{{BASE},"data_base64":"AAH/"}}"#)).unwrap();
    assert_eq!(bytes.data(), Some(&Data::Binary(vec![0, 1, 255])));
    let null = parse(&format!(r#"{{{BASE},"data":null,"data_base64":null}}"#)).unwrap();
    assert_eq!(null.data(), None);
}

#[test]
fn writing_then_parsing_gives_the_same_event() {
    let event = Event::builder()
        .id("1")
        .source("/s")
        .ty("t")
        .subject("sub")
        .time(eventstore_core::timestamp::parse_rfc3339("2020-01-02T03:04:05.000000006Z").unwrap())
        .datacontenttype("application/octet-stream")
        .dataschema("https://example.com/schema")
        .correlationid("c")
        .topic("tp")
        .destination("d")
        .extension("count", 3)
        .extension("flag", false)
        .binary(vec![1, 2, 3])
        .build()
        .unwrap();
    let text = JsonFormat::new().write_event(&event);
    assert!(
        text.contains(r#""time":"2020-01-02T03:04:05.000000006Z""#),
        "{text}"
    );
    assert!(text.contains(r#""data_base64":"AQID""#), "{text}");
    assert_eq!(parse(&text).unwrap(), event);
    let batch = JsonFormat::new().write_batch(&[event.clone(), event.clone()]);
    assert_eq!(
        JsonFormat::new().parse_batch(&batch).unwrap(),
        vec![event.clone(), event]
    );
}

#[test]
fn malformed_documents_are_refused() {
    assert!(matches!(parse("[1]"), Err(Error::Json { index: None, .. })));
    assert!(matches!(parse("{"), Err(Error::Json { .. })));
    assert!(matches!(
        JsonFormat::new().parse_batch("{}"),
        Err(Error::Json { .. })
    ));
    let batch = format!(r#"[{{{BASE}}}, 7]"#);
    assert!(matches!(
        JsonFormat::new().parse_batch(&batch),
        Err(Error::Json { index: Some(1), .. })
    ));
    assert_eq!(JsonFormat::new().parse_batch("[]").unwrap(), vec![]);
}

#[test]
fn repeated_attributes_are_refused() {
    let err = parse(&format!(r#"{{{BASE},"id":"2"}}"#)).unwrap_err();
    assert!(
        err.is_invalid() && err.to_string().contains("more than once"),
        "{err}"
    );
}

#[test]
fn repeated_attributes_are_refused_among_many() {
    // Past the members looked for by a scan, in a set: a repeat is still found, early
    // or late, and an event of many distinct members is taken.
    let many: String = (0..2_000).map(|n| format!(r#","x{n}":{n}"#)).collect();
    let event = parse(&format!("{{{BASE}{many}}}")).unwrap();
    assert_eq!(event.extensions().len(), 2_000);
    for repeat in [r#","x5":0"#, r#","x1999":0"#, r#","id":"again""#] {
        let (name, rule) = attribute_of(parse(&format!("{{{BASE}{many}{repeat}}}")).unwrap_err());
        assert_eq!(rule, Rule::Repeated, "{repeat}");
        assert_eq!(
            format!(r#","{name}""#),
            repeat[..name.len() + 3],
            "{repeat}"
        );
    }
}

#[test]
fn extension_values_follow_the_type_system() {
    let (name, rule) = attribute_of(parse(&format!(r#"{{{BASE},"big":2147483648}}"#)).unwrap_err());
    assert_eq!(
        (name.as_str(), rule),
        ("big", Rule::IntegerOutOfRange("2147483648".into()))
    );
    let (name, _) = attribute_of(parse(&format!(r#"{{{BASE},"obj":{{}}}}"#)).unwrap_err());
    assert_eq!(name, "obj");
    let (name, _) = attribute_of(parse(&format!(r#"{{{BASE},"topic":1}}"#)).unwrap_err());
    assert_eq!(name, "topic");
    let ok = parse(&format!(
        r#"{{{BASE},"min":-2147483648,"yes":true,"s":"x"}}"#
    ))
    .unwrap();
    assert_eq!(ok.extensions()["min"], ExtensionValue::Integer(i32::MIN));
    assert_eq!(ok.extensions()["yes"], ExtensionValue::Boolean(true));
    let typed = JsonFormat::new().with_extension_type("when", ExtensionType::Timestamp);
    let (name, rule) = attribute_of(
        typed
            .parse_event(&format!(r#"{{{BASE},"when":"soon"}}"#))
            .unwrap_err(),
    );
    assert_eq!(
        (name.as_str(), rule),
        ("when", Rule::NotTimestamp("soon".into()))
    );
    let typed = JsonFormat::new().with_extension_type("raw", ExtensionType::Binary);
    let (_, rule) = attribute_of(
        typed
            .parse_event(&format!(r#"{{{BASE},"raw":"!!"}}"#))
            .unwrap_err(),
    );
    assert_eq!(rule, Rule::NotBase64);
}

#[test]
fn wrong_json_types_name_the_attribute() {
    for (doc, attribute) in [
        (
            r#"{"specversion":1,"id":"1","source":"/s","type":"t"}"#,
            "specversion",
        ),
        (
            r#"{"specversion":"1.0","id":"1","source":["/s"],"type":"t"}"#,
            "source",
        ),
        (
            r#"{"specversion":"1.0","id":"1","source":"/s","type":"t","time":5}"#,
            "time",
        ),
        (
            r#"{"specversion":"1.0","id":"1","source":"/s","type":"t","data_base64":5}"#,
            "data_base64",
        ),
        (
            r#"{"specversion":"1.0","id":"1","source":"/s","type":"t","subject":null,"id":"2"}"#,
            "id",
        ),
    ] {
        let (name, _) = attribute_of(parse(doc).unwrap_err());
        assert_eq!(name, attribute, "{doc}");
    }
}

#[test]
fn strings_that_do_not_decode_say_why() {
    // A lone UTF-16 surrogate is a JSON string that is no Unicode text: the error must
    // say what is wrong with it, not that it should have been a string.
    let doc = r#"{"specversion":"1.0","id":"1","source":"/s","type":"t","subject":"\ud800"}"#;
    let (name, rule) = attribute_of(parse(doc).unwrap_err());
    assert_eq!(name, "subject");
    assert!(
        matches!(&rule, Rule::NotJson(message) if message.contains("escape")),
        "{rule:?}"
    );
}

#[test]
fn text_declared_json_is_written_as_a_json_value() {
    // JSON format 1.0.2, 3.1: data whose datacontenttype declares JSON "MUST be stored
    // directly as a JSON value, rather than as an encoded JSON document represented as a
    // string".
    let base = || Event::builder().id("1").source("/s").ty("t");
    let event = base()
        .datacontenttype("application/vnd.order+json; v=1")
        .text(r#"{"total":5}"#)
        .build()
        .unwrap();
    let written = JsonFormat::new().write_event(&event);
    assert!(written.ends_with(r#""data":{"total":5}}"#), "{written}");
    assert_eq!(
        parse(&written).unwrap(),
        event,
        "and it reads back as it was"
    );

    let error = base()
        .text("not JSON")
        .datacontenttype("application/json")
        .build()
        .unwrap_err();
    assert_eq!(error.attribute(), "data");
    assert!(matches!(error.rule(), Rule::NotJson(_)), "{error}");
    // Text under any other content type, or none, stays text.
    let text = base()
        .datacontenttype("text/csv")
        .text("a,b")
        .build()
        .unwrap();
    assert_eq!(text.data(), Some(&Data::Text("a,b".into())));
    let plain = base().text("not JSON").build().unwrap();
    assert_eq!(plain.data(), Some(&Data::Text("not JSON".into())));
}

#[test]
fn a_number_past_f64_is_an_integer_out_of_range() {
    // Valid JSON, which serde_json's `Value` cannot hold: not "invalid JSON".
    let (name, rule) = attribute_of(parse(&format!(r#"{{{BASE},"big":1e400}}"#)).unwrap_err());
    assert_eq!(
        (name.as_str(), rule),
        ("big", Rule::IntegerOutOfRange("1e400".into()))
    );
    let typed = JsonFormat::new().with_extension_type("when", ExtensionType::Timestamp);
    let (_, rule) = attribute_of(
        typed
            .parse_event(&format!(r#"{{{BASE},"when":-1e400}}"#))
            .unwrap_err(),
    );
    assert_eq!(
        rule,
        Rule::WrongType {
            expected: "an RFC 3339 timestamp string"
        }
    );
}
