//! A fast check that text is one JSON value (RFC 8259), used before serde_json's own.
//!
//! Every event read back from a store carries its JSON data as text, and the text is
//! checked again on the way out (a row edited outside the store must not come back as
//! valid JSON). serde_json's validating path (`RawValue::from_string`) cost about 5,000
//! instructions for a 300-byte document, as much as reading the rest of the row; this
//! grammar walk does the same work without building a deserializer.
//!
//! It answers only "certainly valid": `false` means "run serde_json", which then
//! either reports the error or accepts what this walk declined (nesting deeper than it
//! tracks). So the set of texts [`Json`](crate::Json) accepts stays exactly
//! serde_json's, and the error messages stay serde_json's.

/// Deepest nesting the walk tracks (one bit per level); deeper documents go to serde_json.
const MAX_TRACKED_DEPTH: u32 = 128;

/// Whether `text` is exactly one JSON value with no surrounding whitespace, per the
/// grammar serde_json's `RawValue` accepts (RFC 8259; `\u` escapes need four hex digits
/// but may be lone surrogates). `false` is "not shown valid", not "invalid".
pub(crate) fn is_json(text: &str) -> bool {
    let b = text.as_bytes();
    skip_ws(b, 0) == 0 && walk(b).is_some()
}

/// The walk: `None` as soon as the text leaves the grammar (or nests too deep).
fn walk(b: &[u8]) -> Option<()> {
    // Bit n of `objects` says whether level n+1 is an object (else an array).
    let (mut objects, mut depth) = (0u128, 0u32);
    let mut i = 0;
    loop {
        // A value starts at `i` (after whitespace).
        i = skip_ws(b, i);
        match *b.get(i)? {
            b'{' => {
                i = open(&mut objects, &mut depth, true, i)?;
                i = skip_ws(b, i);
                if b.get(i) == Some(&b'}') {
                    i += 1;
                    close(&mut objects, &mut depth);
                } else {
                    i = key(b, i)?;
                    continue;
                }
            }
            b'[' => {
                i = open(&mut objects, &mut depth, false, i)?;
                i = skip_ws(b, i);
                if b.get(i) == Some(&b']') {
                    i += 1;
                    close(&mut objects, &mut depth);
                } else {
                    continue;
                }
            }
            b'"' => i = string(b, i + 1)?,
            b't' => i = literal(b, i, b"true")?,
            b'f' => i = literal(b, i, b"false")?,
            b'n' => i = literal(b, i, b"null")?,
            b'-' | b'0'..=b'9' => i = number(b, i)?,
            _ => return None,
        }
        // After a value: close containers until one continues with a comma.
        loop {
            if depth == 0 {
                return (i == b.len()).then_some(());
            }
            i = skip_ws(b, i);
            let in_object = objects & 1 == 1;
            match *b.get(i)? {
                b',' => {
                    i += 1;
                    if in_object {
                        i = key(b, skip_ws(b, i))?;
                    }
                    break;
                }
                b'}' if in_object => {}
                b']' if !in_object => {}
                _ => return None,
            }
            i += 1;
            close(&mut objects, &mut depth);
        }
    }
}

/// Enters a container whose opening bracket is at `i`; returns the index after it.
fn open(objects: &mut u128, depth: &mut u32, object: bool, i: usize) -> Option<usize> {
    if *depth == MAX_TRACKED_DEPTH {
        return None;
    }
    *objects = (*objects << 1) | u128::from(object);
    *depth += 1;
    Some(i + 1)
}

fn close(objects: &mut u128, depth: &mut u32) {
    *objects >>= 1;
    *depth -= 1;
}

/// An object key and its colon, the key's quote at `i`; returns the index after the
/// colon.
#[inline(always)]
fn key(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let i = skip_ws(b, string(b, i + 1)?);
    (b.get(i) == Some(&b':')).then_some(i + 1)
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\r' | b'\t') = b.get(i) {
        i += 1;
    }
    i
}

fn literal(b: &[u8], i: usize, word: &[u8]) -> Option<usize> {
    let end = i + word.len();
    (b.get(i..end)? == word).then_some(end)
}

/// A string's contents from `i` (after the opening quote); returns the index after
/// the closing quote. The input is a `&str`, so its UTF-8 is already valid; what is
/// left to check is escapes and control characters. Inlined: a call's register saves
/// and constant loads cost as much as scanning a short key.
#[inline(always)]
fn string(b: &[u8], mut i: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    loop {
        // Eight bytes at a time to the first quote, backslash or control character:
        // `(v - ONES*n) & !v & HIGH` flags the bytes below n. A borrow can flag a byte
        // above a flagged one by mistake, never below, so the lowest flag (the first
        // byte, little-endian) is exact.
        while let Some(chunk) = b.get(i..i + 8) {
            let v = u64::from_le_bytes(chunk.try_into().ok()?);
            let below = |v: u64, n: u8| v.wrapping_sub(ONES * u64::from(n)) & !v & HIGH;
            let quote = below(v ^ (ONES * u64::from(b'"')), 1);
            let backslash = below(v ^ (ONES * u64::from(b'\\')), 1);
            let flags = quote | backslash | below(v, 0x20);
            if flags != 0 {
                i += (flags.trailing_zeros() / 8) as usize;
                break;
            }
            i += 8;
        }
        match *b.get(i)? {
            b'"' => return Some(i + 1),
            b'\\' => {
                i += 1;
                match *b.get(i)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 1,
                    b'u' => {
                        let hex = b.get(i + 1..i + 5)?;
                        if !hex.iter().all(u8::is_ascii_hexdigit) {
                            return None;
                        }
                        i += 5;
                    }
                    _ => return None,
                }
            }
            0..=0x1f => return None,
            _ => i += 1,
        }
    }
}

