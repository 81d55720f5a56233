//! The few column types bound or read without a serde_json feature of tokio-postgres:
//! JSONB as text.

use bytes::{BufMut as _, BytesMut};
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

/// Whether JSON text survives `jsonb` with the same meaning: `jsonb` refuses `\u0000`
/// and unpaired surrogate escapes, and rewrites numbers (`1e2` becomes `100`, an
/// integer; `-0` becomes `0`), which would change the value an event is read back
/// with. Text it would change is stored as bytes instead (`data_bytes`), losslessly.
/// Conservative: a false "no" only costs the JSONB copy of that event's data.
pub(crate) fn survives_jsonb(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut in_string = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match b {
                b'\\' => {
                    if bytes.get(i + 1) == Some(&b'u') {
                        let hex = bytes.get(i + 2..i + 6).unwrap_or_default();
                        if hex == b"0000" || matches!(hex.first(), Some(b'd' | b'D')) {
                            return false;
                        }
                    }
                    i += 2;
                    continue;
                }
                b'"' => in_string = false,
                _ => {}
            }
        } else {
            match b {
                b'"' => in_string = true,
                b'e' | b'E' if i > 0 && bytes[i - 1].is_ascii_digit() => return false,
                b'-' if bytes.get(i + 1) == Some(&b'0')
                    && !matches!(bytes.get(i + 2), Some(b'.')) =>
                {
                    return false;
                }
                _ => {}
            }
        }
        i += 1;
    }
    true
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
}
