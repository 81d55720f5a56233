//! The read path: rows streamed as they arrive, on a pooled connection the stream
//! holds until it ends; a follower's reads page by page, on connections held only
//! while a page is read.

use std::pin::Pin;
use std::sync::Arc;

use eventstore_core::sql::{Pager, Sql, TableName, select_events};
use eventstore_core::{CommitSignal, Error, EventQuery, EventStream, Result};
use futures::{FutureExt as _, StreamExt as _, TryStreamExt as _};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, RowStream};
use tracing::Instrument as _;

use deadpool_postgres::Object;

use crate::checkout::{Checkout, Connections};
use crate::columns::{EventColumns, decode_event};
use crate::dialect::{PostgresDialect, to_sql};
use crate::error::db;
use crate::horizon::{KnownHorizon, follows, pooled_horizon};
use crate::types::JsonText;

/// A tokio-postgres row of the event columns.
impl EventColumns for Row {
    type Error = tokio_postgres::Error;

    fn int8(&self, i: usize) -> std::result::Result<Option<i64>, Self::Error> {
        self.try_get(i)
    }

    fn text(&self, i: usize) -> std::result::Result<Option<&str>, Self::Error> {
        self.try_get(i)
    }

    fn jsonb(&self, i: usize) -> std::result::Result<Option<String>, Self::Error> {
        Ok(self.try_get::<_, Option<JsonText>>(i)?.map(|j| j.0))
    }

    fn bytea(&self, i: usize) -> std::result::Result<Option<Vec<u8>>, Self::Error> {
        self.try_get(i)
    }

    fn timestamptz(
        &self,
        i: usize,
    ) -> std::result::Result<Option<time::OffsetDateTime>, Self::Error> {
        self.try_get(i)
    }
}

/// What a read runs: a query (bounded by the horizon when it follows the global
/// order) or a ready statement.
pub(crate) enum Read {
    Query(Box<EventQuery>),
    Sql(Sql),
}

/// A page of a keyset walk (a query that follows the global order, with a limit and no
/// offset) read up to the highest horizon the store already knows, without computing
/// one. When that page comes back full it is exactly the page a fresh horizon would
/// give: everything up to the known horizon is final, and the fresh one is no lower.
/// When it comes back short, it goes on past the known horizon up to a fresh one.
struct Continuation {
    query: EventQuery,
    limit: u64,
    /// Rows read so far.
    seen: u64,
    /// The horizon the first part was bounded by.
    bound: i64,
}

impl Continuation {
    /// The rest of a short page, up to `safe` (a fresh horizon), if there can be any.
    fn rest(self, safe: i64) -> Option<EventQuery> {
        let capped = self
            .query
            .sequence_range()
            .1
            .is_some_and(|max| max <= self.bound);
        (safe > self.bound && !capped).then(|| {
            self.query
                .after(self.bound)
                .limit(self.limit - self.seen)
                .up_to(safe)
        })
    }
}

/// The statement of a read, computing the horizon first if it must.
async fn plan(
    client: &Object,
    table: &TableName,
    read: Read,
    known: &KnownHorizon,
) -> Result<(Sql, Option<Continuation>)> {
    let query = match read {
        Read::Sql(sql) => return Ok((sql, None)),
        Read::Query(query) if !follows(&query) => {
            return Ok((select_events(&PostgresDialect, table, &query, None)?, None));
        }
        Read::Query(query) => *query,
    };
    let bound = known.get();
    if let (Some(limit), 0, Some(after)) = (
        query.limit_value(),
        query.offset_value(),
        query.after_value(),
    ) && bound > after
    {
        let sql = select_events(&PostgresDialect, table, &query.clone().up_to(bound), None)?;
        let rest = Continuation {
            query,
            limit,
            seen: 0,
            bound,
        };
        return Ok((sql, Some(rest)));
    }
    let safe = pooled_horizon(client, table, known).await?.safe;
    Ok((
        select_events(&PostgresDialect, table, &query.up_to(safe), None)?,
        None,
    ))
}

