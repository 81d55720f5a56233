//! [`SqliteEventStore`]: the [`EventStore`] on a SQLite database.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use eventstore_core::sql::{Pager, TableName, select_by_id};
use eventstore_core::{
    AppendOptions, AppendResult, CheckpointMove, CommitSignal, Error, Event, EventQuery,
    EventStore, EventStream, Horizon, Result, StoredEvent, Transacted, TransactionalStore, Wakeups,
    check_transaction,
};
use r2d2::{Pool, PooledConnection};
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use tokio::sync::Mutex;
use tracing::Instrument as _;

use crate::checkpointer::Checkpointer;
use crate::coordination::{advance_checkpoint_sql, now_text};
use crate::dialect::SqliteDialect;
use crate::error::{db, db_shared, is_busy, joined, opening};
use crate::options::{Location, SqliteOptions};
use crate::read::{failed, fetch_one, paged};
use crate::schema;
use crate::write::WriteSql;

/// A CloudEvents store in a SQLite database.
///
/// Cheap to clone (an `Arc` inside); every clone is the same store.
///
/// Where calls run: short database work (point reads such as `get`, `stream_version`
/// and `horizon`; appends, `transact`, checkpoint, lease and snapshot writes) takes
/// microseconds to a millisecond or two, and a trip through tokio's blocking pool and
/// back tens of microseconds, so on a multi-thread runtime it runs on the calling
/// thread through [`tokio::task::block_in_place`], which first hands the thread's other
/// tasks to another worker. Other futures of the *same* task (in a `join!` or
/// `select!`) wait for it. On a current-thread runtime, where that is not possible, it
/// goes to the blocking pool. Paged reads (`query`, `stream`), `import` and migrations
/// always run on the blocking pool.
///
/// Appends go through one writer connection in
/// `BEGIN IMMEDIATE` transactions, queued fairly, so concurrent appends never fail with
/// "database is locked"; reads use a pool of reader connections and, in WAL mode, never
/// wait for writers.
#[derive(Clone)]
pub struct SqliteEventStore {
    shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) table: TableName,
    /// The reader connections; `None` once closed (the pool's idle connections close
    /// with it, those reading a page once the page is read).
    readers: std::sync::Mutex<Option<Pool<SqliteConnectionManager>>>,
    /// The writer connection; `None` once closed.
    writer: Arc<Mutex<Option<Connection>>>,
    pub(crate) write_sql: WriteSql,
    page_size: u64,
    /// Whether migrating creates the optional `(type, time)` index.
    type_time_index: bool,
    /// Wakes followers after commits; knows whether the store is closed.
    pub(crate) signal: Arc<CommitSignal>,
    /// Appends waiting for the writer; whoever holds it next commits them all.
    pending: std::sync::Mutex<Vec<PendingAppend>>,
    /// Checkpoints the write-ahead log off the writer; `None` without a log (in
    /// memory, WAL refused) or with checkpoints turned off.
    checkpointer: Option<Checkpointer>,
}

/// An append waiting for the writer, and where its result goes.
struct PendingAppend {
    events: Vec<Event>,
    options: AppendOptions,
    done: tokio::sync::oneshot::Sender<Result<AppendResult>>,
}

