//! A probe, not a baseline: the baseline's rows decoded into events with core's own
//! decoding, on the reading thread. Set beside the store, it separates what the event
//! model costs (validating JSON data, typed extensions, parsed times) from what the
//! store's machinery costs (the blocking pool, paging, the connection pool).

use eventstore_core::StoredEvent;
use eventstore_core::sql::EventRow;
use eventstore_core::timestamp::parse_fixed;
use rusqlite::Row;
use rusqlite::types::ValueRef;

/// Decodes a row as the SQLite backend does (its `event_row`, then
/// [`EventRow::into_stored`]).
pub(crate) fn event(row: &Row<'_>) -> rusqlite::Result<StoredEvent> {
    let time = |i: usize| -> rusqlite::Result<_> {
        Ok(row.get_ref(i)?.as_str_or_null()?.and_then(parse_fixed))
    };
    let (data_text, data_bytes) = match row.get_ref(15)? {
        ValueRef::Text(t) => match String::from_utf8(t.to_vec()) {
            Ok(text) => (Some(text), None),
            Err(e) => (None, Some(e.into_bytes())),
        },
        ValueRef::Blob(b) => (None, Some(b.to_vec())),
        _ => (None, None),
    };
    let row = EventRow {
        sequence: row.get(0)?,
        stream_version: row.get(1)?,
        recorded_at: time(2)?,
        id: row.get(3)?,
        source: row.get(4)?,
        ty: row.get(5)?,
        subject: row.get(6)?,
        time: time(7)?,
        datacontenttype: row.get(8)?,
        dataschema: row.get(9)?,
        correlationid: row.get(10)?,
        topic: row.get(11)?,
        destination: row.get(12)?,
        extensions: row.get(13)?,
        data_kind: row.get(14)?,
        data_text,
        data_bytes,
    };
    Ok(row.into_stored().expect("stored rows decode"))
}
