//! The baseline: plain rusqlite issuing the statements the store issues, on the schema
//! the store's migrations create, with the store's pragmas.

/// The columns every read selects, in the order the store selects them (a macro so
/// that the statements are `concat!`ed constants, built once at compile time).
macro_rules! event_columns {
    () => {
        "sequence, stream_version, recorded_at, id, source, type, subject, time, \
         datacontenttype, dataschema, correlationid, topic, destination, extensions, \
         data_kind, data"
    };
}

/// [`event_columns!`] for code outside this module.
pub(crate) const COLUMNS: &str = event_columns!();

/// The store's table in the bench's files, as the store's query builder names it.
pub(crate) fn table() -> TableName {
    TableName::new("events").expect("a valid table name")
}

mod columns;
mod decoded;
mod read;
mod write;

use std::path::Path;
use std::time::Duration;

use eventstore_core::sql::TableName;
use rusqlite::Connection;

pub(crate) use columns::Columns;
pub(crate) use read::{RawRow, Reader};
pub(crate) use write::{append, save_checkpoint};

/// How long a raw writer waits for SQLite's write lock. Far above the store's 5 s default:
/// with eight connections taking turns, SQLite's busy handler (sleep and retry) can
/// starve one writer for seconds, which is slow but must not fail the run.
const BUSY_TIMEOUT: Duration = Duration::from_secs(600);

/// Opens a connection to a database whose schema the store already created, configured
/// as the store configures its own: WAL, `synchronous = NORMAL`, a busy timeout.
pub(crate) fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    assert!(mode.eq_ignore_ascii_case("wal"), "SQLite refused WAL mode");
    Ok(conn)
}
