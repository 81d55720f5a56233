//! Semantic equality of two JSON texts, what [`Json`](crate::Json)'s `==` compares.
//!
//! serde_json's `Value` is not exact enough to compare by: without its
//! `arbitrary_precision` feature it reads numbers as `f64` (so
//! `123456789012345678901234567890` equals `…891`, and `-0.0` equals `0.0`), and it
//! cannot read some texts `RawValue` accepts at all (`1e400`, a lone surrogate escape
//! `"\ud800"`). This reader keeps what a reader of the text could tell apart:
//!
//! - numbers by their exact decimal value and sign (`-0.0` is not `0.0`; `1.50` is
//!   `1.5`, `1e2` is `100.0`), and by whether they are written as integers (`1` is not
//!   `1.0`: serde_json reads one as an integer, the other as a float);
//! - strings by their UTF-16 code units after escapes are read (`"\u00e9"` is `"é"`; a
//!   lone surrogate is itself);
//! - objects by their members in key order, members with the same key in the order
//!   written (readers disagree on which of them counts, so none is dropped);
//! - whitespace not at all.
//!
//! A text it does not take (nested deeper than [`MAX_DEPTH`], an exponent of more than
//! [`MAX_EXPONENT_DIGITS`] digits) equals only itself.

/// The deepest nesting compared structurally; deeper texts equal only themselves.
const MAX_DEPTH: usize = 512;

/// The longest exponent (leading zeros aside) compared by value.
const MAX_EXPONENT_DIGITS: usize = 30;

/// Whether two valid JSON texts are the same document (see the module documentation).
pub(crate) fn equal(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (read(a), read(b)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// A JSON value as compared.
#[derive(Debug, PartialEq)]
enum Node {
    Null,
    Bool(bool),
    Number(Number),
    String(Vec<u16>),
    Array(Vec<Node>),
    /// Members sorted by key, stably.
    Object(Vec<(Vec<u16>, Node)>),
}

/// A number as its exact value: `±0.digits × 10^exponent`, `digits` without leading or
/// trailing zeros (empty for zero, whose exponent is 0).
#[derive(Debug, PartialEq)]
struct Number {
    integer: bool,
    negative: bool,
    digits: Vec<u8>,
    exponent: i128,
}

fn read(text: &str) -> Option<Node> {
    let mut reader = Reader {
        text,
        b: text.as_bytes(),
        i: 0,
    };
    let node = reader.value(0)?;
    reader.ws();
    (reader.i == reader.b.len()).then_some(node)
}

struct Reader<'a> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Reader<'a> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        self.ws();
        let found = self.b.get(self.i) == Some(&byte);
        if found {
            self.i += 1;
        }
        found
    }

    fn value(&mut self, depth: usize) -> Option<Node> {
        self.ws();
        Some(match *self.b.get(self.i)? {
            b'{' => {
                self.i += 1;
                let depth = deeper(depth)?;
                let mut members = Vec::new();
                if !self.eat(b'}') {
                    loop {
                        self.ws();
                        let key = self.string()?;
                        if !self.eat(b':') {
                            return None;
                        }
                        members.push((key, self.value(depth)?));
                        if self.eat(b'}') {
                            break;
                        }
                        if !self.eat(b',') {
                            return None;
                        }
                    }
                }
                members.sort_by(|a, b| a.0.cmp(&b.0));
                Node::Object(members)
            }
            b'[' => {
                self.i += 1;
                let depth = deeper(depth)?;
                let mut items = Vec::new();
                if !self.eat(b']') {
                    loop {
                        items.push(self.value(depth)?);
                        if self.eat(b']') {
                            break;
                        }
                        if !self.eat(b',') {
                            return None;
                        }
                    }
                }
                Node::Array(items)
            }
            b'"' => Node::String(self.string()?),
            b't' => self.literal("true", Node::Bool(true))?,
            b'f' => self.literal("false", Node::Bool(false))?,
            b'n' => self.literal("null", Node::Null)?,
            _ => Node::Number(self.number()?),
        })
    }

    fn literal(&mut self, word: &str, node: Node) -> Option<Node> {
        let end = self.i + word.len();
        (self.b.get(self.i..end)? == word.as_bytes()).then(|| {
            self.i = end;
            node
        })
    }

    /// A string from its opening quote at `i`, as UTF-16 code units.
    fn string(&mut self) -> Option<Vec<u16>> {
        if self.b.get(self.i) != Some(&b'"') {
            return None;
        }
        self.i += 1;
        let mut units = Vec::new();
        let mut run = self.i;
        loop {
            match *self.b.get(self.i)? {
                b'"' => {
                    // Quotes and backslashes are ASCII, so `run..i` is on char boundaries.
                    units.extend(self.text.get(run..self.i)?.encode_utf16());
                    self.i += 1;
                    return Some(units);
                }
                b'\\' => {
                    units.extend(self.text.get(run..self.i)?.encode_utf16());
                    let unit = match *self.b.get(self.i + 1)? {
                        b'u' => {
                            let hex = self.text.get(self.i + 2..self.i + 6)?;
                            self.i += 4;
                            u16::from_str_radix(hex, 16).ok()?
                        }
                        escaped => u16::from(match escaped {
                            b'"' | b'\\' | b'/' => escaped,
                            b'b' => 0x08,
                            b'f' => 0x0c,
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            _ => return None,
                        }),
                    };
                    units.push(unit);
                    self.i += 2;
                    run = self.i;
                }
                _ => self.i += 1,
            }
        }
    }

    fn number(&mut self) -> Option<Number> {
        let negative = self.b.get(self.i) == Some(&b'-');
        if negative {
            self.i += 1;
        }
        let whole = self.digits();
        if whole.is_empty() {
            return None;
        }
        let mut fraction: &[u8] = &[];
        let mut integer = true;
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            fraction = self.digits();
            integer = false;
        }
        let mut exponent: i128 = 0;
        if let Some(b'e' | b'E') = self.b.get(self.i) {
            self.i += 1;
            integer = false;
            let minus = match self.b.get(self.i) {
                Some(b'-') => {
                    self.i += 1;
                    true
                }
                Some(b'+') => {
                    self.i += 1;
                    false
                }
                _ => false,
            };
            let written = self.digits();
            let first = written.iter().position(|&d| d != b'0');
            let significant = first.map_or(&[][..], |f| &written[f..]);
            if written.is_empty() || significant.len() > MAX_EXPONENT_DIGITS {
                return None;
            }
            exponent = significant
                .iter()
                .fold(0i128, |e, &d| e * 10 + i128::from(d - b'0'));
            if minus {
                exponent = -exponent;
            }
        }
        let all = || whole.iter().chain(fraction);
        let leading = all().take_while(|&&d| d == b'0').count();
        let mut digits: Vec<u8> = all().skip(leading).copied().collect();
        while digits.last() == Some(&b'0') {
            digits.pop();
        }
        let exponent = if digits.is_empty() {
            0
        } else {
            // Both lengths are at most the text's, far inside i128.
            exponent + whole.len() as i128 - leading as i128
        };
        Some(Number {
            integer,
            negative,
            digits,
            exponent,
        })
    }

    fn digits(&mut self) -> &'a [u8] {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.b.get(self.i) {
            self.i += 1;
        }
        &self.b[start..self.i]
    }
}

