//! `--ext-type NAME=TYPE`: the types of extension attributes, which the CloudEvents JSON
//! format and `--ext NAME=VALUE` cannot carry (a URI, a timestamp or bytes is a string
//! there).

use std::collections::HashMap;

use anyhow::Result;
use eventstore_sql::validate::is_extension_name;
use eventstore_sql::{ExtensionType, ExtensionValue, JsonFormat};

use crate::failure::Usage;
use crate::filters::name_value;

/// The flag, as usage errors name it.
const FLAG: &str = "--ext-type";

/// Extension types declared with `--ext-type`.
#[derive(Debug, Clone, Default)]
pub(crate) struct ExtensionTypes(HashMap<String, ExtensionType>);

impl ExtensionTypes {
    /// Reads `--ext-type` values; a malformed one is a usage error that says what is
    /// wrong with it.
    pub(crate) fn parse(pairs: &[String]) -> Result<Self> {
        let mut declared = HashMap::new();
        for pair in pairs {
            let (name, tag) = name_value(pair, FLAG, "TYPE")?;
            check_name(name)?;
            let ty = ExtensionType::from_tag(tag).ok_or_else(|| {
                Usage(format!(
                    "{FLAG} {pair}: unknown type {tag:?}; the types are string, integer, \
                     boolean, uri, uriref, timestamp and binary"
                ))
            })?;
            if let Some(before) = declared.insert(name.to_owned(), ty)
                && before != ty
            {
                return Err(Usage(format!(
                    "{FLAG} declares {name:?} both {} and {}",
                    before.tag(),
                    ty.tag()
                ))
                .into());
            }
        }
        Ok(Self(declared))
    }

    /// The CloudEvents JSON format that reads each declared extension as its type.
    pub(crate) fn json_format(&self) -> JsonFormat {
        self.0.iter().fold(JsonFormat::new(), |format, (name, ty)| {
            format.with_extension_type(name, *ty)
        })
    }

    /// An `--ext NAME=VALUE` value: of NAME's declared type, or a string. A value that
    /// is not of its type is a usage error.
    pub(crate) fn value(&self, name: &str, text: &str) -> Result<ExtensionValue> {
        let Some(ty) = self.0.get(name) else {
            return Ok(ExtensionValue::String(text.to_owned()));
        };
        ty.parse_str(text)
            .and_then(|value| value.check().map(|()| value))
            .map_err(|rule| {
                Usage(format!(
                    "--ext {name}={text}: {name:?}, declared {}, {rule}",
                    ty.tag()
                ))
                .into()
            })
    }
}

/// Refuses a name no extension can have, saying why.
fn check_name(name: &str) -> Result<()> {
    if is_extension_name(name) {
        return Ok(());
    }
    let well_formed = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    Err(Usage(if well_formed {
        format!("{FLAG}: {name:?} is a context attribute (or data), not an extension")
    } else {
        format!(
            "{FLAG}: {name:?} is not an extension name: use only lower-case letters a-z and \
             digits 0-9"
        )
    })
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[&str]) -> Result<ExtensionTypes> {
        ExtensionTypes::parse(&pairs.iter().map(|p| (*p).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn declared_types_read_json_strings_and_ext_values() {
        let declared = parse(&["link=uri", "at=timestamp", "at=timestamp"]).unwrap();
        let event = declared
            .json_format()
            .parse_event(
                r#"{"specversion":"1.0","id":"1","source":"/s","type":"t",
                    "link":"https://example.com/a","at":"2026-01-02T03:04:05Z","n":"x"}"#,
            )
            .unwrap();
        assert_eq!(
            event.extension("link"),
            Some(ExtensionValue::Uri("https://example.com/a".to_owned()))
        );
        assert_eq!(
            event.extension("at").map(|v| v.kind()),
            Some(ExtensionType::Timestamp)
        );
        assert_eq!(
            event.extension("n"),
            Some(ExtensionValue::String("x".to_owned()))
        );
        assert_eq!(
            declared.value("link", "urn:x").unwrap(),
            ExtensionValue::Uri("urn:x".to_owned())
        );
        assert_eq!(
            declared.value("other", "x").unwrap(),
            ExtensionValue::String("x".to_owned())
        );
        let error = declared.value("link", "not a uri").unwrap_err();
        assert!(error.is::<Usage>(), "{error}");
    }

    #[test]
    fn ext_values_are_read_in_their_types_string_form_only() {
        let declared = parse(&["n=integer", "b=boolean"]).unwrap();
        assert_eq!(
            declared.value("n", "-7").unwrap(),
            ExtensionValue::Integer(-7)
        );
        for (name, text) in [("n", "+7"), ("n", "007"), ("n", " 7"), ("b", "True")] {
            let error = declared.value(name, text).unwrap_err();
            assert!(error.is::<Usage>(), "{name}={text}: {error}");
            assert!(
                error
                    .to_string()
                    .starts_with(&format!("--ext {name}={text}: ")),
                "{error}"
            );
        }
    }

    #[test]
    fn malformed_declarations_are_usage_errors_that_say_why() {
        for (pairs, says) in [
            (&["link"][..], "takes NAME=TYPE"),
            (&["=uri"], "takes NAME=TYPE"),
            (&["link=url"], "unknown type \"url\""),
            (&["Link=uri"], "not an extension name"),
            (&["data_base64=binary"], "not an extension name"),
            (&["time=timestamp"], "context attribute"),
            (&["link=uri", "link=string"], "both uri and string"),
        ] {
            let error = parse(pairs).unwrap_err();
            assert!(error.is::<Usage>(), "{pairs:?}: {error}");
            assert!(error.to_string().contains(says), "{pairs:?}: {error}");
        }
    }
}
