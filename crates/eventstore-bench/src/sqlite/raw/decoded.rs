//! A probe, not a baseline: the baseline's rows decoded into events with core's own
//! decoding, on the reading thread. Set beside the store, it separates what the event
//! model costs (validating JSON data, typed extensions, parsed times) from what the
//! store's machinery costs (the blocking pool, paging, the connection pool).

use std::borrow::Cow;

use eventstore_core::StoredEvent;
use eventstore_core::sql::EventRow;
use eventstore_core::timestamp::parse_fixed;
use rusqlite::Row;
use rusqlite::types::ValueRef;

/// Decodes a row as the SQLite backend does (its `event_row`, then
/// [`EventRow::into_stored`]).
pub(crate) fn event(row: &Row<'_>) -> rusqlite::Result<StoredEvent> {
    let text =
        |i: usize| -> rusqlite::Result<Option<&str>> { Ok(row.get_ref(i)?.as_str_or_null()?) };
    let required = |i: usize| -> rusqlite::Result<&str> { Ok(row.get_ref(i)?.as_str()?) };
    let time = |i: usize| -> rusqlite::Result<_> { Ok(text(i)?.and_then(parse_fixed)) };
    let data_bytes = match row.get_ref(15)? {
        ValueRef::Text(b) | ValueRef::Blob(b) => Some(Cow::Borrowed(b)),
        _ => None,
    };
    let row = EventRow {
        sequence: row.get(0)?,
        stream_version: row.get(1)?,
        recorded_at: time(2)?,
        id: required(3)?,
        source: required(4)?,
        ty: required(5)?,
        subject: text(6)?,
        time: time(7)?,
        datacontenttype: text(8)?,
        dataschema: text(9)?,
        correlationid: text(10)?,
        topic: text(11)?,
        destination: text(12)?,
        extensions: text(13)?,
        data_kind: text(14)?,
        data_text: None,
        data_bytes,
    };
    Ok(row.into_stored().expect("stored rows decode"))
}
