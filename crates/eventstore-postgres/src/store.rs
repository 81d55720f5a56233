//! [`PostgresEventStore`]: the [`EventStore`] on a PostgreSQL database.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Object, Pool};
use eventstore_core::sql::{TableName, select_by_id, select_stream};
use eventstore_core::{
    AppendOptions, AppendResult, CommitSignal, Event, EventQuery, EventStore, EventStream, Horizon,
    Limits, Result, StoredEvent, Wakeups,
};
use tokio_postgres::GenericClient;
use tracing::Instrument as _;

use crate::append_sql::{append_sql, current_version_sql, lock_subjects_sql, plain_append_sql};
use crate::attempt::MAX_ATTEMPTS;
use crate::batch::{Batch, LockKeys};
use crate::checkout::{Checkout, Connections};
use crate::columns::decode_event;
use crate::connect::Connector;
use crate::contention::Contention;
use crate::dialect::{PostgresDialect, to_sql};
use crate::error::db;
use crate::horizon::{KnownHorizon, horizon, pooled_horizon};
use crate::keys::notify_channel;
use crate::options::{PostgresOptions, Source};
use crate::read::{Read, failed, stream};
use crate::savepoint::in_savepoint;
use crate::write::{Attempt, attempt, attempt_in_savepoint, attempt_locked};
use crate::{connect, schema};

/// A CloudEvents store in a PostgreSQL database, shared by any number of processes.
///
/// Cheap to clone (an `Arc` inside); every clone is the same store. Each append is one
/// statement (one round trip) on a pooled connection; reads stream rows as they arrive
/// on a connection the stream holds until it ends.
#[derive(Clone)]
pub struct PostgresEventStore {
    shared: Arc<Shared>,
}

struct Shared {
    /// The pool, and how its connections reach the server (to cancel a call given up
    /// on).
    connections: Connections,
    owns_pool: bool,
    table: TableName,
    append_sql: String,
    /// The common case's cheaper statement (see [`Batch::is_plain`]).
    plain_append_sql: String,
    lock_subjects_sql: String,
    current_version_sql: String,
    keys: LockKeys,
    contention: Contention,
    /// The highest safe horizon computed (see [`KnownHorizon`]).
    known: Arc<KnownHorizon>,
    limits: Limits,
    /// Rows per page of a read bounded by the caller's horizon.
    page_size: u64,
    /// Whether [`PostgresEventStore::migrate`] creates the extensions' index.
    extensions_index: bool,
    /// Wakes followers after commits; knows whether the store is closed.
    signal: Arc<CommitSignal>,
}

impl std::fmt::Debug for PostgresEventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresEventStore")
            .field("table", &self.shared.table.to_string())
            .finish_non_exhaustive()
    }
}

impl PostgresEventStore {
    /// Opens the store a `postgres://` URL names, with default options (see
    /// [`PostgresOptions::from_url`]).
    pub async fn open_url(url: &str) -> Result<Self> {
        PostgresOptions::from_url(url)?.open().await
    }

    /// Opens the store on a pool the application already has, with default options.
    pub async fn open_pool(pool: Pool) -> Result<Self> {
        PostgresOptions::from_pool(pool).open().await
    }

    pub(crate) async fn migrate_with(options: &PostgresOptions) -> Result<Vec<i64>> {
        let table = options.table_name()?;
        let mut client = match &options.source {
            Source::Config(config) => {
                let (pool, _) = connect::pool((**config).clone(), &options.clone().pool_size(1)?)?;
                pool.get().await.map_err(db)?
            }
            Source::Pool(pool) => pool.get().await.map_err(db)?,
        };
        schema::migrate(&mut client, &table, options.extensions_index).await
    }

    pub(crate) async fn open_with(options: PostgresOptions) -> Result<Self> {
        let table = options.table_name()?;
        let (pool, connector, owns_pool) = match &options.source {
            Source::Config(config) => {
                let (pool, connector) = connect::pool((**config).clone(), &options)?;
                (pool, connector, true)
            }
            // The application's pool: its TLS is not known here, so a call given up on
            // is cancelled over a plain connection, which a server requiring TLS
            // refuses (the connection still leaves the pool).
            Source::Pool(pool) => (pool.clone(), Connector::Plain, false),
        };
        let store = Self {
            shared: Arc::new(Shared {
                connections: Connections { pool, connector },
                owns_pool,
                append_sql: append_sql(&table),
                plain_append_sql: plain_append_sql(&table),
                lock_subjects_sql: lock_subjects_sql(),
                current_version_sql: current_version_sql(&table),
                keys: LockKeys::new(&table),
                contention: Contention::default(),
                known: Arc::default(),
                limits: options.limits,
                page_size: options.page_size,
                extensions_index: options.extensions_index,
                table,
                signal: Arc::new(CommitSignal::new(options.poll_interval)),
            }),
        };
        if let Source::Config(config) = &options.source {
            connect::spawn_listener(
                (**config).clone(),
                &options,
                notify_channel(&store.shared.table),
                &store.shared.signal,
            )?;
        }
        store
            .with_client(async |client| {
                if options.auto_migrate {
                    schema::migrate(client, &store.shared.table, options.extensions_index)
                        .await
                        .map(drop)
                } else {
                    schema::check(&***client, &store.shared.table).await
                }
            })
            .await?;
        Ok(store)
    }