/// Whether the store plans a read with its parameters' values (a custom plan) rather
/// than once for any values (the generic plan its sessions keep otherwise): one with a
/// time range that has a start and no end ("since"), and one without a time range that
/// filters on an indexed attribute
/// ([`EventQuery::filters_indexed_attribute`]: a type, a source, a subject, a
/// correlation id, a topic or a destination).
///
/// The pool's sessions reuse generic plans (see `connect::pool`), and a generic plan
/// cannot tell one value from another. For `time >= $1 ORDER BY sequence` it cannot
/// tell a start in the last minute from one years ago: it walks the primary key from
/// the start of the history and filters on time (on a million events, 0.5 s for the
/// last hundred). For `type = $1 ORDER BY sequence LIMIT n` it assumes every type is
/// as common as the average one, and walks the primary key filtering on type: right
/// for a common type, but a type held by 20 events of a million was walked through the
/// whole table (0.62 s, against 0.12 ms from `(type, sequence)` planned with the
/// value). Planned with their values, PostgreSQL reads a recent start or a rare value
/// from its index and walks the primary key for an old start or a common value. A
/// range with an end keeps the generic plan, which reads it from the `(time)` index:
/// planned with its values, a range that holds many events may be walked along the
/// primary key from the start of the history instead (docs/schema.md, "Query plans on
/// 1,000,000 rows"). Planning costs a fraction of a millisecond, which only these
/// reads pay.
pub fn planned_with_values(query: &EventQuery) -> bool {
    match query.time_range() {
        (Some(_), None) => true,
        (_, Some(_)) => false,
        (None, None) => query.filters_indexed_attribute(),
    }
}

/// Opens the transaction a read planned with its values runs in: the setting lasts
/// until its `COMMIT`.
const WITH_VALUES: &str = "BEGIN READ ONLY; SET LOCAL plan_cache_mode = force_custom_plan";

/// Starts `sql` on `client`, planned with its values when `with_values`.
async fn run(client: &Object, sql: &Sql, with_values: bool) -> Result<Pin<Box<RowStream>>> {
    let statement = client.prepare_cached(&sql.text).await.map_err(db)?;
    let params: Vec<Box<dyn ToSql + Send + Sync>> = sql.params.iter().map(to_sql).collect();
    let rows = client.query_raw(
        &statement,
        params.iter().map(|p| &**p as &(dyn ToSql + Sync)),
    );
    if !with_values {
        return Ok(Box::pin(rows.await.map_err(db)?));
    }
    // The transaction, the statement and its `COMMIT` are sent at once, in this order
    // (tokio-postgres sends a request when its future is first polled): one round trip.
    // `COMMIT` is not waited for, as the rows come before its reply; it is on its way,
    // so the transaction ends on the server even when the stream is dropped early, and
    // the connection goes back to the pool outside any transaction.
    let (begun, rows, ()) = futures::join!(client.batch_execute(WITH_VALUES), rows, async {
        let _sent = client.batch_execute("COMMIT").now_or_never();
    });
    begun.map_err(db)?;
    Ok(Box::pin(rows.map_err(db)?))
}

/// A read under way.
struct Rows {
    client: Checkout,
    rows: Pin<Box<RowStream>>,
    table: TableName,
    known: Arc<KnownHorizon>,
    rest: Option<Continuation>,
    /// Rows the read's limit still allows, if it has one.
    left: Option<u64>,
    /// The store's state: a read ends with `Error::Closed` at its next row once the
    /// store is closed.
    signal: Arc<CommitSignal>,
}

