//! Rows copied out of SQLite in chunks, and turned into [`EventRow`]s on the consumer's
//! thread.
//!
//! A page is read on the blocking pool and decoded on the consumer's thread. Building
//! each row's dozen `String`s on the reading thread made it the bottleneck: the memory
//! was allocated there and freed on the consumer's thread, so the reader's allocator
//! cache never refilled and every allocation took the allocator's slow path (over a
//! quarter of the reading thread's time in a full read). The reading thread now copies
//! each column's bytes into one buffer per chunk, and the consumer, which also frees
//! them, allocates the strings.

use std::borrow::Cow;
use std::ops::Range;

use eventstore_core::sql::EventRow;
use eventstore_core::timestamp::parse_fixed;
use eventstore_core::{Error, Result};
use rusqlite::Row;
use rusqlite::types::ValueRef;
use time::OffsetDateTime;

/// The columns of [`EVENT_COLUMNS`](crate::dialect::EVENT_COLUMNS), by position.
const COLUMNS: [&str; 16] = [
    "sequence",
    "stream_version",
    "recorded_at",
    "id",
    "source",
    "type",
    "subject",
    "time",
    "datacontenttype",
    "dataschema",
    "correlationid",
    "topic",
    "destination",
    "extensions",
    "data_kind",
    "data",
];

/// The most buffer space a chunk reserves before its rows are read.
const MAX_RESERVED: usize = 256 * 1024;

/// One column's value as it was read.
#[derive(Debug, Clone)]
enum Cell {
    Null,
    Integer(i64),
    /// Text or a blob, as a range of the chunk's buffer; `true` for text.
    Bytes(Range<usize>, bool),
    /// A floating-point value, which no event column holds.
    Real,
}

/// Rows of event columns, copied out of SQLite as they were read.
#[derive(Debug, Default)]
pub(crate) struct RowChunk {
    /// Every text and blob value of the chunk, one after another.
    bytes: Vec<u8>,
    /// [`COLUMNS`]`.len()` cells per row.
    cells: Vec<Cell>,
}

impl RowChunk {
    /// An empty chunk with room for `rows` rows of about `row_bytes` bytes each (at
    /// most [`MAX_RESERVED`] bytes: a chunk of large events grows as it needs).
    pub(crate) fn with_capacity(rows: usize, row_bytes: usize) -> Self {
        Self {
            bytes: Vec::with_capacity(rows.saturating_mul(row_bytes).min(MAX_RESERVED)),
            cells: Vec::with_capacity(rows * COLUMNS.len()),
        }
    }

    /// How many rows it holds.
    pub(crate) fn len(&self) -> usize {
        self.cells.len() / COLUMNS.len()
    }

    /// Whether it holds no row.
    pub(crate) fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// Bytes of text and blobs per row, on average (at least 1).
    pub(crate) fn row_bytes(&self) -> usize {
        (self.bytes.len() / self.len().max(1)).max(1)
    }

    /// Copies one row of event columns in.
    pub(crate) fn push(&mut self, row: &Row<'_>) -> rusqlite::Result<()> {
        for i in 0..COLUMNS.len() {
            let cell = match row.get_ref(i)? {
                ValueRef::Null => Cell::Null,
                ValueRef::Integer(n) => Cell::Integer(n),
                ValueRef::Real(_) => Cell::Real,
                ValueRef::Text(b) => Cell::Bytes(self.copy(b), true),
                ValueRef::Blob(b) => Cell::Bytes(self.copy(b), false),
            };
            self.cells.push(cell);
        }
        Ok(())
    }

    fn copy(&mut self, value: &[u8]) -> Range<usize> {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(value);
        start..self.bytes.len()
    }

    /// The last row's sequence and stream version, where the next page starts.
    pub(crate) fn last_position(&self) -> Option<(i64, Option<i64>)> {
        let row = self.cells.len().checked_sub(COLUMNS.len())?;
        let sequence = match self.cells[row] {
            Cell::Integer(n) => n,
            _ => return None,
        };
        let version = match self.cells[row + 1] {
            Cell::Integer(n) => Some(n),
            _ => None,
        };
        Some((sequence, version))
    }

