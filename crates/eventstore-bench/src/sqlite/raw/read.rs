//! The read path by hand: the store's `SELECT`s, each column read into an owned value,
//! no events built.

use eventstore_core::StoredEvent;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, Params, Row};

/// Every event, oldest first.
const ALL: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM \"events\" ORDER BY sequence ASC"
);

/// A subject's stream from a version on.
const STREAM: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM \"events\" WHERE subject = ?1 AND stream_version >= ?2 ORDER BY stream_version ASC"
);

/// A type in a time range, oldest first, limited: what the store's builder produces for
/// `EventQuery::new().ty(..).time_from(..).time_to(..).limit(..)`.
const TYPE_IN_TIME_RANGE: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM \"events\" WHERE type = ?1 AND time >= ?2 AND time < ?3 ORDER BY sequence ASC LIMIT ?4"
);

/// Events since a time, oldest first, limited.
const SINCE: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM \"events\" WHERE time >= ?1 ORDER BY sequence ASC LIMIT ?2"
);

/// One page of a keyset walk: the events after a sequence, oldest first, limited.
const PAGE: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM \"events\" WHERE sequence > ?1 ORDER BY sequence ASC LIMIT ?2"
);

/// One event by `(source, id)`.
const BY_ID: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM \"events\" WHERE source = ?1 AND id = ?2"
);

/// One row read into owned values, as an application reading the table directly would
/// hold it.
#[derive(Debug, Clone)]
#[allow(dead_code)] // Read to be paid for, never looked at.
pub(crate) struct RawRow {
    /// `sequence`.
    sequence: i64,
    /// `stream_version`.
    stream_version: Option<i64>,
    /// `recorded_at`, as stored.
    recorded_at: String,
    /// `id`.
    id: String,
    /// `source`.
    source: String,
    /// `type`.
    ty: String,
    /// `subject`.
    subject: Option<String>,
    /// `time`, as stored.
    time: Option<String>,
    /// `datacontenttype`.
    datacontenttype: Option<String>,
    /// `dataschema`.
    dataschema: Option<String>,
    /// `correlationid`.
    correlationid: Option<String>,
    /// `topic`.
    topic: Option<String>,
    /// `destination`.
    destination: Option<String>,
    /// `extensions`, as stored.
    extensions: Option<String>,
    /// `data_kind`.
    data_kind: Option<String>,
    /// `data`'s bytes, text or blob.
    data: Option<Vec<u8>>,
}

impl RawRow {
    /// Its `sequence`.
    pub(crate) fn sequence(&self) -> i64 {
        self.sequence
    }

    /// Reads a row of the selected columns.
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        let data = match row.get_ref(15)? {
            ValueRef::Text(bytes) | ValueRef::Blob(bytes) => Some(bytes.to_vec()),
            _ => None,
        };
        Ok(Self {
            sequence: row.get(0)?,
            stream_version: row.get(1)?,
            recorded_at: row.get(2)?,
            id: row.get(3)?,
            source: row.get(4)?,
            ty: row.get(5)?,
            subject: row.get(6)?,
            time: row.get(7)?,
            datacontenttype: row.get(8)?,
            dataschema: row.get(9)?,
            correlationid: row.get(10)?,
            topic: row.get(11)?,
            destination: row.get(12)?,
            extensions: row.get(13)?,
            data_kind: row.get(14)?,
            data,
        })
    }
}

/// The store's reads as plain statements on one connection.
pub(crate) struct Reader {
    /// A connection opened by [`open`](super::open).
    conn: Connection,
}

impl Reader {
    /// Reads through `conn`.
    pub(crate) fn new(conn: Connection) -> Self {
        Self { conn }
    }

    /// Runs `sql` (selecting the event columns), reads each row with `read` and hands
    /// it to `each`; returns the number of rows.
    fn run_with<T>(
        &self,
        sql: &str,
        params: impl Params,
        read: impl Fn(&Row<'_>) -> rusqlite::Result<T>,
        mut each: impl FnMut(T),
    ) -> usize {
        let mut stmt = self
            .conn
            .prepare_cached(sql)
            .expect("baseline SQL is valid");
        let mut rows = stmt.query(params).expect("baseline query runs");
        let mut count = 0;
        while let Some(row) = rows.next().expect("baseline row reads") {
            each(read(row).expect("baseline columns read"));
            count += 1;
        }
        count
    }

    /// [`run_with`](Self::run_with) reading [`RawRow`]s: `sql` must select
    /// [`COLUMNS`](super::COLUMNS).
    pub(crate) fn run(&self, sql: &str, params: impl Params, each: impl FnMut(RawRow)) -> usize {
        self.run_with(sql, params, RawRow::read, each)
    }

    /// Every event in sequence order, in one `SELECT`.
    pub(crate) fn all(&self, each: impl FnMut(RawRow)) -> usize {
        self.run(ALL, [], each)
    }

    /// [`all`](Self::all), each row decoded into an event by core's decoding on this
    /// thread (the probe of [`decoded`](super::decoded)).
    pub(crate) fn all_decoded(&self, each: impl FnMut(StoredEvent)) -> usize {
        self.run_with(ALL, [], super::decoded::event, each)
    }

    /// A subject's stream from `from_version`, in one `SELECT`.
    pub(crate) fn stream(&self, subject: &str, from_version: i64) -> Vec<RawRow> {
        let mut out = Vec::new();
        self.run(STREAM, rusqlite::params![subject, from_version], |r| {
            out.push(r);
        });
        out
    }

    /// Events of type `ty` with `time` in `[from, to)` (times in the stored text form),
    /// oldest first, at most `limit`: the statement the store builds for that query.
    pub(crate) fn type_in_time_range(
        &self,
        ty: &str,
        from: &str,
        to: &str,
        limit: i64,
    ) -> Vec<RawRow> {
        let mut out = Vec::new();
        self.run(
            TYPE_IN_TIME_RANGE,
            rusqlite::params![ty, from, to, limit],
            |r| {
                out.push(r);
            },
        );
        out
    }

    /// Events with `time` at or after `from` (the stored text form), oldest first, at
    /// most `limit`: the statement the store builds for that query.
    pub(crate) fn since(&self, from: &str, limit: i64) -> Vec<RawRow> {
        let mut out = Vec::new();
        self.run(SINCE, rusqlite::params![from, limit], |r| out.push(r));
        out
    }

    /// The events after sequence `after`, at most `limit`, in one `SELECT`; returns
    /// how many and the last one's sequence.
    pub(crate) fn page(&self, after: i64, limit: i64) -> (usize, Option<i64>) {
        let mut last = None;
        let count = self.run(PAGE, rusqlite::params![after, limit], |r| {
            last = Some(r.sequence);
        });
        (count, last)
    }

    /// The event with this `(source, id)`, if any.
    pub(crate) fn get(&self, source: &str, id: &str) -> Option<RawRow> {
        let mut out = None;
        self.run(BY_ID, rusqlite::params![source, id], |r| out = Some(r));
        out
    }
}