/// Streams a read. The server sends rows as the consumer takes them (tokio-postgres
/// stops reading the socket when the consumer lags), so memory stays bounded whatever
/// the result's size; the pooled connection goes back when the stream ends or is
/// dropped. A read bounded by the caller's horizon (`EventQuery::within_horizon`, how
/// followers read) is [`paged`] instead, `page_size` rows a page.
///
/// Once the store is closed (`signal`), a read under way ends with `Error::Closed` at
/// its next row, as a SQLite store's reads end at their next page: the statement in
/// flight is cancelled and its connection leaves the pool (see [`crate::checkout`]).
pub(crate) fn stream(
    pool: Connections,
    table: TableName,
    read: Read,
    known: Arc<KnownHorizon>,
    page_size: u64,
    signal: Arc<CommitSignal>,
) -> EventStream {
    let read = match read {
        Read::Query(query) if query.is_within_horizon() => {
            return paged(pool, table, *query, page_size, signal);
        }
        read => read,
    };
    enum State {
        Start(
            Connections,
            TableName,
            Read,
            Arc<KnownHorizon>,
            Arc<CommitSignal>,
        ),
        Reading(Box<Rows>),
        Done,
    }
    let start = State::Start(pool, table, read, known, signal);
    futures::stream::try_unfold(start, |state| async move {
        let mut r = match state {
            State::Start(pool, table, read, known, signal) => {
                signal.check_open()?;
                let client = pool.get().await?;
                let with_values = matches!(&read, Read::Query(q) if planned_with_values(q));
                let left = match &read {
                    Read::Query(query) => query.limit_value(),
                    Read::Sql(_) => None,
                };
                let started = async {
                    let (sql, rest) = plan(&client, &table, read, &known).await?;
                    Ok::<_, Error>((run(&client, &sql, with_values).await?, rest))
                }
                .await;
                // A statement that failed has ended: nothing is in flight.
                let (rows, rest) = match started {
                    Ok(started) => started,
                    Err(e) => {
                        client.release();
                        return Err(e);
                    }
                };
                Box::new(Rows {
                    client,
                    rows,
                    table,
                    known,
                    rest,
                    left,
                    signal,
                })
            }
            State::Reading(r) => r,
            State::Done => return Ok(None),
        };
        loop {
            // Dropped here, the read's checkout cancels its statement.
            r.signal.check_open()?;
            match r.rows.try_next().await {
                Ok(Some(row)) => {
                    if let Some(rest) = &mut r.rest {
                        rest.seen += 1;
                    }
                    let event = decode_event(&row)?;
                    r.left = r.left.map(|left| left.saturating_sub(1));
                    if r.left != Some(0) {
                        return Ok(Some((event, State::Reading(r))));
                    }
                    // The limit's last row: the statement's end is right behind it. Read
                    // it now, so that a consumer who stops at the limit (a `limit(1)`
                    // read taken with one `next()`) leaves an idle connection behind.
                    return match r.rows.try_next().await {
                        Ok(None) => {
                            r.client.release();
                            Ok(Some((event, State::Done)))
                        }
                        Ok(Some(_)) => Err(Error::database("more rows than the read's limit")),
                        Err(e) => {
                            r.client.release();
                            Err(db(e))
                        }
                    };
                }
                Ok(None) => {}
                Err(e) => {
                    // The statement failed: it has ended.
                    r.client.release();
                    return Err(db(e));
                }
            }
            let continued = async {
                let Some(rest) = r.rest.take().filter(|rest| rest.seen < rest.limit) else {
                    return Ok(None);
                };
                let safe = pooled_horizon(&r.client, &r.table, &r.known).await?.safe;
                let Some(query) = rest.rest(safe) else {
                    return Ok(None);
                };
                // The rest of a keyset page: a short range of sequences, whose generic
                // plan reads it along the primary key.
                let sql = select_events(&PostgresDialect, &r.table, &query, None)?;
                run(&r.client, &sql, false).await.map(Some)
            }
            .await;
            match continued {
                Ok(Some(rows)) => r.rows = rows,
                Ok(None) => {
                    r.client.release();
                    return Ok(None);
                }
                Err(e) => {
                    r.client.release();
                    return Err(e);
                }
            }
        }
    })
    .boxed()
}