    /// Applies any migrations the table lacks, and creates the
    /// [`extensions_index`](PostgresOptions::extensions_index) if asked for and missing;
    /// returns the versions applied. Safe to call from many processes at once. A store
    /// opened with [`auto_migrate(false)`](PostgresOptions::auto_migrate) opens only on a
    /// schema that is up to date, so for it this makes only the index; to migrate before
    /// such a store opens, use [`PostgresOptions::migrate`].
    pub async fn migrate(&self) -> Result<Vec<i64>> {
        self.with_client(async |client| {
            schema::migrate(client, &self.shared.table, self.shared.extensions_index).await
        })
        .await
    }

    /// The schema-qualified event table.
    pub fn table(&self) -> &TableName {
        &self.shared.table
    }

    /// The size limits every write path checks.
    pub(crate) fn limits(&self) -> Limits {
        self.shared.limits
    }

    /// The advisory-lock namespaces of the table.
    pub(crate) fn keys(&self) -> LockKeys {
        self.shared.keys
    }

    /// The connection pool.
    pub fn pool(&self) -> &Pool {
        &self.shared.connections.pool
    }

    /// Wakes this store's followers, after a commit it could not see (see
    /// [`append_in`](Self::append_in)).
    pub fn notify_committed(&self) {
        self.shared.signal.notify();
    }

    /// The horizon computed on a client or transaction the caller holds (see
    /// [`horizon`](crate::horizon())). Read up to it in a later statement under READ
    /// COMMITTED (PostgreSQL's default): a REPEATABLE READ or SERIALIZABLE transaction
    /// reads with its first snapshot, which may predate events at or below the horizon
    /// (committed since), so a follower reading there would skip them.
    pub async fn horizon_in(&self, client: &impl GenericClient) -> Result<Horizon> {
        horizon(client, &self.shared.table).await
    }

    /// Appends a batch inside a transaction (or on a client) the caller holds, so that
    /// the caller's own writes and the events commit together. Same semantics as
    /// [`EventStore::append_with`]. The batch's subject locks are taken first, in a
    /// statement of their own, so that in READ COMMITTED (PostgreSQL's default) a
    /// concurrent append to the same subject is waited for and then appended after. In
    /// REPEATABLE READ or SERIALIZABLE the transaction's snapshot is older than the
    /// locks: a version committed since it surfaces as
    /// [`Error::Conflict`](eventstore_core::Error::Conflict) (or a serialization
    /// failure); retry the transaction.
    ///
    /// With [`OnDuplicate::Skip`](eventstore_core::OnDuplicate::Skip) the batch runs in
    /// a savepoint (one more round trip, to release it), so that an event a concurrent
    /// transaction commits while this append waits for it is skipped too: the append
    /// rolls back to the savepoint and runs again, on a new snapshot that sees it
    /// (READ COMMITTED). In REPEATABLE READ or SERIALIZABLE the snapshot stays the
    /// transaction's, and that event is an
    /// [`Error::Duplicate`](eventstore_core::Error::Duplicate) (or a serialization
    /// failure); retry the transaction.
    ///
    /// On a client outside a transaction block each statement is a transaction of its
    /// own, so the subject locks end with their statement, before the append's: an
    /// append that then loses a race for a stream version or a `(source, id)`, or that
    /// the server ends for another transaction's sake (a deadlock, a serialization
    /// failure), has rolled back alone, and runs again in a transaction of its own, as
    /// [`append_with`](EventStore::append_with) does. Inside the caller's transaction
    /// such a failure has aborted it and is returned (a deadlock or a serialization
    /// failure as [`Error::Database`](eventstore_core::Error::Database)).
    pub async fn append_in(
        &self,
        client: &impl GenericClient,
        events: Vec<Event>,
        options: AppendOptions,
    ) -> Result<AppendResult> {
        self.shared.check_open()?;
        let span =
            tracing::debug_span!("append", table = %self.shared.table, events = events.len());
        async {
            self.shared.limits.check(&events)?;
            let batch = Batch::new(&events, &options)?;
            // The subject locks go in a statement of their own, before the append's, so
            // that the append statement's snapshot sees every version committed before
            // the locks: a caller's transaction cannot retry a stale version as the
            // store does. Both statements are prepared, then run, in one round trip each.
            let (lock, statement) = futures::join!(
                client.prepare(&self.shared.lock_subjects_sql),
                client.prepare(&self.shared.append_sql)
            );
            let (lock, statement) = (lock.map_err(db)?, statement.map_err(db)?);
            let keys = self.shared.keys;
            let mut attempted = if in_savepoint(&options) {
                attempt_in_savepoint(client, &lock, &statement, keys, &batch).await?
            } else {
                attempt_locked(client, &lock, &statement, keys, &batch, false).await?
            };
            let mut attempts = 1;
            loop {
                let failure = match attempted.settle(&options) {
                    ControlFlow::Break(result) => return result,
                    ControlFlow::Continue(failure) => failure,
                };
                if attempts >= MAX_ATTEMPTS || !outside_transaction(client).await {
                    return Err(failure);
                }
                attempts += 1;
                // Outside a transaction block each statement was a transaction of its
                // own: the subject locks were released before the append statement
                // ran, which then lost a race (or was ended by the server), and rolled
                // back alone. Run the batch again as the store's own appends do after
                // a lost race: in a transaction, its locks first, all in one round trip.
                let (begun, again, committed) = futures::join!(
                    client.batch_execute("BEGIN"),
                    attempt_locked(client, &lock, &statement, keys, &batch, false),
                    client.batch_execute("COMMIT"),
                );
                begun.map_err(db)?;
                attempted = again?;
                committed.map_err(db)?;
            }
        }
        .instrument(span)
        .await
    }