    /// Row `index` (below [`len`](Self::len)) decoded into an [`EventRow`]; a column
    /// that does not hold what the store writes there is [`Error::Corrupt`].
    pub(crate) fn row(&self, index: usize) -> Result<EventRow<'_>> {
        let start = index * COLUMNS.len();
        Columns {
            bytes: &self.bytes,
            cells: &self.cells[start..start + COLUMNS.len()],
            sequence: 0,
        }
        .row()
    }
}

/// One row's cells, read column by column.
struct Columns<'a> {
    bytes: &'a [u8],
    cells: &'a [Cell],
    /// The row's sequence once read, for errors.
    sequence: i64,
}

impl<'a> Columns<'a> {
    fn row(mut self) -> Result<EventRow<'a>> {
        self.sequence = self.integer(0)?.unwrap_or_default();
        let data_bytes = match &self.cells[15] {
            Cell::Bytes(range, _) => Some(Cow::Borrowed(&self.bytes[range.clone()])),
            _ => self.expect_null(15).map(|()| None)?,
        };
        Ok(EventRow {
            sequence: self.sequence,
            stream_version: self.integer(1)?,
            recorded_at: self.time(2)?,
            id: self.required(3)?,
            source: self.required(4)?,
            ty: self.required(5)?,
            subject: self.str(6)?,
            time: self.time(7)?,
            datacontenttype: self.str(8)?,
            dataschema: self.str(9)?,
            correlationid: self.str(10)?,
            topic: self.str(11)?,
            destination: self.str(12)?,
            extensions: self.str(13)?,
            data_kind: self.str(14)?,
            data_text: None,
            data_bytes,
        })
    }

    fn corrupt(&self, column: usize, what: &str) -> Error {
        Error::Corrupt {
            sequence: self.sequence,
            message: format!("the {} column {what}", COLUMNS[column]),
        }
    }

    fn expect_null(&self, column: usize) -> Result<()> {
        match &self.cells[column] {
            Cell::Null => Ok(()),
            Cell::Integer(_) => Err(self.corrupt(column, "holds an integer")),
            Cell::Real => Err(self.corrupt(column, "holds a real number")),
            Cell::Bytes(_, true) => Err(self.corrupt(column, "holds text")),
            Cell::Bytes(_, false) => Err(self.corrupt(column, "holds a blob")),
        }
    }

    fn integer(&self, column: usize) -> Result<Option<i64>> {
        match &self.cells[column] {
            Cell::Integer(n) => Ok(Some(*n)),
            _ => self.expect_null(column).map(|()| None),
        }
    }

    /// Text (a blob of UTF-8 is taken as text, as SQLite itself converts it).
    fn str(&self, column: usize) -> Result<Option<&'a str>> {
        match &self.cells[column] {
            Cell::Bytes(range, _) => std::str::from_utf8(&self.bytes[range.clone()])
                .map(Some)
                .map_err(|_| self.corrupt(column, "is not UTF-8")),
            _ => self.expect_null(column).map(|()| None),
        }
    }

    fn required(&self, column: usize) -> Result<&'a str> {
        self.str(column)?
            .ok_or_else(|| self.corrupt(column, "is NULL"))
    }

    fn time(&self, column: usize) -> Result<Option<OffsetDateTime>> {
        match self.str(column)? {
            None => Ok(None),
            Some(text) => parse_fixed(text)
                .map(Some)
                .ok_or_else(|| self.corrupt(column, &format!("is not a timestamp: {text:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::COLUMNS;
    use crate::dialect::EVENT_COLUMNS;

    /// The names errors use are the columns every read selects, in order.
    #[test]
    fn the_column_names_are_the_selected_columns() {
        assert_eq!(COLUMNS.join(", "), EVENT_COLUMNS);
    }
}