impl Shared {
    /// Every append queued for the writer, taken off the queue.
    fn take_pending(&self) -> Vec<PendingAppend> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Group commit: appends every queued batch in one write transaction, each inside
    /// a savepoint of its own (unless it is alone) so that one batch's failure (a
    /// conflict, a duplicate) rolls back only that batch, then commits once. Concurrent appenders share the
    /// transaction's cost instead of queueing one commit each.
    fn commit_pending(&self, conn: &mut Connection) {
        let jobs: Vec<PendingAppend> = self
            .take_pending()
            .into_iter()
            // An append whose caller stopped waiting (its future dropped) is left out:
            // it would otherwise commit at some later, unrelated moment, after the
            // caller had given up on it (and perhaps retried it under a new id).
            .filter(|job| !job.done.is_closed())
            .collect();
        if jobs.is_empty() {
            return;
        }
        let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
            Ok(tx) => tx,
            Err(e) => {
                for job in jobs {
                    let _ = job.done.send(Err(db_shared(&e)));
                }
                return;
            }
        };
        // A batch alone in its transaction needs no savepoint: on failure the whole
        // transaction rolls back. Every page a savepoint's statements change is first
        // copied to a statement journal, which a 100-event batch (table and index
        // pages across the file) fills past SQLite's in-memory threshold.
        let alone = jobs.len() == 1;
        let mut results = Vec::with_capacity(jobs.len());
        for job in &jobs {
            if alone {
                results.push(self.write_sql.append(&tx, &job.events, &job.options));
                continue;
            }
            results.push(
                self.write_sql
                    .append_in_savepoint(&tx, &job.events, &job.options),
            );
        }
        let committed = if alone && results[0].is_err() {
            tx.rollback()
        } else {
            tx.commit()
        };
        let any = results
            .iter()
            .any(|r| r.as_ref().is_ok_and(|a| !a.appended.is_empty()));
        for (job, result) in jobs.into_iter().zip(results) {
            let result = match (&committed, result) {
                (Err(e), Ok(_)) => Err(db_shared(e)),
                (_, result) => result,
            };
            let _ = job.done.send(result);
        }
        if committed.is_ok() && any {
            self.signal.notify();
        }
        self.after_write();
    }

    /// After work on the writer, on the thread that did it: lets the checkpointer see
    /// how large the last commit left the write-ahead log.
    fn after_write(&self) {
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.after_write();
        }
    }

    /// A reader from the pool. r2d2 fails a checkout only when its connection timeout
    /// ([`SqliteOptions::reader_timeout`]) passed (every reader busy, or none could be opened: the message then carries
    /// the last error), so a failure is a [`Error::Timeout`], as a pool time-out is on
    /// PostgreSQL. Once the store is closed, a checkout fails with [`Error::Closed`].
    pub(crate) fn reader(&self) -> Result<PooledConnection<SqliteConnectionManager>> {
        let readers = self
            .readers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        readers
            .ok_or(Error::Closed)?
            .get()
            .map_err(|e| eventstore_core::Error::Timeout(Box::new(e)))
    }

    pub(crate) fn check_open(&self) -> Result<()> {
        self.signal.check_open()
    }
}

impl std::fmt::Debug for SqliteEventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteEventStore")
            .field("table", &self.shared.table)
            .finish_non_exhaustive()
    }
}

/// How every connection of a store opens its database.
const OPEN_FLAGS: OpenFlags = OpenFlags::SQLITE_OPEN_READ_WRITE
    .union(OpenFlags::SQLITE_OPEN_CREATE)
    .union(OpenFlags::SQLITE_OPEN_URI)
    .union(OpenFlags::SQLITE_OPEN_NO_MUTEX);

fn configure(conn: &Connection, options: &SqliteOptions) -> rusqlite::Result<()> {
    conn.busy_timeout(options.busy_timeout)?;
    let synchronous = if options.synchronous_full {
        "FULL"
    } else {
        "NORMAL"
    };
    conn.pragma_update(None, "synchronous", synchronous)?;
    conn.pragma_update(None, "wal_autocheckpoint", options.wal_autocheckpoint)?;
    // Statement journals (a group commit's savepoints) stay in memory instead of
    // spilling to temporary files.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    if options.mmap_size > 0 {
        let bytes = i64::try_from(options.mmap_size).unwrap_or(i64::MAX);
        conn.pragma_update(None, "mmap_size", bytes)?;
    }
    Ok(())
}

/// Switches the file to WAL mode and returns the journal mode it is in. The switch needs
/// the file to itself, and SQLite reports another connection in the way at once rather
/// than through the busy handler (the pragma already holds a read lock, so waiting
/// could deadlock): eight stores opening a new file together failed that way in 15 of
/// 350 runs of `stores_opening_a_new_file_at_once_migrate_it_once`, and in none of 300
/// with the retry. A busy switch is retried, with pauses of 1 ms growing to 50 ms,
/// until `timeout` (the busy timeout) has passed; by then another opener has usually
/// switched the file already, and the pragma only reports it.
fn enable_wal(conn: &Connection, timeout: Duration) -> rusqlite::Result<String> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0)) {
            Err(e) if is_busy(&e) && Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            done => return done,
        }
    }
}

impl SqliteEventStore {
    /// Opens (creating if needed) the database file at `path`, with default options.
    pub async fn open(path: impl AsRef<std::path::Path>) -> Result<Self> {
        SqliteOptions::file(path).open().await
    }

    /// Opens a `sqlite:` URL (see [`SqliteOptions::from_url`]).
    pub async fn open_url(url: &str) -> Result<Self> {
        SqliteOptions::from_url(url)?.open().await
    }

