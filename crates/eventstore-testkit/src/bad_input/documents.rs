//! Bad input refused before any store sees it: JSON documents and event builders.

use eventstore_core::{Event, ExtensionValue, MAX_JSON_DEPTH};

use super::{Attempt, Case, Expect, SOURCE, case};

/// Extension names that break the naming rule or are reserved.
pub(super) const BAD_EXTENSION_NAMES: [&str; 16] = [
    "MyExt",
    "my-ext",
    "my_ext",
    "my ext",
    "my.ext",
    "ext'",
    "x') OR 1=1 --",
    "ext\"; DROP TABLE events; --",
    "éxt",
    "ext\u{0}",
    "",
    "$.ext",
    "ext[0]",
    "EXT",
    "ext/../x",
    "ext\n",
];

fn document(members: &str) -> String {
    format!(r#"{{"specversion":"1.0","id":"doc","source":"{SOURCE}","type":"t"{members}}}"#)
}

fn deep(depth: usize) -> String {
    format!(",\"data\":{}{}", "[".repeat(depth), "]".repeat(depth))
}

fn build(
    f: impl FnOnce(eventstore_core::EventBuilder) -> eventstore_core::EventBuilder,
) -> Attempt {
    Attempt::Build(f(Event::builder().id("b").source(SOURCE).ty("t")).build())
}

pub(super) fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let json = |name: &str, doc: String, expect| case(name, Attempt::Json(doc), expect);
    // Wrong types and malformed values of the context attributes.
    for (name, members, attribute) in [
        ("numeric source", r#","source":1"#, "source"),
        ("boolean type", r#","type":true"#, "type"),
        ("array subject", r#","subject":["a"]"#, "subject"),
        ("object time", r#","time":{}"#, "time"),
        (
            "time without offset",
            r#","time":"2024-01-01T00:00:00""#,
            "time",
        ),
        (
            "time with a space",
            r#","time":"2024-01-01 00:00:00Z""#,
            "time",
        ),
        (
            "time finer than ns",
            r#","time":"2024-01-01T00:00:00.0000000001Z""#,
            "time",
        ),
        (
            "time 13th month",
            r#","time":"2024-13-01T00:00:00Z""#,
            "time",
        ),
        (
            "time offset 24h",
            r#","time":"2024-01-01T00:00:00+24:00""#,
            "time",
        ),
        (
            "content type without subtype",
            r#","datacontenttype":"application/""#,
            "datacontenttype",
        ),
        (
            "content type without type",
            r#","datacontenttype":"/json""#,
            "datacontenttype",
        ),
        (
            "content type with a space",
            r#","datacontenttype":"text plain""#,
            "datacontenttype",
        ),
        (
            "content type as a number",
            r#","datacontenttype":7"#,
            "datacontenttype",
        ),
        (
            "relative dataschema",
            r#","dataschema":"schemas/order""#,
            "dataschema",
        ),
        ("source not a URI-reference", r#","source":"a b""#, "source"),
        ("source with a bad escape", r#","source":"/a%zz""#, "source"),
        ("control character in id", r#","id":"a\u0000b""#, "id"),
        ("escape character in type", r#","type":"a\u001bb""#, "type"),
        (
            "C1 control in subject",
            r#","subject":"a\u0085b""#,
            "subject",
        ),
        ("bad base64", r#","data_base64":"!!!""#, "data_base64"),
        (
            "data and data_base64",
            r#","data":1,"data_base64":"AA==""#,
            "data",
        ),
        ("repeated id", r#","id":"again""#, "id"),
        (
            "extension out of range",
            r#","extcount":2147483648"#,
            "extcount",
        ),
        ("extension as a float", r#","extcount":1.5"#, "extcount"),
        ("extension as an object", r#","extobj":{"a":1}"#, "extobj"),
        ("extension as an array", r#","extarr":[1]"#, "extarr"),
        (
            "typed URI extension not a URI",
            r#","exturi":"not a uri""#,
            "exturi",
        ),
        (
            "typed timestamp extension",
            r#","exttimestamp":"yesterday""#,
            "exttimestamp",
        ),
        ("typed binary extension", r#","extbinary":"*""#, "extbinary"),
        (
            "typed integer extension as text out of range",
            r#","extinteger":"99999999999""#,
            "extinteger",
        ),
        (
            "typed boolean extension as yes",
            r#","extboolean":"yes""#,
            "extboolean",
        ),
        // The string encodings of the CloudEvents type system, and nothing looser.
        (
            "typed integer extension as text with a plus",
            r#","extinteger":"+7""#,
            "extinteger",
        ),
        (
            "typed integer extension as text with a leading zero",
            r#","extinteger":"007""#,
            "extinteger",
        ),
        (
            "typed integer extension as text with a space",
            r#","extinteger":" 7""#,
            "extinteger",
        ),
        (
            "typed integer extension as text with a fraction",
            r#","extinteger":"7.0""#,
            "extinteger",
        ),
        (
            "typed integer extension as an empty text",
            r#","extinteger":"""#,
            "extinteger",
        ),
        (
            "typed integer extension as a whole float",
            r#","extinteger":7.0"#,
            "extinteger",
        ),
        (
            "typed boolean extension capitalized",
            r#","extboolean":"True""#,
            "extboolean",
        ),
        (
            "typed timestamp extension without seconds",
            r#","exttimestamp":"2024-01-01T00:00Z""#,
            "exttimestamp",
        ),
        (
            "typed binary extension without padding",
            r#","extbinary":"TWE""#,
            "extbinary",
        ),
        (
            "correlationid as a number",
            r#","correlationid":5"#,
            "correlationid",
        ),
        (
            "lone surrogate (not UTF-8)",
            r#","subject":"\ud800""#,
            "subject",
        ),
        (
            "lone surrogate in an extension",
            r#","extstring":"a\udc00""#,
            "extstring",
        ),
    ] {
        cases.push(json(name, document(members), Expect::Invalid(attribute)));
    }
    for depth in [MAX_JSON_DEPTH + 1, 100_000] {
        let title = format!("data nested {depth} deep");
        cases.push(json(
            &title,
            document(&deep(depth)),
            Expect::Invalid("data"),
        ));
    }
    for name in BAD_EXTENSION_NAMES.iter().filter(|n| !n.is_empty()) {
        let members = format!(",{}:\"v\"", serde_json::Value::from(*name));
        let title = format!("extension name {name:?} in JSON");
        cases.push(json(&title, document(&members), Expect::Invalid(name)));
    }
    // Not JSON, or not the JSON shape of an event.
    for (name, doc) in [
        (
            "truncated document",
            r#"{"specversion":"1.0","id":"#.to_owned(),
        ),
        ("invalid escape", document(r#","subject":"\x41""#)),
        ("trailing garbage", format!("{} x", document(""))),
        ("an array for one event", format!("[{}]", document(""))),
        ("a string for one event", r#""event""#.to_owned()),
        ("empty document", String::new()),
    ] {
        cases.push(json(name, doc, Expect::Json));
    }
    for (name, doc, expect) in [
        ("batch that is an object", document(""), Expect::Json),
        ("batch of numbers", "[1,2]".to_owned(), Expect::Json),
        (
            "batch with an invalid second event",
            format!("[{},{}]", document(""), document(r#","time":"now""#)),
            Expect::Invalid("time"),
        ),
        (
            "batch with an event missing its id",
            format!(
                r#"[{},{{"specversion":"1.0","source":"/s","type":"t"}}]"#,
                document("")
            ),
            Expect::Invalid("id"),
        ),
    ] {
        cases.push(case(name, Attempt::JsonBatch(doc), expect));
    }
    // The builder: the same rules for events made in code.
    for name in BAD_EXTENSION_NAMES {
        let title = format!("extension name {name:?} in the builder");
        let attempt = build(|b| b.extension(name, "v"));
        // The empty name is reported as such: there is no name to show.
        cases.push(case(title, attempt, Expect::Invalid(name)));
    }
    for (attribute, reserved) in [("correlationid", 1), ("topic", 2), ("destination", 3)] {
        let title = format!("{attribute} as a non-string extension");
        cases.push(case(
            title,
            build(|b| b.extension(attribute, reserved)),
            Expect::Invalid(attribute),
        ));
    }
    let builders: Vec<(&str, Attempt, &str)> = vec![
        (
            "empty id",
            Attempt::Build(Event::builder().id("").source(SOURCE).ty("t").build()),
            "id",
        ),
        (
            "empty source",
            Attempt::Build(Event::builder().id("b").source("").ty("t").build()),
            "source",
        ),
        (
            "empty type",
            Attempt::Build(Event::builder().id("b").source(SOURCE).ty("").build()),
            "type",
        ),
        ("empty subject", build(|b| b.subject("")), "subject"),
        ("NUL in subject", build(|b| b.subject("a\0b")), "subject"),
        (
            "DEL in id",
            Attempt::Build(
                Event::builder()
                    .id("a\u{7f}")
                    .source(SOURCE)
                    .ty("t")
                    .build(),
            ),
            "id",
        ),
        (
            "newline in type",
            Attempt::Build(Event::builder().id("b").source(SOURCE).ty("a\nb").build()),
            "type",
        ),
        (
            "content type without subtype",
            build(|b| b.datacontenttype("json")),
            "datacontenttype",
        ),
        (
            "relative dataschema",
            build(|b| b.dataschema("/schemas/x")),
            "dataschema",
        ),
        (
            "URI extension that is relative",
            build(|b| b.extension("exturi", ExtensionValue::Uri("/x".into()))),
            "exturi",
        ),
        (
            "URI-reference extension with a space",
            build(|b| b.extension("extref", ExtensionValue::UriRef("a b".into()))),
            "extref",
        ),
        (
            "string extension with NUL",
            build(|b| b.extension("ext", "a\0")),
            "ext",
        ),
        (
            "source with a space",
            Attempt::Build(Event::builder().id("b").source("/a b").ty("t").build()),
            "source",
        ),
    ];
    for (name, attempt, attribute) in builders {
        cases.push(case(
            format!("builder: {name}"),
            attempt,
            Expect::Invalid(attribute),
        ));
    }
    cases
}
