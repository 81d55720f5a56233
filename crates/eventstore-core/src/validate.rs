//! The syntax rules CloudEvents attributes follow: URIs and URI-references (RFC 3986),
//! media types (RFC 2046) and extension names.

/// The names of the CloudEvents context attributes and the JSON format's data members:
/// an extension may not take one of them.
const RESERVED_NAMES: &[&str] = &[
    "id",
    "source",
    "specversion",
    "type",
    "subject",
    "time",
    "datacontenttype",
    "dataschema",
    "data",
];

/// Whether `name` may name an extension attribute: lower-case ASCII letters and digits
/// only, not empty, and not one of the context attributes' names.
pub fn is_extension_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && !RESERVED_NAMES.contains(&name)
}

/// Whether `text` is a URI-reference (RFC 3986 §4.1): an absolute URI or a relative
/// reference, made only of the characters RFC 3986 allows, with well-formed
/// percent-encodings and at most one fragment.
pub fn is_uri_reference(text: &str) -> bool {
    if !uri_chars_ok(text) {
        return false;
    }
    // A colon before any '/', '?' or '#' makes the prefix a scheme, which must be valid;
    // a relative reference cannot have a colon in its first segment.
    let first = text.find(['/', '?', '#']).unwrap_or(text.len());
    match text[..first].find(':') {
        Some(colon) => is_scheme(&text[..colon]),
        None => true,
    }
}

/// Whether `text` is an absolute URI: a valid scheme, a colon, and the rest as in a
/// URI-reference. A fragment is accepted (JSON Schema references use them).
pub fn is_uri(text: &str) -> bool {
    match text.find(':') {
        Some(colon) => is_scheme(&text[..colon]) && uri_chars_ok(text),
        None => false,
    }
}

fn is_scheme(scheme: &str) -> bool {
    let mut bytes = scheme.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

fn uri_chars_ok(text: &str) -> bool {
    let b = text.as_bytes();
    let mut fragments = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                if !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                    && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
                {
                    return false;
                }
                i += 2;
            }
            b'#' => fragments += 1,
            c if c.is_ascii_alphanumeric() => {}
            b'-' | b'.' | b'_' | b'~' => {}
            b':' | b'/' | b'?' | b'[' | b']' | b'@' => {}
            b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=' => {}
            _ => return false,
        }
        i += 1;
    }
    fragments <= 1
}

/// Whether `text` is a media type as RFC 2046 (via RFC 2045's grammar) defines it:
/// `type/subtype` followed by any `; name=value` parameters, values being tokens or
/// quoted strings. Optional whitespace around `;` is accepted.
pub fn is_media_type(text: &str) -> bool {
    let mut parts = parameters(text);
    let essence = parts.next().unwrap_or_default().trim_end();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    if !is_token(kind) || !is_token(subtype) {
        return false;
    }
    parts.all(|param| {
        let param = param.trim_matches([' ', '\t']);
        match param.split_once('=') {
            Some((name, value)) => is_token(name) && (is_token(value) || is_quoted(value)),
            None => false,
        }
    })
}

/// The parts of a media type between the `;` that separate its parameters, a `;`
/// inside a quoted value (`name="a;b"`) being part of the value.
fn parameters(text: &str) -> impl Iterator<Item = &str> {
    let (mut quoted, mut escaped) = (false, false);
    text.split(move |c: char| {
        let split = c == ';' && !quoted;
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        }
        split
    })
}

/// Whether a media type carries JSON (`application/json`, `text/json` or any `+json`
/// suffix), which the CloudEvents JSON format writes as a JSON value.
pub fn is_json_media_type(text: &str) -> bool {
    let essence = text
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence == "text/json" || essence.ends_with("+json")
}

fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text.bytes().all(|b| {
            b.is_ascii_graphic()
                && !matches!(
                    b,
                    b'(' | b')'
                        | b'<'
                        | b'>'
                        | b'@'
                        | b','
                        | b';'
                        | b':'
                        | b'\\'
                        | b'"'
                        | b'/'
                        | b'['
                        | b']'
                        | b'?'
                        | b'='
                )
        })
}

fn is_quoted(text: &str) -> bool {
    text.len() >= 2 && text.starts_with('"') && text.ends_with('"') && {
        let inner = &text.as_bytes()[1..text.len() - 1];
        let mut escaped = false;
        inner.iter().all(|&b| {
            let ok = escaped || (b != b'"' && (b == b'\t' || (b' '..=b'~').contains(&b)));
            escaped = !escaped && b == b'\\';
            ok
        }) && !escaped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_references() {
        for ok in [
            "https://cloudevents.io",
            "#fragment",
            "/orders/42",
            "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66",
            "//authority/path",
            "mailto:someone@example.com",
            "a/b:c",
            "https://example.com/p?q=1&r=%C3%A9#x",
        ] {
            assert!(is_uri_reference(ok), "{ok}");
        }
        for bad in [
            "has space",
            "1abc:x",
            "a#b#c",
            "%zz",
            "100%",
            "é",
            "<tag>",
            "a\"b",
        ] {
            assert!(!is_uri_reference(bad), "{bad}");
        }
    }

    #[test]
    fn absolute_uris() {
        assert!(is_uri("https://cloudevents.io/schema#/defs/a"));
        assert!(is_uri("urn:isbn:0451450523"));
        for bad in [
            "//authority/path",
            "/relative",
            "#frag",
            "1http://x",
            "http://a b",
        ] {
            assert!(!is_uri(bad), "{bad}");
        }
    }

    #[test]
    fn media_types() {
        for ok in [
            "application/json",
            "text/plain; charset=utf-8",
            "text/plain;charset=\"utf-8\"",
            "text/plain; a=\"x;y\"; b=z",
            "text/plain; a=\"x\\\";y\"",
            "application/cloudevents+json",
            "application/vnd.example.order.v1+json",
        ] {
            assert!(is_media_type(ok), "{ok}");
        }
        for bad in [
            "xyz",
            "",
            "text/",
            "/plain",
            "text/plain; charset",
            "text/plain; a=\"x;y",
            "te xt/plain",
            "a/b/c",
        ] {
            assert!(!is_media_type(bad), "{bad}");
        }
        assert!(is_json_media_type("application/vnd.x+json; v=1"));
        assert!(!is_json_media_type("text/plain"));
    }

    #[test]
    fn extension_names() {
        assert!(is_extension_name("traceparent"));
        assert!(is_extension_name("ext1"));
        for bad in [
            "",
            "MyExtension",
            "my.extension",
            "my_ext",
            "data",
            "id",
            "type",
        ] {
            assert!(!is_extension_name(bad), "{bad}");
        }
    }
}
