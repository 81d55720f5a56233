//! The read path: rows to events, and reads streamed page by page.

use std::sync::Arc;

use eventstore_core::sql::{Pager, Sql};
use eventstore_core::{Error, EventStream, Result, StoredEvent};
use futures::StreamExt as _;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use tokio::task::JoinHandle;

use crate::dialect::{SqliteDialect, to_sql};
use crate::error::{db, joined};
use crate::rows::RowChunk;
use crate::store::Shared;

/// Runs a `SELECT` of at most one event (a point read) and returns it. Reads into a
/// chunk sized for that one row, not a page's first chunk.
pub(crate) fn fetch_one(conn: &rusqlite::Connection, sql: &Sql) -> Result<Option<StoredEvent>> {
    with_rows(conn, sql, |rows| {
        let Some(row) = rows.next().map_err(db)? else {
            return Ok(None);
        };
        let mut chunk = RowChunk::with_capacity(1, FIRST_ROW_BYTES);
        chunk.push(row).map_err(db)?;
        chunk.row(0)?.into_stored().map(Some)
    })
}

/// Runs `sql` as a cached statement and hands its rows to `read`.
fn with_rows<T>(
    conn: &rusqlite::Connection,
    sql: &Sql,
    read: impl FnOnce(&mut rusqlite::Rows<'_>) -> Result<T>,
) -> Result<T> {
    let mut stmt = conn.prepare_cached(&sql.text).map_err(db)?;
    let params = sql.params.iter().map(to_sql);
    read(&mut stmt.query(rusqlite::params_from_iter(params)).map_err(db)?)
}

/// Rows in the first chunk a page fetch hands over; later chunks double up to
/// [`LAST_CHUNK`]. Small first, so that a short read's first events are decoded while
/// the rest are read; larger later, so that a long read pays few hand-offs.
const FIRST_CHUNK: usize = 16;
/// The largest chunk. Larger chunks leave one side idle longer at a page's start and
/// end (a 1,000-event keyset page read 0.79× as fast as plain rusqlite with 128-row
/// chunks, 0.85× with 64); smaller ones wake the consumer too often (32: 0.45×).
const LAST_CHUNK: usize = 64;
/// The text and blob bytes a chunk's buffer starts with room for, per row, before the
/// first chunk shows the real size: about an event with a small JSON document.
const FIRST_ROW_BYTES: usize = 512;

/// Runs a `SELECT` of event columns, passing the rows to `each` in chunks that grow
/// from [`FIRST_CHUNK`] rows to `chunk` (at most [`LAST_CHUNK`]); stops early when
/// `each` returns `false`.
fn each_chunk(
    conn: &rusqlite::Connection,
    sql: &Sql,
    chunk: usize,
    mut each: impl FnMut(RowChunk) -> Result<bool>,
) -> Result<PageEnd> {
    with_rows(conn, sql, |rows| {
        let mut end = PageEnd::default();
        let mut size = chunk.min(FIRST_CHUNK);
        let mut out = RowChunk::with_capacity(size, FIRST_ROW_BYTES);
        while let Some(row) = rows.next().map_err(db)? {
            out.push(row).map_err(db)?;
            if out.len() == size {
                end.note(&out);
                let row_bytes = out.row_bytes();
                if !each(std::mem::take(&mut out))? {
                    return Ok(end);
                }
                size = (size * 2).min(chunk).min(LAST_CHUNK);
                out = RowChunk::with_capacity(size, row_bytes);
            }
        }
        if !out.is_empty() {
            end.note(&out);
            each(out)?;
        }
        Ok(end)
    })
}

/// How a page ended: how many rows it had, and the last one's sequence and stream
/// version, which is where the next page starts.
#[derive(Debug, Default, Clone, Copy)]
struct PageEnd {
    count: usize,
    last: Option<(i64, Option<i64>)>,
}

impl PageEnd {
    fn note(&mut self, chunk: &RowChunk) {
        self.count += chunk.len();
        if let Some(last) = chunk.last_position() {
            self.last = Some(last);
        }
    }
}

/// A page being fetched on the blocking pool: its rows arrive in chunks while it runs.
struct PageFetch {
    chunks: UnboundedReceiver<RowChunk>,
    /// `None` once its result was taken.
    task: Option<JoinHandle<Result<PageEnd>>>,
}

/// Starts fetching one page with a pooled connection that is returned when the page is
/// read. The channel is unbounded but holds at most the page, so the fetch never waits
/// for the consumer; it stops early when the consumer is gone.
fn fetch_page(shared: Arc<Shared>, sql: Sql) -> PageFetch {
    let (tx, chunks) = unbounded_channel();
    let task = tokio::task::spawn_blocking(move || {
        let conn = shared.reader()?;
        each_chunk(&conn, &sql, LAST_CHUNK, |chunk| Ok(tx.send(chunk).is_ok()))
    });
    PageFetch {
        chunks,
        task: Some(task),
    }
}

/// Streams a paged read. Each page is fetched on the blocking pool and handed over in
/// chunks as it is read; rows become events as the consumer takes them, on its own
/// thread. Decoding (the JSON check above all) costs about half as much as reading a
/// row, so splitting the two keeps both cores busy: within a page, the consumer decodes
/// one chunk while the next is read, and the next page is fetched as soon as the
/// current one has been read. At most two pages are in memory.
pub(crate) fn paged(shared: Arc<Shared>, pager: Pager) -> EventStream {
    struct State {
        shared: Arc<Shared>,
        pager: Pager,
        /// The chunk being decoded, and its next row.
        chunk: RowChunk,
        next_row: usize,
        current: Option<PageFetch>,
        next: Option<PageFetch>,
    }

    impl State {
        fn start_fetch(&mut self) -> Result<Option<PageFetch>> {
            let Some(sql) = self.pager.next_sql(&SqliteDialect, &self.shared.table) else {
                return Ok(None);
            };
            Ok(Some(fetch_page(Arc::clone(&self.shared), sql?)))
        }

        /// Moves the pager past the current page once its fetch has ended, and starts
        /// the next page's.
        async fn finish_current(&mut self) -> Result<()> {
            let Some(task) = self.current.as_mut().and_then(|page| page.task.take()) else {
                return Ok(());
            };
            let end = joined(task.await)?;
            self.pager.advance_past(end.count, end.last);
            self.next = self.start_fetch()?;
            Ok(())
        }
    }

    let state = State {
        shared,
        pager,
        chunk: RowChunk::default(),
        next_row: 0,
        current: None,
        next: None,
    };
    futures::stream::try_unfold(state, |mut state| async move {
        loop {
            if state.next_row < state.chunk.len() {
                let event = state.chunk.row(state.next_row)?.into_stored()?;
                state.next_row += 1;
                return Ok(Some((event, state)));
            }
            if state.current.is_none() {
                state.shared.check_open()?;
                state.current = match state.next.take() {
                    Some(page) => Some(page),
                    None => state.start_fetch()?,
                };
            }
            let Some(page) = state.current.as_mut() else {
                return Ok(None);
            };
            match page.chunks.recv().await {
                Some(chunk) => {
                    state.chunk = chunk;
                    state.next_row = 0;
                    // The page was read to its end while this chunk waited: start the
                    // next page now rather than after this one's last chunk is decoded.
                    if page.task.as_ref().is_some_and(JoinHandle::is_finished) {
                        state.finish_current().await?;
                    }
                }
                None => {
                    state.finish_current().await?;
                    state.current = None;
                }
            }
        }
    })
    .boxed()
}

/// An error for a read that could not start, as a stream of that one error.
pub(crate) fn failed(error: Error) -> EventStream {
    futures::stream::once(async move { Err(error) }).boxed()
}