/// A number from `i`: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`; returns
/// the index after it.
fn number(b: &[u8], mut i: usize) -> Option<usize> {
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    match *b.get(i)? {
        b'0' => i += 1,
        b'1'..=b'9' => i = digits(b, i + 1),
        _ => return None,
    }
    if b.get(i) == Some(&b'.') {
        let end = digits(b, i + 1);
        if end == i + 1 {
            return None;
        }
        i = end;
    }
    if let Some(b'e' | b'E') = b.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = b.get(i) {
            i += 1;
        }
        let end = digits(b, i);
        if end == i {
            return None;
        }
        i = end;
    }
    // A digit right after a leading zero ("01") is not a number's continuation: the
    // caller sees it where a comma, a bracket or the end must be, and refuses.
    Some(i)
}

fn digits(b: &[u8], mut i: usize) -> usize {
    while let Some(b'0'..=b'9') = b.get(i) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::value::RawValue;

    use super::*;

    /// What serde_json says of the same text (whitespace trimmed as `Json` trims it).
    fn serde_accepts(text: &str) -> bool {
        RawValue::from_string(text.to_owned()).is_ok()
    }

    #[test]
    fn accepts_what_serde_json_accepts() {
        for text in [
            "0",
            "-0",
            "1.5e-3",
            "-12E+40",
            "123456789012345678901234567890",
            "true",
            "false",
            "null",
            "\"\"",
            r#""a \"quoted\" \\ \/ \b\f\n\r\t \u00e9 \uD800 éß漢字 😀""#,
            "[]",
            "{}",
            "[ 1 , [ ] , { } , \"x\" ]",
            "{ \"a\" : { \"b\" : [ 1, 2, { \"c\": null } ] } , \"d\":\"\" }",
            "\"a string of more than eight bytes, with a quote at the end\"",
            "\"12345678\"",
            "\"1234567\\n\"",
        ] {
            assert!(serde_accepts(text), "serde_json refuses {text}");
            assert!(is_json(text), "{text}");
        }
    }

    #[test]
    fn refuses_what_serde_json_refuses() {
        for text in [
            "",
            " ",
            "01",
            "-",
            "1.",
            ".5",
            "1e",
            "1e+",
            "+1",
            "0x10",
            "NaN",
            "tru",
            "nul",
            "[1,]",
            "[,1]",
            "{\"a\":1,}",
            "{\"a\"}",
            "{\"a\" 1}",
            "{1:2}",
            "{\"a\":1 \"b\":2}",
            "[1 2]",
            "[}",
            "{]",
            "[[]",
            "[]]",
            "\"unterminated",
            "\"bad escape \\x\"",
            "\"short \\u12\"",
            "\"not hex \\u12g4\"",
            "\"tab\tinside\"",
            "\"newline\ninside a long string\"",
            "1 2",
            "{} {}",
            "\"\u{1}\"",
        ] {
            assert!(!serde_accepts(text), "serde_json accepts {text:?}");
            assert!(!is_json(text), "{text:?}");
        }
    }

    #[test]
    fn surrounding_whitespace_is_left_to_the_caller() {
        assert!(!is_json(" 1"));
        assert!(!is_json("1 "));
        assert!(is_json("[ 1 ]"));
    }

    #[test]
    fn nesting_past_the_tracked_depth_is_declined_not_refused() {
        let depth = MAX_TRACKED_DEPTH as usize;
        let tracked = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert!(is_json(&tracked));
        let deeper = format!("[{tracked}]");
        assert!(!is_json(&deeper));
        assert!(serde_accepts(&deeper));
    }

    /// JSON values of every kind, nested a few levels.
    fn value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(serde_json::Value::from),
            ".*".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
                prop::collection::btree_map(".*", inner, 0..6)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Near-JSON text: the walk says "valid" exactly where serde_json does (for text
        /// without surrounding whitespace, far shallower than the tracked depth).
        #[test]
        fn agrees_with_serde_json_on_near_json(
            text in "[\\[\\]{}\",:\\\\ u0-9a-fA-FeE.+\\-trulsn\t\n\x01é]{0,24}"
        ) {
            let bare = text.trim_matches([' ', '\t', '\n', '\r']) == text;
            prop_assert_eq!(is_json(&text), bare && serde_accepts(&text), "{:?}", text);
        }

        /// Valid text with one byte replaced, inserted or removed: the walk still agrees.
        #[test]
        fn agrees_with_serde_json_on_damaged_json(
            value in value(),
            at in any::<prop::sample::Index>(),
            edit in 0..3u8,
            byte in prop::sample::select(b"[]{}\",:\\ u0e.-+1\t\x01".to_vec()),
        ) {
            let mut bytes = value.to_string().into_bytes();
            let i = at.index(bytes.len() + 1);
            match edit {
                0 if i < bytes.len() => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                _ if i < bytes.len() => { bytes.remove(i); }
                _ => {}
            }
            // A damaged multi-byte character is not text at all, so not a `&str` input.
            if let Ok(text) = String::from_utf8(bytes) {
                let bare = text.trim_matches([' ', '\t', '\n', '\r']) == text;
                prop_assert_eq!(is_json(&text), bare && serde_accepts(&text), "{:?}", text);
            }
        }

        /// Whatever serde_json writes, compact or pretty, the walk shows valid.
        #[test]
        fn accepts_what_serde_json_writes(value in value()) {
            let compact = value.to_string();
            prop_assert!(is_json(&compact), "{}", compact);
            let pretty = serde_json::to_string_pretty(&value).expect("a Value serializes");
            prop_assert!(is_json(&pretty), "{}", pretty);
        }
    }
}
