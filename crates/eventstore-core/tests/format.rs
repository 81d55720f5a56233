//! The CloudEvents JSON format beyond the conformance vectors.

use eventstore_core::{
    Data, Error, Event, ExtensionType, ExtensionValue, JsonFormat, Rule, TEXT_CONTENT_TYPE,
};

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
fn text_without_a_content_type_gets_text_plain_and_reads_back_as_text() {
    // JSON format 1.0.2, 3.1: data without a datacontenttype is JSON, so text written
    // without one would read back as a JSON string.
    let base = || Event::builder().id("1").source("/s").ty("t");
    for text in ["not JSON", "\"quoted\"", "42", ""] {
        let event = base().text(text).build().unwrap();
        assert_eq!(event.datacontenttype(), Some(TEXT_CONTENT_TYPE));
        assert_eq!(event.data(), Some(&Data::Text(text.into())));
        let written = JsonFormat::new().write_event(&event);
        assert_eq!(parse(&written).unwrap(), event, "{written}");
        let batch = JsonFormat::new().write_batch(std::slice::from_ref(&event));
        assert_eq!(JsonFormat::new().parse_batch(&batch).unwrap(), [event]);
    }
    let given = base()
        .text("a,b")
        .datacontenttype("text/csv")
        .build()
        .unwrap();
    assert_eq!(
        given.datacontenttype(),
        Some("text/csv"),
        "a given type stays"
    );
    let json = base().json(&"x").build().unwrap();
    let bytes = base().binary(vec![1]).build().unwrap();
    assert_eq!(json.datacontenttype(), Some("application/json"));
    assert_eq!(
        bytes.datacontenttype(),
        None,
        "bytes read back as bytes without one"
    );
    let none = base().build().unwrap();
    assert_eq!(none.datacontenttype(), None);
}

#[test]
fn a_json_string_under_another_content_type_is_text() {
    // The JSON format writes both as `"data":"…"`, and reads that as text under a
    // datacontenttype that is not JSON: the builder keeps what the format reads back.
    let base = || Event::builder().id("1").source("/s").ty("t");
    let json_string = base()
        .datacontenttype("text/plain")
        .json(&"héllo \"quoted\"")
        .build()
        .unwrap();
    assert_eq!(
        json_string.data(),
        Some(&Data::Text("héllo \"quoted\"".into()))
    );
    let raw = base()
        .data(eventstore_core::Json::from_string(r#""\u0041b""#.into()).unwrap())
        .datacontenttype("application/octet-stream")
        .build()
        .unwrap();
    assert_eq!(raw.data(), Some(&Data::Text("Ab".into())));
    for event in [json_string, raw] {
        let written = JsonFormat::new().write_event(&event);
        assert_eq!(parse(&written).unwrap(), event, "{written}");
    }
    // Other JSON values under another content type stay JSON, as the format reads them.
    let number = base()
        .datacontenttype("text/plain")
        .json(&42)
        .build()
        .unwrap();
    assert_eq!(
        number.data().and_then(Data::as_json).unwrap().as_str(),
        "42"
    );
    assert_eq!(
        parse(&JsonFormat::new().write_event(&number)).unwrap(),
        number
    );
    // A string that is no text (a lone surrogate) is refused, as the format refuses it.
    let error = base()
        .datacontenttype("text/plain")
        .data(eventstore_core::Json::from_string(r#""\ud800""#.into()).unwrap())
        .build()
        .unwrap_err();
    assert_eq!(error.attribute(), "data");
    assert!(matches!(error.rule(), Rule::NotJson(_)), "{error}");
}

#[test]
fn integers_are_read_in_their_canonical_form_only() {
    let typed = JsonFormat::new()
        .with_extension_type("n", ExtensionType::Integer)
        .with_extension_type("b", ExtensionType::Boolean);
    let read = |format: &JsonFormat, value: &str| {
        format
            .parse_event(&format!(r#"{{{BASE},"n":{value}}}"#))
            .map(|event| event.extension("n"))
    };
    // The integer portion of a JSON number (RFC 8259 §6), as a number or, declared, as
    // text; `-0` is the grammar's, and 0.
    for (value, expected) in [
        ("7", 7),
        ("-7", -7),
        ("0", 0),
        ("-0", 0),
        ("2147483647", i32::MAX),
        ("-2147483648", i32::MIN),
    ] {
        assert_eq!(
            read(&JsonFormat::new(), value).unwrap(),
            Some(ExtensionValue::Integer(expected)),
            "{value}"
        );
        assert_eq!(
            read(&typed, &format!("\"{value}\"")).unwrap(),
            Some(ExtensionValue::Integer(expected)),
            "\"{value}\""
        );
    }
    for text in [
        "+7", "007", "-07", "00", " 7", "7 ", "7.0", "1e2", "", "-", "0x7", "٣",
    ] {
        let (name, rule) = attribute_of(read(&typed, &format!("\"{text}\"")).unwrap_err());
        assert_eq!(
            (name.as_str(), rule),
            ("n", Rule::NotInteger(text.into())),
            "{text:?}"
        );
    }
    for number in ["7.0", "1e2", "-0.0", "1E0"] {
        for format in [&JsonFormat::new(), &typed] {
            let (name, rule) = attribute_of(read(format, number).unwrap_err());
            assert_eq!(
                (name.as_str(), rule),
                ("n", Rule::NotInteger(number.into()))
            );
        }
    }
    let (_, rule) = attribute_of(read(&typed, "\"2147483648\"").unwrap_err());
    assert_eq!(rule, Rule::IntegerOutOfRange("2147483648".into()));
    let refused = read(&typed, "\"+7\"").unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("attribute `n` must be an integer"),
        "{refused}"
    );
    // Booleans: `true` and `false`, in lower case.
    for text in ["True", "FALSE", "1", "yes", " true"] {
        let doc = format!(r#"{{{BASE},"b":"{text}"}}"#);
        let (name, rule) = attribute_of(typed.parse_event(&doc).unwrap_err());
        assert_eq!((name.as_str(), rule), ("b", Rule::NotBoolean(text.into())));
    }
    // The same rules wherever a declared type reads text (the CLI's `--ext`).
    assert_eq!(
        ExtensionType::Integer.parse_str("+7"),
        Err(Rule::NotInteger("+7".into()))
    );
    assert_eq!(
        ExtensionType::Integer.parse_str("-0"),
        Ok(ExtensionValue::Integer(0))
    );
    assert_eq!(
        ExtensionType::Boolean.parse_str("True"),
        Err(Rule::NotBoolean("True".into()))
    );
}

#[test]
fn a_number_past_f64_is_not_an_integer() {
    // Valid JSON, which serde_json's `Value` cannot hold: not "invalid JSON", and not an
    // integer (an exponent).
    let (name, rule) = attribute_of(parse(&format!(r#"{{{BASE},"big":1e400}}"#)).unwrap_err());
    assert_eq!(
        (name.as_str(), rule),
        ("big", Rule::NotInteger("1e400".into()))
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