    /// Opens a private in-memory store.
    pub async fn open_in_memory() -> Result<Self> {
        SqliteOptions::in_memory().open().await
    }

    pub(crate) async fn open_with(options: SqliteOptions) -> Result<Self> {
        let shared = tokio::task::spawn_blocking(move || Self::open_blocking(options));
        joined(shared.await).map(|shared| Self {
            shared: Arc::new(shared),
        })
    }

    /// Opens the writer connection the options name, configured and (for a file) in
    /// WAL mode: what opening a store and migrating without one share. Returns the path
    /// its connections open, the connection and whether the file is in WAL mode.
    fn open_writer(options: &SqliteOptions) -> Result<(PathBuf, Connection, bool)> {
        let path = options.location.connection_path()?;
        let writer = Connection::open_with_flags(&path, OPEN_FLAGS)
            .map_err(|e| Error::Config(format!("cannot open SQLite database {path:?}: {e}")))?;
        configure(&writer, options).map_err(opening(&path))?;
        let mut wal = false;
        if matches!(options.location, Location::File(_)) {
            // WAL lets readers run beside the writer; it is a property of the file.
            let mode = enable_wal(&writer, options.busy_timeout).map_err(opening(&path))?;
            wal = mode.eq_ignore_ascii_case("wal");
            if !wal {
                tracing::warn!(%mode, "SQLite refused WAL mode; readers will wait for writers");
            }
        }
        Ok((path, writer, wal))
    }

    /// Applies the migrations the options' file lacks without opening a store: see
    /// [`SqliteOptions::migrate`].
    pub(crate) async fn migrate_with(options: SqliteOptions) -> Result<Vec<i64>> {
        if options.location == Location::Memory {
            return Err(Error::Config(
                "an in-memory store is a new database each time it opens, so there is \
                 nothing to migrate before: open it with auto_migrate(true)"
                    .to_owned(),
            ));
        }
        let task = tokio::task::spawn_blocking(move || {
            let (_, mut writer, _) = Self::open_writer(&options)?;
            schema::migrate(&mut writer, &options.table, options.type_time_index)
        });
        joined(task.await)
    }

    fn open_blocking(options: SqliteOptions) -> Result<Shared> {
        let flags = OPEN_FLAGS;
        let (path, mut writer, wal) = Self::open_writer(&options)?;
        if options.auto_migrate {
            schema::migrate(&mut writer, &options.table, options.type_time_index)?;
        } else {
            schema::check(&writer, &options.table)?;
        }
        let checkpointer = match (wal, options.wal_autocheckpoint) {
            (true, threshold @ 1..) => {
                let conn = Connection::open_with_flags(&path, flags).map_err(db)?;
                configure(&conn, &options).map_err(db)?;
                let started = Checkpointer::start(&writer, conn, threshold);
                Some(started.map_err(|e| {
                    Error::Config(format!("cannot start the SQLite checkpoint thread: {e}"))
                })?)
            }
            _ => None,
        };
        let init_options = options.clone();
        let manager = SqliteConnectionManager::file(&path)
            .with_flags(flags)
            .with_init(move |conn| configure(conn, &init_options));
        let readers = Pool::builder()
            .max_size(options.readers)
            .connection_timeout(options.reader_timeout)
            .min_idle(Some(0))
            // A connection to a local file does not go stale as a network one does;
            // the check would run an empty statement on every checkout.
            .test_on_check_out(false)
            .build(manager)
            .map_err(db)?;
        Ok(Shared {
            write_sql: WriteSql::new(&options.table, options.limits),
            table: options.table,
            readers: std::sync::Mutex::new(Some(readers)),
            writer: Arc::new(Mutex::new(Some(writer))),
            page_size: options.page_size,
            type_time_index: options.type_time_index,
            signal: Arc::new(CommitSignal::new(options.poll_interval)),
            pending: std::sync::Mutex::new(Vec::new()),
            checkpointer,
        })
    }

    /// Applies any migrations the table lacks, and creates the
    /// [`type_time_index`](SqliteOptions::type_time_index) if asked for and missing;
    /// returns the versions applied. A store opened with
    /// [`auto_migrate(false)`](SqliteOptions::auto_migrate) opens only on a schema that
    /// is up to date, so for it this makes only the index; to migrate a file before such
    /// a store opens it, use [`SqliteOptions::migrate`].
    pub async fn migrate(&self) -> Result<Vec<i64>> {
        let (table, index) = (self.shared.table.clone(), self.shared.type_time_index);
        self.with_writer_pooled(move |conn, _| schema::migrate(conn, &table, index))
            .await
    }