/// Rows handed over at a time while a page is read.
const CHUNK: usize = 64;

/// Streams a follower's read (bounded by the caller's horizon) page by page
/// (`PostgresOptions::page_size` rows each, as many as a SQLite store's page by
/// default), keyset paged on the sequence, on a task of its own that holds a pooled
/// connection only while it reads a page, never while it waits for the consumer. Streamed on one
/// connection instead, a follower held it for its whole catch-up while projections and
/// relays wait for one of the same pool to apply an event or save a checkpoint; as many
/// followers as the pool has connections stalled them all until the pool's wait
/// timeout, and a pool of one could never save a checkpoint past the first batch of a
/// backlog.
///
/// The task hands a page's rows over in chunks as they arrive (the consumer decodes
/// them meanwhile, as it does a streamed read's), into a channel that never makes it
/// wait; before reading a page it waits until the consumer has finished the page
/// before last, so at most two pages are in memory and the next page is read while the
/// consumer takes this one. Nothing is read before the stream is first polled; dropping
/// the stream stops the task. Once the store is closed (`signal`), the read ends with
/// `Error::Closed` at its next row, as a streamed one does, whoever owns the pool.
fn paged(
    pool: Connections,
    table: TableName,
    query: EventQuery,
    page_size: u64,
    signal: Arc<CommitSignal>,
) -> EventStream {
    enum State {
        Start(Connections, TableName, Box<EventQuery>, u64, tracing::Span),
        Reading(Pages),
        Done,
    }
    // The read's span, entered by the store while the read is created, for the task.
    let span = tracing::Span::current();
    let start = State::Start(pool, table, Box::new(query), page_size, span);
    futures::stream::unfold((start, signal), |(state, signal)| async move {
        let mut p = match state {
            State::Start(..) | State::Reading(_) if signal.is_closed() => {
                // Dropping the pages stops their task.
                return Some((Err(Error::Closed), (State::Done, signal)));
            }
            State::Start(pool, table, query, page_size, span) => {
                Pages::start(pool, table, *query, page_size, span)
            }
            State::Reading(p) => p,
            State::Done => return None,
        };
        loop {
            if let Some(row) = p.current.next() {
                // A row that does not decode ends the read, as in a streamed one.
                return Some(match decode_event(&row) {
                    Ok(event) => (Ok(event), (State::Reading(p), signal)),
                    Err(e) => (Err(e), (State::Done, signal)),
                });
            }
            match p.chunks.recv().await {
                Some(Ok(Chunk::Rows(rows))) => p.current = rows.into_iter(),
                Some(Ok(Chunk::PageEnd)) => p.taken.add_permits(1),
                Some(Err(e)) => return Some((Err(e), (State::Done, signal))),
                None => {
                    // The task ended; unless it failed without a word (a panic),
                    // every row was handed over.
                    let ended = p.task.0.take()?.await;
                    return ended
                        .err()
                        .map(|e| (Err(Error::database(e)), (State::Done, signal)));
                }
            }
        }
    })
    .boxed()
}

/// What a [`paged`] read's task hands over.
enum Chunk {
    /// Rows of the page being read, in order.
    Rows(Vec<Row>),
    /// The page's last rows were handed over.
    PageEnd,
}

/// A [`paged`] read under way.
struct Pages {
    /// Rows read, page ends, or the error that ended the read.
    chunks: mpsc::UnboundedReceiver<Result<Chunk>>,
    /// One permit per page the task may read ahead; the consumer gives one back as it
    /// finishes a page.
    taken: Arc<Semaphore>,
    task: Fetcher,
    /// The chunk being taken.
    current: std::vec::IntoIter<Row>,
}

