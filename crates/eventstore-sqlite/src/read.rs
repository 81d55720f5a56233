//! The read path: rows to events, and reads streamed page by page.

use std::collections::VecDeque;
use std::sync::Arc;

use eventstore_core::sql::{EventRow, Pager, Sql};
use eventstore_core::timestamp::parse_fixed;
use eventstore_core::{Error, EventStream, Result, StoredEvent};
use futures::StreamExt as _;
use rusqlite::Row;
use rusqlite::types::ValueRef;
use tokio::task::JoinHandle;

use crate::dialect::{SqliteDialect, to_sql};
use crate::error::{db, joined};
use crate::store::Shared;

/// Reads one row of [`EVENT_COLUMNS`](crate::dialect::EVENT_COLUMNS).
pub(crate) fn event_row(row: &Row<'_>) -> rusqlite::Result<EventRow> {
    let time = |i: usize| -> rusqlite::Result<Option<time::OffsetDateTime>> {
        Ok(row.get_ref(i)?.as_str_or_null()?.and_then(parse_fixed))
    };
    let (data_text, data_bytes) = match row.get_ref(15)? {
        ValueRef::Text(t) => match String::from_utf8(t.to_vec()) {
            Ok(text) => (Some(text), None),
            // Left for EventRow to report as corrupt rather than repaired silently.
            Err(e) => (None, Some(e.into_bytes())),
        },
        ValueRef::Blob(b) => (None, Some(b.to_vec())),
        _ => (None, None),
    };
    Ok(EventRow {
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
    })
}

/// Runs a `SELECT` of event columns and returns the events.
pub(crate) fn fetch(conn: &rusqlite::Connection, sql: &Sql) -> Result<Vec<StoredEvent>> {
    fetch_rows(conn, sql)?
        .into_iter()
        .map(EventRow::into_stored)
        .collect()
}

/// Runs a `SELECT` of event columns and returns the rows, not yet decoded into events.
fn fetch_rows(conn: &rusqlite::Connection, sql: &Sql) -> Result<Vec<EventRow>> {
    let mut stmt = conn.prepare_cached(&sql.text).map_err(db)?;
    let params = sql.params.iter().map(to_sql);
    let mut rows = stmt.query(rusqlite::params_from_iter(params)).map_err(db)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(db)? {
        out.push(event_row(row).map_err(db)?);
    }
    Ok(out)
}

/// Streams a paged read: each page's rows are fetched on the blocking pool with a
/// pooled connection that is returned before the page is yielded, and the next page is
/// fetched while the consumer works through the current one. Rows become events as the
/// consumer takes them, on its own thread: decoding (JSON validation above all) costs as
/// much as reading the row, so splitting the two keeps both cores busy where reading
/// and decoding on the blocking thread left the consumer's idle. At most two pages are
/// in memory.
pub(crate) fn paged(shared: Arc<Shared>, pager: Pager) -> EventStream {
    struct State {
        shared: Arc<Shared>,
        pager: Pager,
        buffer: VecDeque<EventRow>,
        next: Option<JoinHandle<Result<Vec<EventRow>>>>,
    }

    impl State {
        fn start_fetch(&mut self) -> Result<()> {
            let Some(sql) = self.pager.next_sql(&SqliteDialect, &self.shared.table) else {
                return Ok(());
            };
            let sql = sql?;
            let shared = Arc::clone(&self.shared);
            self.next = Some(tokio::task::spawn_blocking(move || {
                let conn = shared.reader()?;
                fetch_rows(&conn, &sql)
            }));
            Ok(())
        }
    }

    let state = State {
        shared,
        pager,
        buffer: VecDeque::new(),
        next: None,
    };
    futures::stream::try_unfold(state, |mut state| async move {
        loop {
            if let Some(row) = state.buffer.pop_front() {
                return Ok(Some((row.into_stored()?, state)));
            }
            if state.next.is_none() {
                state.shared.check_open()?;
                state.start_fetch()?;
            }
            let Some(next) = state.next.take() else {
                return Ok(None);
            };
            let page = joined(next.await)?;
            let last = page.last().map(|r| (r.sequence, r.stream_version));
            state.pager.advance_past(page.len(), last);
            state.buffer = page.into();
            state.start_fetch()?;
        }
    })
    .boxed()
}

/// An error for a read that could not start, as a stream of that one error.
pub(crate) fn failed(error: Error) -> EventStream {
    futures::stream::once(async move { Err(error) }).boxed()
}