    /// The event table's name.
    pub fn table(&self) -> &TableName {
        &self.shared.table
    }

    /// Appends inside a transaction the caller holds on its own connection to the same
    /// database file, synchronously (call it inside the caller's blocking code). The
    /// events commit or roll back with the caller's transaction. A batch refused (an
    /// error: a conflict, a duplicate) leaves nothing of itself in the transaction, as
    /// on PostgreSQL: the caller may handle the error and still commit its own writes.
    ///
    /// Begin the transaction with `TransactionBehavior::Immediate`: a deferred one that
    /// has read may fail to take the write lock. This store's followers are not told of
    /// the commit, which they see at their next poll; call
    /// [`notify_committed`](Self::notify_committed) after committing to wake them at once.
    /// On a closed store it fails with [`Error::Closed`] and writes nothing.
    pub fn append_in(
        &self,
        conn: &Connection,
        events: &[Event],
        options: &AppendOptions,
    ) -> Result<AppendResult> {
        self.shared.check_open()?;
        if conn.is_autocommit() {
            return Err(Error::Config(
                "append_in needs an open transaction on the connection (begin one with \
                 TransactionBehavior::Immediate)"
                    .to_owned(),
            ));
        }
        self.shared.write_sql.limits().check(events)?;
        options.check()?;
        self.shared
            .write_sql
            .append_in_savepoint(conn, events, options)
    }

    /// Wakes this store's followers, after a commit it could not see (see
    /// [`append_in`](Self::append_in)).
    pub fn notify_committed(&self) {
        self.shared.signal.notify();
    }

    /// Runs a read of any length on a reader connection on the blocking pool.
    pub(crate) async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.on_reader(Work::Long, move |conn, _| f(conn)).await
    }

    /// Runs a write on the writer connection, queued behind appends.
    pub(crate) async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.with_writer(move |conn, _| f(conn)).await
    }

    /// Runs a short write (a transaction of a few statements) on the writer
    /// connection, [in place](Work::Short), after every append queued before it.
    pub(crate) async fn with_writer<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection, &Shared) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.on_writer(Work::Short, f).await
    }

    /// Runs long work (an import, migrations) on the writer connection on the blocking
    /// pool, after every append queued before it; the calling task stays free to run
    /// whatever it runs beside the call.
    pub(crate) async fn with_writer_pooled<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection, &Shared) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.on_writer(Work::Long, f).await
    }

    async fn on_writer<T: Send + 'static>(
        &self,
        work: Work,
        f: impl FnOnce(&mut Connection, &Shared) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.shared.check_open()?;
        let mut writer = Arc::clone(&self.shared.writer).lock_owned().await;
        // Closed while waiting: `close` has had the writer and returned.
        self.shared.check_open()?;
        let shared = Arc::clone(&self.shared);
        work.run(move || {
            let conn = writer.as_mut().ok_or(Error::Closed)?;
            let done = f(conn, &shared);
            shared.after_write();
            done
        })
        .await
    }

    /// Runs a point read (an index probe returning a row or two) on a reader
    /// connection, [in place](Work::Short).
    pub(crate) async fn point_read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection, &Shared) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.on_reader(Work::Short, f).await
    }

    async fn on_reader<T: Send + 'static>(
        &self,
        work: Work,
        f: impl FnOnce(&Connection, &Shared) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.shared.check_open()?;
        let shared = Arc::clone(&self.shared);
        work.run(move || {
            let conn = shared.reader()?;
            f(&conn, &shared)
        })
        .await
    }
}

/// How long blocking database work runs, which decides where it runs.
#[derive(Debug, Clone, Copy)]
enum Work {
    /// Over in microseconds to milliseconds (a point read, a group commit): on a
    /// multi-thread runtime on the calling thread, through
    /// [`block_in_place`](tokio::task::block_in_place), which first hands the thread's
    /// other tasks to another worker; elsewhere on the blocking pool. A trip through
    /// the blocking pool and back costs two cross-thread wake-ups, tens of
    /// microseconds: more than a `get`'s index probe, and a large share of a one-event
    /// commit.
    Short,
    /// Seconds (an import, migrations): on the blocking pool, leaving the calling task
    /// free to run what it runs beside the call.
    Long,
}