impl Pages {
    /// Starts the task reading the pages of `query`, `page_size` rows each.
    fn start(
        pool: Connections,
        table: TableName,
        query: EventQuery,
        page_size: u64,
        span: tracing::Span,
    ) -> Self {
        let with_values = planned_with_values(&query);
        let (sender, chunks) = mpsc::unbounded_channel();
        // The page being taken and the one being read.
        let taken = Arc::new(Semaphore::new(2));
        let pager = Pager::query(query, page_size);
        let task = fetch_pages(pool, table, pager, with_values, Arc::clone(&taken), sender);
        Self {
            chunks,
            taken,
            task: Fetcher(Some(tokio::spawn(task.instrument(span)))),
            current: Vec::new().into_iter(),
        }
    }
}

/// The task reading a [`paged`] read, stopped when the read is dropped.
struct Fetcher(Option<JoinHandle<()>>);

impl Drop for Fetcher {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}

/// Reads `pager`'s pages, each once the consumer has finished the page before last,
/// and hands their rows over, then the error that ended the read if one did; stops
/// when the receiver is gone.
async fn fetch_pages(
    pool: Connections,
    table: TableName,
    mut pager: Pager,
    with_values: bool,
    taken: Arc<Semaphore>,
    chunks: mpsc::UnboundedSender<Result<Chunk>>,
) {
    while let Some(sql) = pager.next_sql(&PostgresDialect, &table) {
        // Waits for the consumer holding no connection.
        match taken.acquire().await {
            Ok(permit) => permit.forget(),
            Err(_) => return,
        }
        let read = match sql {
            Ok(sql) => fetch_page(&pool, &sql, with_values, &chunks).await,
            Err(e) => Err(e),
        };
        let outcome = read.and_then(|(count, last)| {
            pager.advance_past(count, last);
            chunks.send(Ok(Chunk::PageEnd)).map_err(|_| Error::Closed)
        });
        if let Err(e) = outcome {
            let _gone = chunks.send(Err(e));
            return;
        }
    }
}

/// Reads one page on a pooled connection, returned to the pool when the page is read,
/// handing its rows over in chunks; returns how many rows it had and the sequence and
/// stream version of the last. The rows read before an error are handed over first.
async fn fetch_page(
    pool: &Connections,
    sql: &Sql,
    with_values: bool,
    chunks: &mpsc::UnboundedSender<Result<Chunk>>,
) -> Result<(usize, Option<(i64, Option<i64>)>)> {
    // The pool closes when the store does (`EventStore::close`).
    let client = pool.get().await?;
    let mut rows = match run(&client, sql, with_values).await {
        Ok(rows) => rows,
        Err(e) => {
            // The statement failed: it has ended.
            client.release();
            return Err(e);
        }
    };
    let (mut count, mut last) = (0, None);
    let mut chunk = Vec::with_capacity(CHUNK);
    let read = loop {
        match rows.try_next().await {
            Ok(Some(row)) => {
                count += 1;
                chunk.push(row);
                if chunk.len() == CHUNK {
                    last = chunk.last().map(last_position).transpose()?;
                    let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK));
                    chunks
                        .send(Ok(Chunk::Rows(full)))
                        .map_err(|_| Error::Closed)?;
                }
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(db(e)),
        }
    };
    // The page's statement has ended, whole or failed: nothing is in flight.
    client.release();
    if !chunk.is_empty() {
        last = chunk.last().map(last_position).transpose()?;
        chunks
            .send(Ok(Chunk::Rows(chunk)))
            .map_err(|_| Error::Closed)?;
    }
    read.map(|()| (count, last))
}

/// The sequence and stream version of a row, for the pager.
fn last_position(row: &Row) -> Result<(i64, Option<i64>)> {
    let sequence = row
        .int8(0)
        .map_err(Error::database)?
        .ok_or_else(|| Error::database("the sequence column is NULL"))?;
    Ok((sequence, row.int8(1).map_err(Error::database)?))
}

/// An error for a read that could not start, as a stream of that one error.
pub(crate) fn failed(error: Error) -> EventStream {
    futures::stream::once(async move { Err(error) }).boxed()
}
