//! The few column types bound or read without a serde_json feature of tokio-postgres:
//! JSONB as text.

use bytes::{BufMut as _, BytesMut};
use eventstore_core::sql::DataColumn;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

/// JSON text bound as `jsonb` (binary format: a version byte, then the text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Jsonb<T>(pub(crate) T);

impl Jsonb<String> {
    pub(crate) fn owned(text: String) -> Self {
        Self(text)
    }
}

impl<T: AsRef<str> + std::fmt::Debug + Sync> ToSql for Jsonb<T> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        if *ty == Type::JSONB {
            out.put_u8(1);
        }
        out.put_slice(self.0.as_ref().as_bytes());
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::JSONB | Type::JSON)
    }

    to_sql_checked!();
}

/// JSON text read from a `json` or `jsonb` column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JsonText(pub(crate) String);

impl<'a> FromSql<'a> for JsonText {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let raw = if *ty == Type::JSONB {
            match raw.split_first() {
                Some((1, rest)) => rest,
                _ => return Err("unsupported jsonb format version".into()),
            }
        } else {
            raw
        };
        Ok(Self(std::str::from_utf8(raw)?.to_owned()))
    }

    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::JSONB | Type::JSON)
    }
}

/// An event's data as the table's two columns take it: JSON text `jsonb` keeps as it is
/// (`data`), or the bytes of anything else, JSON `jsonb` would change included
/// (`data_bytes`). The JSON is scanned once.
pub(crate) fn data_columns_split(data: Option<DataColumn<'_>>) -> (Option<&str>, Option<&[u8]>) {
    match data {
        None => (None, None),
        Some(DataColumn::Json(text)) if survives_jsonb(text) => (Some(text), None),
        Some(DataColumn::Json(text) | DataColumn::Text(text)) => (None, Some(text.as_bytes())),
        Some(DataColumn::Binary(bytes)) => (None, Some(bytes)),
    }
}

/// The most digits a number stored in `jsonb` may have. `jsonb` holds numbers as
/// `numeric`, which takes at most 131,072 digits before the point and 16,383 after it
/// and refuses more (SQLSTATE 22003); this bound is far inside both.
const MAX_JSONB_NUMBER_DIGITS: usize = 1000;

/// Whether JSON text survives `jsonb` with the same meaning. `jsonb` refuses `\u0000`,
/// unpaired surrogate escapes and numbers longer than `numeric` holds; it rewrites
/// numbers with an exponent (`1e2` becomes `100`, an integer) and negative zeros
/// (`-0`, `-0.0` become `0`, `0.0`: `numeric` has no sign of zero); and of an object's
/// members with the same key it keeps only the last. Text it would refuse or change so
/// is stored as bytes instead (`data_bytes`), losslessly. What it changes without
/// changing the meaning (whitespace, member order, string escapes) stays in `jsonb`.
///
/// Conservative: a false "no" only costs the JSONB copy of that event's data (numbers
/// of more than [`MAX_JSONB_NUMBER_DIGITS`] digits, objects with an escaped key beside
/// another key).
pub(crate) fn survives_jsonb(text: &str) -> bool {
    let b = text.as_bytes();
    // The keys of the objects open at `i`, and where each open object's keys start.
    let mut keys: Vec<&[u8]> = Vec::new();
    let mut objects: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                let Some(end) = string_end(b, i + 1) else {
                    return false;
                };
                let key = &b[i + 1..end];
                i = end + 1;
                let mut next = i;
                while let Some(b' ' | b'\n' | b'\r' | b'\t') = b.get(next) {
                    next += 1;
                }
                if b.get(next) == Some(&b':') {
                    keys.push(key);
                }
                continue;
            }
            b'{' => objects.push(keys.len()),
            b'}' => {
                let start = objects.pop().unwrap_or(0).min(keys.len());
                if has_repeated_key(&mut keys[start..]) {
                    return false;
                }
                keys.truncate(start);
            }
            // Outside strings, digits and '-' are only ever numbers.
            b'-' | b'0'..=b'9' => match number_end(b, i) {
                Some(end) => {
                    i = end;
                    continue;
                }
                None => return false,
            },
            _ => {}
        }
        i += 1;
    }
    true
}