impl Work {
    async fn run<T: Send + 'static>(
        self,
        f: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        match self {
            Self::Short if multi_thread => tokio::task::block_in_place(f),
            _ => joined(tokio::task::spawn_blocking(f).await),
        }
    }
}

/// Business logic for [`SqliteEventStore`]'s
/// [`transact`](eventstore_core::TransactionalStore::transact): a synchronous closure
/// run inside a `BEGIN IMMEDIATE` transaction (on the calling thread through
/// `block_in_place` on a multi-thread runtime, on the blocking pool otherwise), doing
/// its own writes through the transaction and returning a value and the events to
/// append with them.
pub type SqliteWork<T> = Box<
    dyn FnOnce(&rusqlite::Transaction<'_>) -> std::result::Result<(T, Vec<Event>), BoxError> + Send,
>;

/// Any error of the caller's business logic.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[async_trait]
impl TransactionalStore for SqliteEventStore {
    type Work<T: Send + 'static> = SqliteWork<T>;

    async fn transact_with<T: Send + 'static>(
        &self,
        work: SqliteWork<T>,
        options: AppendOptions,
        checkpoint: Option<(&str, CheckpointMove)>,
    ) -> Result<Option<Transacted<T>>> {
        // A closed store refuses every call with `Error::Closed`, whatever it is given.
        self.shared.check_open()?;
        check_transaction(&options, checkpoint)?;
        self.commit(
            work,
            options,
            checkpoint.map(|(name, change)| (name.to_owned(), change)),
        )
        .await
    }
}

impl SqliteEventStore {
    /// One write transaction: the work, its events, and the checkpoint if given (the
    /// work is skipped when the checkpoint is already at `position` or beyond).
    async fn commit<T: Send + 'static>(
        &self,
        work: SqliteWork<T>,
        options: AppendOptions,
        checkpoint: Option<(String, CheckpointMove)>,
    ) -> Result<Option<Transacted<T>>> {
        let checkpoints = self.shared.table.companion("checkpoints");
        let advance = advance_checkpoint_sql(&self.shared.table);
        self.with_writer(move |conn, shared| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db)?;
            if let Some((name, CheckpointMove::To(position))) = &checkpoint {
                let current: Option<i64> = tx
                    .query_row(
                        &format!("SELECT position FROM {checkpoints} WHERE name = ?1"),
                        [name],
                        |row| row.get(0),
                    )
                    .optional()
                    .map_err(db)?;
                if current.is_some_and(|c| c >= *position) {
                    return Ok(None);
                }
            }
            let (value, events) = work(&tx).map_err(Error::aborted)?;
            shared.write_sql.limits().check(&events)?;
            let appended = shared.write_sql.append(&tx, &events, &options)?;
            match &checkpoint {
                None => {}
                Some((name, CheckpointMove::Reset)) => {
                    tx.execute(
                        &format!("DELETE FROM {checkpoints} WHERE name = ?1"),
                        [name],
                    )
                    .map_err(db)?;
                }
                Some((name, CheckpointMove::To(position))) => {
                    tx.execute(&advance, rusqlite::params![name, position, now_text()])
                        .map_err(db)?;
                }
            }
            tx.commit().map_err(db)?;
            if !appended.appended.is_empty() {
                shared.signal.notify();
            }
            Ok(Some(Transacted { value, appended }))
        })
        .await
    }
}

#[async_trait]
impl EventStore for SqliteEventStore {
    async fn append_with(
        &self,
        events: Vec<Event>,
        options: AppendOptions,
    ) -> Result<AppendResult> {
        let span =
            tracing::debug_span!("append", table = %self.shared.table, events = events.len());
        async {
            self.shared.check_open()?;
            // Before the queue: an oversized batch is refused at once, not after waiting
            // for the write lock (and not with a time-out when another process holds it).
            self.shared.write_sql.limits().check(&events)?;
            options.check()?;
            let (done, mut result) = tokio::sync::oneshot::channel();
            self.shared
                .pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(PendingAppend {
                    events,
                    options,
                    done,
                });
            let mut writer = Arc::clone(&self.shared.writer).lock_owned().await;
            // The writer's previous holder may have committed this append already.
            if let Ok(appended) = result.try_recv() {
                return appended;
            }
            if self.shared.check_open().is_err() {
                // Closed while queued: `close` has had the writer and returned, and
                // nothing commits after it. Every append still queued is refused.
                for job in self.shared.take_pending() {
                    let _gone = job.done.send(Err(Error::Closed));
                }
                return Err(Error::Closed);
            }
            let shared = Arc::clone(&self.shared);
            Work::Short
                .run(move || {
                    shared.commit_pending(writer.as_mut().ok_or(Error::Closed)?);
                    Ok(())
                })
                .await?;
            result
                .await
                .map_err(|_| Error::database("the append's group commit was lost"))?
        }
        .instrument(span)
        .await
    }

