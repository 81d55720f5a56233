//! Reading import input into validated chunks, on a thread of its own so that parsing
//! the next chunk overlaps writing this one.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use eventstore_sql::{Event, JsonFormat, Limits, ValidationError};
use serde_json::value::RawValue;
use tokio::sync::mpsc;

use crate::cli::InputFormat;

/// An event that could not be read, and where it was.
#[derive(Debug)]
pub(crate) struct Problem {
    /// `line 17`, `batch index 3`, `tests[4]`.
    pub(crate) place: String,
    /// The conformance test's id, when the input is a conformance-vector file.
    pub(crate) test_id: Option<String>,
    /// What was wrong (names the attribute for an invalid event).
    pub(crate) error: eventstore_sql::Error,
}

/// Up to a batch of events read from one input, with the problems found among them.
#[derive(Debug)]
pub(crate) struct Chunk {
    /// The input's name (`-` for stdin).
    pub(crate) input: String,
    /// Where the chunk starts (`line 1`, `batch index 0`).
    pub(crate) start: String,
    /// The valid events.
    pub(crate) events: Vec<Event>,
    /// The invalid ones.
    pub(crate) problems: Vec<Problem>,
    /// Input bytes the chunk covers (for progress).
    pub(crate) bytes: u64,
}

/// Reads `inputs` (stdin for `-` or none) with `json` (the declared extension types) in
/// chunks of `batch_size` events and sends them on `chunks`; returns when done or when the
/// receiver is gone.
pub(crate) fn read_all(
    inputs: &[PathBuf],
    format: InputFormat,
    json: &JsonFormat,
    batch_size: usize,
    chunks: &mpsc::Sender<Chunk>,
) -> Result<()> {
    let stdin = [PathBuf::from("-")];
    let inputs = if inputs.is_empty() {
        &stdin[..]
    } else {
        inputs
    };
    for path in inputs {
        let name = path.display().to_string();
        let reader: Box<dyn Read> = if path == Path::new("-") {
            Box::new(std::io::stdin().lock())
        } else {
            Box::new(std::fs::File::open(path).with_context(|| format!("cannot read {name}"))?)
        };
        let mut reader = BufReader::with_capacity(1 << 20, reader);
        let mut reading = Reading {
            name: name.clone(),
            json,
            batch_size,
            chunks,
        };
        reading
            .read(&mut reader, format)
            .with_context(|| format!("cannot read {name}"))?;
    }
    Ok(())
}

struct Reading<'a> {
    name: String,
    /// The CloudEvents JSON format, with the declared extension types.
    json: &'a JsonFormat,
    batch_size: usize,
    chunks: &'a mpsc::Sender<Chunk>,
}

impl Reading<'_> {
    fn read(&mut self, reader: &mut impl BufRead, format: InputFormat) -> Result<()> {
        let (format, head) = match format {
            InputFormat::Auto => detect(reader)?,
            known => (known, Vec::new()),
        };
        // What detection read goes back in front: the input is still streamed.
        let mut reader = std::io::Cursor::new(head).chain(reader);
        match format {
            InputFormat::Jsonl => self.lines(&mut reader),
            InputFormat::Batch | InputFormat::Event | InputFormat::Auto => {
                let mut bytes = Vec::new();
                reader.read_to_end(&mut bytes)?;
                self.document(&bytes, format)
            }
        }
    }

    /// JSON Lines, streamed: one chunk per `batch_size` lines that hold an event.
    fn lines(&mut self, reader: &mut impl BufRead) -> Result<()> {
        let mut chunk = self.chunk("line 1");
        let mut line = Vec::new();
        let mut number = 0u64;
        loop {
            line.clear();
            let read = reader.read_until(b'\n', &mut line)?;
            if read == 0 {
                break;
            }
            number += 1;
            chunk.bytes += read as u64;
            if line.trim_ascii().is_empty() {
                continue;
            }
            // A line that is not UTF-8 is one bad event, not the end of the input.
            let parsed = utf8(&line).and_then(|line| parse_event(self.json, line));
            match parsed {
                Ok(event) => chunk.events.push(event),
                Err(error) => chunk.problems.push(Problem {
                    place: format!("line {number}"),
                    test_id: None,
                    error,
                }),
            }
            if chunk.events.len() + chunk.problems.len() >= self.batch_size {
                let next = self.chunk(&format!("line {}", number + 1));
                self.send(std::mem::replace(&mut chunk, next))?;
            }
        }
        self.send(chunk)
    }

    /// A whole document: a batch, one event, or a conformance-vector file. A document
    /// that is not JSON of that shape is reported like an invalid event, and the import
    /// goes on with the next input.
    fn document(&mut self, bytes: &[u8], format: InputFormat) -> Result<()> {
        // A document that is not UTF-8 is refused like one that is not JSON.
        let parsed = utf8(bytes).and_then(|text| items(text, format));
        let items = match parsed {
            Ok(items) => items,
            Err(error) => {
                let mut chunk = self.chunk("the document");
                chunk.problems.push(Problem {
                    place: "document".to_owned(),
                    test_id: None,
                    error,
                });
                chunk.bytes = bytes.len() as u64;
                return self.send(chunk);
            }
        };
        let size = bytes.len() as u64;
        let mut chunk = self.chunk(items.first().map_or("", |i| &i.0));
        let count = items.len();
        for (n, (place, test_id, raw)) in items.into_iter().enumerate() {
            match parse_event(self.json, raw.get()) {
                Ok(event) => chunk.events.push(event),
                Err(error) => chunk.problems.push(Problem {
                    place: place.clone(),
                    test_id,
                    error,
                }),
            }
            let full = chunk.events.len() + chunk.problems.len() >= self.batch_size;
            if full && n + 1 < count {
                let next = self.chunk(&format!("after {place}"));
                self.send(std::mem::replace(&mut chunk, next))?;
            }
        }
        chunk.bytes = size;
        self.send(chunk)
    }

    fn chunk(&self, start: &str) -> Chunk {
        Chunk {
            input: self.name.clone(),
            start: start.to_owned(),
            events: Vec::with_capacity(self.batch_size.min(10_000)),
            problems: Vec::new(),
            bytes: 0,
        }
    }

    fn send(&self, chunk: Chunk) -> Result<()> {
        if chunk.events.is_empty() && chunk.problems.is_empty() && chunk.bytes == 0 {
            return Ok(());
        }
        // The receiver is gone only when the writer stopped on an error it reports.
        let _ = self.chunks.blocking_send(chunk);
        Ok(())
    }
}