fn deeper(depth: usize) -> Option<usize> {
    (depth < MAX_DEPTH).then_some(depth + 1)
}

#[cfg(test)]
mod tests {
    use super::equal;

    #[test]
    fn equal_documents() {
        for (a, b) in [
            (
                r#"{"a": 1, "b": [true, null]}"#,
                r#"{"b":[true,null],"a":1}"#,
            ),
            ("1.5", "1.50"),
            ("1e2", "100.0"),
            ("1E+2", "10e1"),
            ("0.001", "1e-3"),
            ("-0.0", "-0e5"),
            ("0.0", "0e0"),
            (r#""\u00e9""#, r#""é""#),
            (r#""\ud83d\ude00""#, r#""😀""#),
            (r#""\/\n""#, "\"/\\u000a\""),
            (
                "123456789012345678901234567890",
                "123456789012345678901234567890",
            ),
            (r#"{"a":1,"a":2}"#, r#"{ "a" : 1 , "a" : 2 }"#),
        ] {
            assert!(equal(a, b), "{a} == {b}");
            assert!(equal(b, a), "{b} == {a}");
        }
    }

    #[test]
    fn different_documents() {
        for (a, b) in [
            (
                "123456789012345678901234567890",
                "123456789012345678901234567891",
            ),
            ("-0.0", "0.0"),
            ("-0", "0"),
            ("1", "1.0"),
            ("100", "1e2"),
            ("1e400", "null"),
            ("1e400", "1e401"),
            (r#""\ud800""#, "null"),
            (r#""\ud800""#, r#""\udc00""#),
            (r#"{"a":1,"a":2}"#, r#"{"a":2}"#),
            (r#"{"a":1,"a":2}"#, r#"{"a":2,"a":1}"#),
            ("[1,2]", "[2,1]"),
            ("[1]", "[1,1]"),
            (r#"{"a":1}"#, r#"{"a":1,"b":1}"#),
            (r#""a""#, r#""A""#),
            ("true", "1"),
        ] {
            assert!(!equal(a, b), "{a} != {b}");
            assert!(!equal(b, a), "{b} != {a}");
        }
    }

    #[test]
    fn texts_beyond_the_reader_equal_only_themselves() {
        let deep = format!("{}{}", "[".repeat(600), "]".repeat(600));
        let spaced = format!("{} {}", "[".repeat(600), "]".repeat(600));
        assert!(equal(&deep, &deep));
        assert!(!equal(&deep, &spaced));
        let huge = format!("1e{}", "9".repeat(40));
        assert!(equal(&huge, &huge));
        assert!(!equal(&huge, &format!("10e{}", "9".repeat(40))));
    }
}