    fn query(&self, query: EventQuery) -> EventStream {
        if let Err(e) = self.shared.check_open() {
            return failed(e);
        }
        paged(
            Arc::clone(&self.shared),
            Pager::query(query, self.shared.page_size),
        )
    }

    async fn get(&self, source: &str, id: &str) -> Result<Option<StoredEvent>> {
        let sql = select_by_id(&SqliteDialect, &self.shared.table, source, id);
        self.point_read(move |conn, _| fetch_one(conn, &sql)).await
    }

    fn stream(&self, subject: &str, from_version: i64) -> EventStream {
        if let Err(e) = self.shared.check_open() {
            return failed(e);
        }
        paged(
            Arc::clone(&self.shared),
            Pager::stream(subject, from_version, self.shared.page_size),
        )
    }

    async fn stream_version(&self, subject: &str) -> Result<Option<i64>> {
        let subject = subject.to_owned();
        self.point_read(move |conn, shared| shared.write_sql.current_version(conn, &subject))
            .await
    }

    async fn horizon(&self) -> Result<Horizon> {
        // One writer at a time (BEGIN IMMEDIATE) means commit order is sequence order:
        // every sequence up to the highest committed one is final.
        let sql = format!(
            "SELECT COALESCE(MAX(sequence), 0) FROM {}",
            self.shared.table.quoted()
        );
        let head: i64 = self
            .point_read(move |conn, _| conn.query_row(&sql, [], |row| row.get(0)).map_err(db))
            .await?;
        Ok(Horizon { safe: head, head })
    }

    fn wakeups(&self) -> Wakeups {
        self.shared.signal.wakeups()
    }

    async fn close(&self) -> Result<()> {
        self.shared.signal.close();
        // Idle readers close now, those reading a page once it is read, even while
        // clones of the store live on.
        drop(
            self.shared
                .readers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(),
        );
        // Wait for appends already queued to finish; refresh the planner's statistics
        // where they are stale, and checkpoint the WAL so the file is complete on its own,
        // then close the writer. The checkpoint thread ends first, so that the last
        // checkpoint is not kept waiting by one of its own.
        let Some(conn) = Arc::clone(&self.shared.writer).lock_owned().await.take() else {
            return Ok(()); // Closed before.
        };
        let shared = Arc::clone(&self.shared);
        let finish = tokio::task::spawn_blocking(move || {
            if let Some(checkpointer) = &shared.checkpointer {
                checkpointer.stop();
            }
            conn.execute_batch("PRAGMA optimize; PRAGMA wal_checkpoint(TRUNCATE);")
                .map_err(db)?;
            conn.close().map_err(|(_, e)| db(e))
        });
        joined(finish.await)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    /// With every reader checked out, a read fails with `Error::Timeout` once
    /// `reader_timeout` has passed, and reads again once a reader is back.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_read_waits_reader_timeout_for_a_busy_pool_then_times_out() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = SqliteOptions::file(dir.path().join("events.db"))
            .readers(1)
            .and_then(|o| o.reader_timeout(Duration::from_millis(200)))
            .expect("valid options")
            .open()
            .await
            .expect("opens");
        let held = store.shared.reader().expect("the only reader");
        let start = Instant::now();
        let read = store.get("/s", "1").await;
        let waited = start.elapsed();
        assert!(matches!(read, Err(Error::Timeout(_))), "{read:?}");
        assert!(
            waited >= Duration::from_millis(200) && waited < Duration::from_secs(20),
            "waited {waited:?}"
        );
        drop(held);
        assert!(store.get("/s", "1").await.expect("reads").is_none());
    }

    #[test]
    fn a_zero_reader_timeout_is_refused() {
        let refused = SqliteOptions::in_memory().reader_timeout(Duration::ZERO);
        assert!(matches!(refused, Err(Error::Config(_))));
    }
}
