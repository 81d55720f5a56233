//! `Json` equality is the same document, not the same `f64`s: whitespace, member order
//! and escapes do not count; a number's exact value and sign, and every member, do.

use eventstore_core::{Event, Json};
use proptest::prelude::*;
use serde_json::Value;

fn json(text: &str) -> Json {
    Json::from_string(text.to_owned()).unwrap()
}

#[test]
fn texts_serde_json_values_cannot_hold_are_not_null() {
    assert_ne!(json("1e400"), json("null"));
    assert_ne!(json(r#""\ud800""#), json("null"));
    assert_ne!(json(r#"{"a":"\ud800"}"#), json(r#"{"a":"\udbff"}"#));
    assert_eq!(json("1e400"), json("10e399"));
}

#[test]
fn numbers_compare_by_exact_value_and_sign() {
    assert_ne!(
        json("123456789012345678901234567890"),
        json("123456789012345678901234567891")
    );
    assert_ne!(json("-0.0"), json("0.0"));
    assert_ne!(json("[-0]"), json("[0]"));
    assert_ne!(json("0.1000000000000000000001"), json("0.1"));
    assert_eq!(json("[1.50, 1e2]"), json("[1.5, 100.0]"));
    assert_ne!(json("1"), json("1.0"));
}

#[test]
fn repeated_members_are_all_compared() {
    assert_ne!(json(r#"{"a":1,"a":2}"#), json(r#"{"a":2}"#));
    assert_eq!(
        json(r#"{"a":1,"b":0,"a":2}"#),
        json(r#"{"b":0,"a":1,"a":2}"#)
    );
}

#[test]
fn events_differ_by_the_sign_of_a_zero_in_their_data() {
    let event = |data: &str| {
        Event::builder()
            .id("1")
            .source("/s")
            .ty("t")
            .data(json(data))
            .build()
            .unwrap()
    };
    assert_ne!(event(r#"{"x":-0.0}"#), event(r#"{"x":0.0}"#));
    assert_eq!(
        event(r#"{"x":-0.0,"y":"é"}"#),
        event(r#"{ "y": "\u00e9", "x": -0.0 }"#)
    );
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[a-c\u{e9}\u{1F600}\"\\\\\n]{0,4}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-d]{0,2}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The same members in reverse order, pretty-printed with every non-ASCII character
/// escaped.
fn rewritten(value: &Value) -> String {
    fn reversed(value: &Value) -> String {
        match value {
            Value::Array(items) => {
                let items: Vec<String> = items.iter().map(reversed).collect();
                format!("[ {} ]", items.join(" , "))
            }
            Value::Object(members) => {
                let members: Vec<String> = members
                    .iter()
                    .rev()
                    .map(|(k, v)| format!("{} :\n{}", escaped(k), reversed(v)))
                    .collect();
                format!("{{\t{}\t}}", members.join(",\r\n"))
            }
            Value::String(s) => escaped(s),
            other => other.to_string(),
        }
    }
    fn escaped(s: &str) -> String {
        let mut out = String::from('"');
        for unit in s.encode_utf16() {
            out.push_str(&format!("\\u{unit:04x}"));
        }
        out.push('"');
        out
    }
    reversed(value)
}

proptest! {
    #[test]
    fn formatting_does_not_make_documents_differ(value in value()) {
        let plain = Json::from(value.clone());
        let other = Json::from_string(rewritten(&value)).unwrap();
        prop_assert_eq!(plain, other);
    }

    #[test]
    fn changing_a_leaf_makes_documents_differ(value in value(), other in value()) {
        if value != other {
            let (a, b) = (Json::from(value), Json::from(other));
            // serde_json's `Value` equality has false positives (`-0.0 == 0.0`) but no
            // false negatives, so an inequality there must be one here.
            prop_assert_ne!(a, b);
        }
    }
}