    /// The pool and its connector, for a read on a task of its own.
    fn connections(&self) -> Connections {
        self.shared.connections.clone()
    }

    /// [`Error::Closed`](eventstore_core::Error::Closed) once the store is closed.
    pub(crate) fn check_open(&self) -> Result<()> {
        self.shared.check_open()
    }

    /// A pooled connection for one call, which must end with [`Checkout::release`]
    /// (see [`with_client`](Self::with_client)).
    pub(crate) async fn client(&self) -> Result<Checkout> {
        self.shared.check_open()?;
        self.shared.connections.get().await
    }

    /// Runs `call` on a pooled connection, which goes back to the pool when `call` ends;
    /// a call given up on first takes it out of the pool and cancels its statement
    /// (see [`crate::checkout`]).
    pub(crate) async fn with_client<T>(
        &self,
        call: impl AsyncFnOnce(&mut Object) -> Result<T>,
    ) -> Result<T> {
        let mut checkout = self.client().await?;
        let result = call(&mut checkout).await;
        checkout.release();
        result
    }
}

/// Whether `client` is outside a transaction block, asked after an append statement
/// failed on it: inside one, that failure aborted the transaction, and every statement
/// fails until it ends (SQLSTATE 25P02).
async fn outside_transaction(client: &impl GenericClient) -> bool {
    client.batch_execute("SELECT 1").await.is_ok()
}

impl Shared {
    fn check_open(&self) -> Result<()> {
        self.signal.check_open()
    }
}