/// One event, checked against the limits of the stores the tool opens (the defaults)
/// too: an event the store would refuse as too large is reported with its place, as any
/// invalid event is, instead of failing its batch's write.
fn parse_event(json: &JsonFormat, text: &str) -> Result<Event, eventstore_sql::Error> {
    let event = json.parse_event(text)?;
    match Limits::default().check_event(0, &event) {
        Ok(()) => Ok(event),
        // Without the index the check gives it: the place says where the event is.
        Err(eventstore_sql::Error::Invalid(error)) => {
            Err(ValidationError::new(error.attribute(), error.rule().clone()).into())
        }
        Err(error) => Err(error),
    }
}

/// `bytes` as text; input that is not UTF-8 is refused like input that is not JSON.
fn utf8(bytes: &[u8]) -> Result<&str, eventstore_sql::Error> {
    std::str::from_utf8(bytes).map_err(|e| eventstore_sql::Error::Json {
        index: None,
        message: format!("not UTF-8 text: {e}"),
    })
}

/// An event of a document: its place, its conformance test id, its JSON.
type Item<'a> = (String, Option<String>, &'a RawValue);

/// The events of a document, each with its place and, in a conformance-vector file, its
/// test id.
fn items(text: &str, format: InputFormat) -> Result<Vec<Item<'_>>, eventstore_sql::Error> {
    let batch = match format {
        InputFormat::Batch => true,
        InputFormat::Auto => text.trim_start().starts_with('['),
        // `--format event` means one event (or a vector file), not a batch.
        InputFormat::Event | InputFormat::Jsonl => false,
    };
    if batch {
        let items: Vec<&RawValue> = serde_json::from_str(text).map_err(|e| malformed(&e))?;
        return Ok(items
            .into_iter()
            .enumerate()
            .map(|(i, raw)| (format!("batch index {i}"), None, raw))
            .collect());
    }
    if let Some(tests) = vectors(text) {
        return Ok(tests);
    }
    let raw: &RawValue = serde_json::from_str(text).map_err(|e| malformed(&e))?;
    Ok(vec![("event".to_owned(), None, raw)])
}

/// The events of a conformance-vector file (`{"tests": [{"id": …, "event": {…}}]}`),
/// each with its test id.
fn vectors(text: &str) -> Option<Vec<Item<'_>>> {
    #[derive(serde::Deserialize)]
    struct File<'a> {
        #[serde(borrow)]
        tests: Vec<Test<'a>>,
    }
    #[derive(serde::Deserialize)]
    struct Test<'a> {
        id: String,
        #[serde(borrow)]
        event: &'a RawValue,
    }
    let file: File<'_> = serde_json::from_str(text).ok()?;
    Some(
        file.tests
            .into_iter()
            .enumerate()
            .map(|(i, test)| (format!("tests[{i}]"), Some(test.id), test.event))
            .collect(),
    )
}

fn malformed(error: &serde_json::Error) -> eventstore_sql::Error {
    eventstore_sql::Error::Json {
        index: None,
        message: error.to_string(),
    }
}

/// Decides the layout from the input's first line that is not blank: `[` starts a
/// batch; a line that is a whole JSON value is JSON Lines; anything else is one
/// document. Returns the layout and the lines read, which the caller reads again.
///
/// The whole line is read, however it arrives: a first event larger than the reader's
/// buffer, or one a pipe delivers in pieces, is still seen whole.
fn detect(reader: &mut impl BufRead) -> Result<(InputFormat, Vec<u8>)> {
    let mut head = Vec::new();
    let first_line = loop {
        let start = head.len();
        if reader.read_until(b'\n', &mut head)? == 0 {
            return Ok((InputFormat::Jsonl, head));
        }
        let line = head[start..].trim_ascii();
        if !line.is_empty() {
            break line;
        }
    };
    let format = if first_line.starts_with(b"[") {
        InputFormat::Batch
    } else if serde_json::from_slice::<serde::de::IgnoredAny>(first_line).is_ok() {
        InputFormat::Jsonl
    } else {
        InputFormat::Event
    };
    Ok((format, head))
}