/// The index of the closing quote of the string whose contents start at `i`; `None` for
/// `\u0000` or a surrogate escape (`jsonb` refuses unpaired ones; paired ones go along
/// with them, conservatively), or an unterminated string.
fn string_end(b: &[u8], mut i: usize) -> Option<usize> {
    loop {
        match *b.get(i)? {
            b'\\' => {
                if b.get(i + 1) == Some(&b'u') {
                    let hex = b.get(i + 2..i + 6).unwrap_or_default();
                    if hex == b"0000" || matches!(hex.first(), Some(b'd' | b'D')) {
                        return None;
                    }
                }
                i += 2;
            }
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
}

/// The index after the number starting at `i`, if `jsonb` keeps it as written: no
/// exponent, not a negative zero, at most [`MAX_JSONB_NUMBER_DIGITS`] digits.
fn number_end(b: &[u8], mut i: usize) -> Option<usize> {
    let negative = b[i] == b'-';
    if negative {
        i += 1;
    }
    let (mut digits, mut zero) = (0usize, true);
    while let Some(&c) = b.get(i) {
        match c {
            b'0'..=b'9' => {
                digits += 1;
                zero &= c == b'0';
            }
            b'.' => {}
            b'e' | b'E' => return None,
            _ => break,
        }
        i += 1;
    }
    (!(negative && zero) && digits <= MAX_JSONB_NUMBER_DIGITS).then_some(i)
}

/// Whether an object's keys, as written, may name one member twice: the same text twice,
/// or an escaped key beside another (an escape may spell the other key).
fn has_repeated_key(keys: &mut [&[u8]]) -> bool {
    if keys.len() < 2 {
        return false;
    }
    if keys.iter().any(|k| k.contains(&b'\\')) {
        return true;
    }
    if keys.len() <= 8 {
        return keys
            .iter()
            .enumerate()
            .any(|(n, k)| keys[n + 1..].contains(k));
    }
    keys.sort_unstable();
    keys.windows(2).any(|pair| pair[0] == pair[1])
}

#[cfg(test)]
mod tests {
    use super::survives_jsonb;

    #[test]
    fn detects_what_jsonb_would_change() {
        for ok in [
            r#"{"a": [1, 2.5, -3, true, false, null, "e1"]}"#,
            r#""\u00e9\n""#,
            "-0.5",
            r#"{"x1e": 1}"#,
        ] {
            assert!(survives_jsonb(ok), "{ok}");
        }
        for changed in [r#""\u0000""#, "1e2", "[2.5E-3]", "-0", r#""\ud83d\ude00""#] {
            assert!(!survives_jsonb(changed), "{changed}");
        }
    }

    #[test]
    fn negative_zeros_of_any_form_are_changed() {
        for changed in [
            "-0.0",
            "-0.00",
            "[1,-0.000]",
            r#"{"a":-0.0}"#,
            "-0e0",
            "-0.0E+1",
        ] {
            assert!(!survives_jsonb(changed), "{changed}");
        }
        for ok in ["0.0", "-0.01", "-10", "[0,-1.0]", r#"{"-0.0":"-0.0"}"#] {
            assert!(survives_jsonb(ok), "{ok}");
        }
    }

    #[test]
    fn numbers_longer_than_the_bound_are_kept_as_bytes() {
        let digits = |n: usize| "7".repeat(n);
        assert!(survives_jsonb(&format!("0.{}", digits(999))));
        assert!(survives_jsonb(&format!("-{}", digits(1000))));
        for changed in [
            format!("0.{}", digits(16_384)),
            digits(1001),
            format!("[1,{}.5]", digits(600) + &digits(600)),
        ] {
            assert!(!survives_jsonb(&changed), "{} digits", changed.len());
        }
    }

    #[test]
    fn repeated_keys_are_changed() {
        for changed in [
            r#"{"a":1,"a":2}"#,
            r#"{"a":1,"b":{"c":1},"a":2}"#,
            r#"[{"x":{"k":1,"k":1}}]"#,
            r#"{"a":1,"\u0061":2}"#,
            r#"{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k3":9}"#,
        ] {
            assert!(!survives_jsonb(changed), "{changed}");
        }
        for ok in [
            r#"{"a":1,"b":{"a":1},"c":[{"a":1},{"a":2}]}"#,
            r#"{"a":"a","b":"a"}"#,
            r#"{"\u00e9":1}"#,
            r#"{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9}"#,
        ] {
            assert!(survives_jsonb(ok), "{ok}");
        }
    }
}
