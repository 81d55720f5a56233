//! Bulk import: many events in one write transaction, through one prepared insert.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use eventstore_core::timestamp::format_fixed;
use eventstore_core::{
    AppendOptions, Error, Event, ImportChunks, ImportResult, Result, StreamVersions,
};
use rusqlite::{Connection, TransactionBehavior};
use time::OffsetDateTime;

use crate::error::db;
use crate::store::SqliteEventStore;
use crate::write::{WriteSql, constraint_error, insert_row};

/// The most events per chunk (fewer once their sizes reach the batch-bytes limit: see
/// [`ImportChunks`]): the unit the event size limit is checked on, and the new subjects
/// of which are looked up, before the chunk is written (as PostgreSQL's `COPY` chunks).
const CHUNK: usize = 20_000;

/// The writer connection's page cache from its first import on, in KiB (64 MiB). At
/// SQLite's default (2 MiB) a load of a million events spills dirty pages to the WAL
/// before it commits and re-reads the index pages it evicted. The cache is left at this
/// size after the import: shrinking it would throw away the index pages the next call
/// of a batched import (the CLI's) needs. Public so that a baseline can load with the
/// same cache.
pub const IMPORT_CACHE_KIB: i64 = 64 * 1024;

impl SqliteEventStore {
    /// Loads events in one write transaction: all are written or none. Events get
    /// sequences in iteration order and stream versions after their subjects' current
    /// ones. A `(source, id)` already stored, or twice in the import, fails it with
    /// [`Error::Duplicate`]; an event over the store's event size limit, with
    /// [`Error::Invalid`] (the batch limits do not refuse an import, which is meant for
    /// loads larger than any append: the batch-bytes limit only ends the chunks it is
    /// written in, see [`ImportChunks`]).
    ///
    /// The import takes the store's writer like an append does, so appends queued
    /// before it commit first and those queued during it wait for it (none can
    /// interleave, so none conflicts with it); followers see the imported events once
    /// it commits, in order. Against appends it saves the per-batch savepoint and
    /// commit, looks each subject's version up once, and gives the writer a larger page
    /// cache for the load. The iterator is consumed on the blocking pool.
    ///
    /// An import whose caller gives up on it (drops its future, as a time-out does)
    /// stops pulling events and rolls back, as PostgreSQL's does, rather than holding
    /// the writer, and committing, for a caller that has gone.
    ///
    /// ```
    /// use eventstore_core::{Event, EventStore};
    /// use eventstore_sqlite::SqliteEventStore;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> eventstore_core::Result<()> {
    /// let store = SqliteEventStore::open_in_memory().await?;
    /// let events = (0..1_000).map(|i| {
    ///     Event::builder().id(i.to_string()).source("/load").ty("loaded").subject("s").build()
    /// });
    /// let events: Vec<Event> = events.collect::<Result<_, _>>()?;
    /// let result = store.import(events).await?;
    /// assert_eq!(result.count, 1_000);
    /// assert_eq!(store.stream_version("s").await?, Some(1_000));
    /// # Ok(()) }
    /// ```
    pub async fn import<I>(&self, events: I) -> Result<ImportResult>
    where
        I: IntoIterator<Item = Event>,
        I::IntoIter: Send + 'static,
    {
        let events = events.into_iter();
        let span = tracing::info_span!("import", table = %self.table());
        let given_up = GivenUp::default();
        let abandoned = Arc::clone(&given_up.0);
        self.with_writer_pooled(move |conn, shared| {
            let _entered = span.enter();
            conn.pragma_update(None, "cache_size", -IMPORT_CACHE_KIB)
                .map_err(db)?;
            let imported = import_in(conn, &shared.write_sql, events, &abandoned)?;
            if imported.count > 0 {
                shared.signal.notify();
            }
            Ok(imported)
        })
        .await
    }
}

/// Set when the future of an [`import`](SqliteEventStore::import) is dropped: before
/// the import ended, its caller gave up on it. (Set after it ended, it changes nothing.)
#[derive(Default)]
struct GivenUp(Arc<AtomicBool>);

impl Drop for GivenUp {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Writes `events` in one `BEGIN IMMEDIATE` transaction on the writer connection,
/// rolled back (by the transaction's drop) on any error, or once `abandoned` is set:
/// no more events are pulled, and nothing commits.
fn import_in(
    conn: &mut Connection,
    write_sql: &WriteSql,
    events: impl Iterator<Item = Event>,
    abandoned: &AtomicBool,
) -> Result<ImportResult> {
    let events = events.take_while(|_| !abandoned.load(Ordering::Relaxed));
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db)?;
    let recorded_at = OffsetDateTime::now_utc();
    let recorded_text = format_fixed(recorded_at);
    let mut versions = StreamVersions::new();
    let mut count = 0u64;
    {
        let mut insert = tx.prepare_cached(write_sql.insert()).map_err(db)?;
        // No expectations: a stream version constraint can only fail on a writer that
        // skipped the write lock, and it is reported as a conflict.
        let options = AppendOptions::default();
        for chunk in ImportChunks::new(events, write_sql.limits(), CHUNK) {
            let chunk = chunk?;
            for subject in versions.unknown(&chunk) {
                let current = write_sql.current_version(&tx, subject)?;
                versions.record(subject, current);
            }
            for event in &chunk {
                let version = versions.assign(event);
                let inserted = insert_row(&mut insert, event, version, &recorded_text)
                    .map_err(|e| constraint_error(e, event, &options, write_sql, &tx))?;
                if !inserted {
                    return Err(Error::Duplicate {
                        event_source: event.source().to_owned(),
                        id: event.id().to_owned(),
                    });
                }
            }
            count += chunk.len() as u64;
        }
    }
    if abandoned.load(Ordering::Relaxed) {
        return Err(Error::database("the import's caller gave up on it"));
    }
    tx.commit().map_err(db)?;
    Ok(ImportResult { count, recorded_at })
}