#[async_trait]
impl EventStore for PostgresEventStore {
    async fn append_with(
        &self,
        events: Vec<Event>,
        options: AppendOptions,
    ) -> Result<AppendResult> {
        let span =
            tracing::debug_span!("append", table = %self.shared.table, events = events.len());
        async {
            // Before anything about the batch: a closed store refuses every call with
            // `Error::Closed`, whatever it is given, as SQLite's does.
            self.shared.check_open()?;
            self.shared.limits.check(&events)?;
            let batch = Batch::new(&events, &options)?;
            // The common case takes the cheaper statement; a stored event or an
            // expectation needs the full one.
            let mut plain = batch.is_plain();
            // Under contention the statement's snapshot, taken before it waits for the
            // subject locks it takes, can lose every race (eight writers of 100-event
            // batches over 1,000 subjects lost 100 in a row). After a lost race the
            // store takes the locks first for a while: see [`Contention`].
            // A batch that checks a subject it does not write takes its locks first
            // always: no unique index would catch a stale check of that subject.
            let mut locked = batch.checks_unwritten_subjects()
                || (batch.has_subjects() && self.shared.contention.locks_first());
            let mut attempts = 0;
            self.with_client(async |client| loop {
                attempts += 1;
                let sql = if plain { &self.shared.plain_append_sql } else { &self.shared.append_sql };
                let statement = client.prepare_cached(sql).await.map_err(db)?;
                let outcome = if locked {
                    let lock = client
                        .prepare_cached(&self.shared.lock_subjects_sql)
                        .await
                        .map_err(db)?;
                    // BEGIN, the locks, the append and COMMIT are sent at once: one round
                    // trip. COMMIT after a failed statement rolls back, and all four
                    // leave together, so even a dropped future leaves no transaction
                    // open on the pooled connection.
                    let (begun, attempted, committed) = futures::join!(
                        client.batch_execute("BEGIN"),
                        attempt_locked(&***client, &lock, &statement, self.shared.keys, &batch, plain),
                        client.batch_execute("COMMIT"),
                    );
                    begun.map_err(db)?;
                    let attempted = attempted?;
                    committed.map_err(db)?;
                    attempted
                } else {
                    attempt(&***client, &statement, self.shared.keys, &batch, plain).await?
                };
                match outcome {
                    Attempt::Done(result) => {
                        if result.as_ref().is_ok_and(|r| !r.appended.is_empty()) {
                            self.notify_committed();
                        }
                        return result;
                    }
                    Attempt::Transient(error) if attempts >= MAX_ATTEMPTS => return Err(error),
                    Attempt::Transient(error) => {
                        // The statement, or its transaction, rolled back whole: run it
                        // again, once the writer it was ended for has had a moment.
                        tracing::debug!(%error, attempts, "append ended by the server; retrying");
                        let jitter = u64::from(attempts.min(10)) * (events.len() as u64 % 7 + 1);
                        tokio::time::sleep(Duration::from_micros(100 * jitter)).await;
                    }
                    Attempt::Raced(ref violation)
                        if !locked && violation.on_stream_version() =>
                    {
                        self.shared.contention.raced();
                        locked = true;
                    }
                    Attempt::Raced(violation) if attempts >= MAX_ATTEMPTS => {
                        return Err(violation.into_error(&options));
                    }
                    Attempt::Raced(ref violation)
                        if plain && !violation.on_stream_version() =>
                    {
                        // A `(source, id)` already stored, or a racer's: let the full
                        // statement tell which, and report it as the caller asked.
                        plain = false;
                    }
                    Attempt::Raced(violation) => {
                        tracing::debug!(constraint = %violation.constraint, attempts, "append raced; retrying");
                        // Spread the racers out a little so one of them wins.
                        let jitter = u64::from(attempts.min(10)) * (events.len() as u64 % 7 + 1);
                        tokio::time::sleep(Duration::from_micros(100 * jitter)).await;
                    }
                }
            })
            .await
        }
        .instrument(span)
        .await
    }

    fn query(&self, query: EventQuery) -> EventStream {
        if let Err(e) = self.shared.check_open() {
            return failed(e);
        }
        let span = tracing::debug_span!("query", table = %self.shared.table);
        let _entered = span.enter();
        stream(
            self.connections(),
            self.shared.table.clone(),
            Read::Query(Box::new(query)),
            self.shared.known.clone(),
            self.shared.page_size,
            Arc::clone(&self.shared.signal),
        )
    }

    async fn get(&self, source: &str, id: &str) -> Result<Option<StoredEvent>> {
        let sql = select_by_id(&PostgresDialect, &self.shared.table, source, id);
        let params: Vec<_> = sql.params.iter().map(to_sql).collect();
        let refs: Vec<_> = params
            .iter()
            .map(|p| &**p as &(dyn tokio_postgres::types::ToSql + Sync))
            .collect();
        let row = self
            .with_client(async |client| {
                let statement = client.prepare_cached(&sql.text).await.map_err(db)?;
                client.query_opt(&statement, &refs).await.map_err(db)
            })
            .await?;
        row.as_ref().map(decode_event).transpose()
    }

    fn stream(&self, subject: &str, from_version: i64) -> EventStream {
        if let Err(e) = self.shared.check_open() {
            return failed(e);
        }
        let sql = select_stream(
            &PostgresDialect,
            &self.shared.table,
            subject,
            from_version,
            None,
        );
        stream(
            self.connections(),
            self.shared.table.clone(),
            Read::Sql(sql),
            self.shared.known.clone(),
            self.shared.page_size,
            Arc::clone(&self.shared.signal),
        )
    }

    async fn stream_version(&self, subject: &str) -> Result<Option<i64>> {
        self.shared.check_open()?;
        if !eventstore_core::sql::text::is_storable(subject) {
            // No event holds U+0000, and PostgreSQL's `text` cannot take it.
            return Ok(None);
        }
        let row = self
            .with_client(async |client| {
                let statement = client
                    .prepare_cached(&self.shared.current_version_sql)
                    .await
                    .map_err(db)?;
                client.query_one(&statement, &[&subject]).await.map_err(db)
            })
            .await?;
        Ok(row.get(0))
    }

    async fn horizon(&self) -> Result<Horizon> {
        self.with_client(async |client| {
            pooled_horizon(client, &self.shared.table, &self.shared.known).await
        })
        .await
    }

    fn wakeups(&self) -> Wakeups {
        self.shared.signal.wakeups()
    }

    async fn close(&self) -> Result<()> {
        self.shared.signal.close();
        if self.shared.owns_pool {
            // Idle connections close now, those held by open streams when they end.
            self.shared.connections.pool.close();
        }
        Ok(())
    }
}
