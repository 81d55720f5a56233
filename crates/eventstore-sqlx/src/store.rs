//! [`SqlxEventStore`]: the store's statements on a connection the caller holds.

use std::ops::ControlFlow;

use eventstore_core::sql::{Sql, TableName, select_by_id, select_events, select_stream};
use eventstore_core::{
    AppendOptions, AppendResult, Error, Event, EventQuery, Horizon, Limits, Result, StoredEvent,
};
use eventstore_postgres::PostgresDialect;
use eventstore_postgres::statements::{
    Attempt, Batch, LockKeys, MAX_ATTEMPTS, OutcomeRow, RELEASE_SAVEPOINT_SQL,
    ROLLBACK_TO_SAVEPOINT_SQL, SAVEPOINT_SQL, append_sql, current_version_sql, follows,
    horizon_from, horizon_param, horizon_sql, in_savepoint, is_outside_transaction_code,
    is_transient_code, lock_subjects_sql, notify_channel, planned_with_values, qualified,
    recorded_now, retries_after,
};
use futures::stream::BoxStream;
use futures::{StreamExt as _, TryStreamExt as _};
use sqlx::{AssertSqlSafe, Connection as _, PgConnection, Row as _};
use tracing::Instrument as _;

use crate::columns::{bind, event_row};
use crate::error::{db, unique_violation};

/// A stream of stored events read on a connection the caller holds, borrowing it.
pub type EventStreamIn<'c> = BoxStream<'c, Result<StoredEvent>>;

/// The event store of one table, used on sqlx connections and transactions the
/// application holds: its events are appended and read inside the application's own
/// transactions, beside its own writes.
///
/// It holds no connection: every method takes a `&mut PgConnection`, which a
/// `&mut sqlx::Transaction<'_, Postgres>` (or a pooled connection) dereferences to.
/// The table must exist: open it once with `eventstore_postgres::PostgresOptions`
/// (which migrates the schema). Appends have the PostgreSQL backend's semantics to the
/// statement (the statements are the same; see `eventstore_postgres::statements`).
#[derive(Debug, Clone)]
pub struct SqlxEventStore {
    table: TableName,
    append_sql: String,
    lock_subjects_sql: String,
    current_version_sql: String,
    horizon_sql: String,
    /// The horizon statement, with the transaction's isolation level beside it.
    follow_sql: String,
    keys: LockKeys,
    limits: Limits,
}

impl SqlxEventStore {
    /// The store of `table` (for example `TableName::new("events")?.in_schema("app")?`).
    /// A table without a schema is in `public`, as on the PostgreSQL backend (whose
    /// default schema that is), whatever the connection's `search_path`: the store
    /// names its table, sequence, locks and channel so.
    pub fn new(table: TableName) -> Self {
        let table = qualified(&table);
        let horizon_sql = horizon_sql(&table);
        Self {
            append_sql: append_sql(&table),
            lock_subjects_sql: lock_subjects_sql(),
            current_version_sql: current_version_sql(&table),
            follow_sql: format!(
                "SELECT horizon.*, current_setting('transaction_isolation') \
                 FROM ({horizon_sql}) horizon"
            ),
            horizon_sql,
            keys: LockKeys::new(&table),
            limits: Limits::default(),
            table,
        }
    }

    /// The largest event and batch [`append_in`](Self::append_in) accepts (default
    /// [`Limits::default`], as the other backends).
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The store's table, qualified by its schema.
    pub fn table(&self) -> &TableName {
        &self.table
    }

    /// Appends a batch on `conn`, typically inside the caller's transaction, so that the
    /// caller's own writes and the events commit (or roll back) together. Same
    /// semantics as the PostgreSQL backend's `append_in`: the batch's subjects are
    /// locked first, so a stream version is never stale; an expected version that does
    /// not hold is [`Error::Conflict`](eventstore_core::Error::Conflict), a stored
    /// `(source, id)` [`Error::Duplicate`](eventstore_core::Error::Duplicate) (unless
    /// skipped); the horizon lock is held until the transaction ends, so followers wait
    /// for it rather than skip its events.
    ///
    /// With [`OnDuplicate::Skip`](eventstore_core::OnDuplicate::Skip) the batch runs in
    /// a savepoint (two more round trips), so that an event a concurrent transaction
    /// commits while this append waits for it is skipped too: the append rolls back to
    /// the savepoint and runs again, on a new snapshot that sees it (READ
    /// COMMITTED). In REPEATABLE READ or SERIALIZABLE the snapshot stays the
    /// transaction's, and that event is an
    /// [`Error::Duplicate`](eventstore_core::Error::Duplicate) (or a serialization
    /// failure).
    ///
    /// On `conn` outside a transaction block each statement is a transaction of its own,
    /// so the subject locks end with their statement, before the append's: an append
    /// that then loses a race for a stream version or a `(source, id)`, or that the
    /// server ends for another transaction's sake (a deadlock, a serialization
    /// failure), has rolled back alone, and runs again in a transaction of its own, as
    /// the PostgreSQL backend's appends do.
    ///
    /// On an error inside a transaction the statement failed and PostgreSQL has aborted
    /// the transaction: roll it back (dropping it does) and retry the transaction if
    /// appropriate.
    pub async fn append_in(
        &self,
        conn: &mut PgConnection,
        events: Vec<Event>,
        options: AppendOptions,
    ) -> Result<AppendResult> {
        let span = tracing::debug_span!("append", table = %self.table, events = events.len());
        async {
            self.limits.check(&events)?;
            let batch = Batch::new(&events, &options)?;
            let mut attempted = if in_savepoint(&options) {
                savepoint(conn, SAVEPOINT_SQL).await?;
                let mut attempted = self.attempt(conn, &batch).await?;
                let mut previous = None;
                while let Attempt::Raced(violation) = attempted {
                    if !retries_after(&violation, previous.as_ref()) {
                        attempted = Attempt::Raced(violation);
                        break;
                    }
                    savepoint(conn, ROLLBACK_TO_SAVEPOINT_SQL).await?;
                    attempted = self.attempt(conn, &batch).await?;
                    previous = Some(violation);
                }
                if let Attempt::Done(_) = attempted {
                    savepoint(conn, RELEASE_SAVEPOINT_SQL).await?;
                }
                attempted
            } else {
                self.attempt(conn, &batch).await?
            };
            let mut attempts = 1;
            loop {
                let failure = match attempted.settle(&options) {
                    ControlFlow::Break(result) => return result,
                    ControlFlow::Continue(failure) => failure,
                };
                if attempts >= MAX_ATTEMPTS || !outside_transaction(conn).await {
                    return Err(failure);
                }
                attempts += 1;
                // Outside a transaction block the subject locks ended with their own
                // statement, and the failed append statement rolled back alone: run the
                // batch again in a transaction, its locks first (rolled back when
                // dropped).
                let mut tx = conn.begin().await.map_err(db)?;
                attempted = self.attempt(&mut tx, &batch).await?;
                if let Attempt::Done(Ok(_)) = attempted {
                    tx.commit().await.map_err(db)?;
                }
            }
        }
        .instrument(span)
        .await
    }

    /// Takes the batch's subject locks, then runs the append statement once.
    async fn attempt(&self, conn: &mut PgConnection, batch: &Batch<'_>) -> Result<Attempt> {
        // Lock the batch's subjects in a statement of their own, so that the append
        // statement's snapshot, taken after it, sees every version committed before
        // the locks.
        let subjects = batch.subjects();
        if !subjects.is_empty() {
            let locked = sqlx::query(AssertSqlSafe(self.lock_subjects_sql.as_str()))
                .bind(self.keys.subject)
                .bind(subjects)
                .execute(&mut *conn)
                .await;
            if let Err(e) = locked {
                return if is_transient(&e) {
                    Ok(Attempt::Transient(db(e)))
                } else {
                    Err(db(e))
                };
            }
        }
        let recorded_at = recorded_now();
        let p = batch.params(self.keys, recorded_at);
        let rows = sqlx::query(AssertSqlSafe(self.append_sql.as_str()))
            .bind(p.ids)
            .bind(p.sources)
            .bind(p.types)
            .bind(p.subjects)
            .bind(p.times)
            .bind(p.datacontenttypes)
            .bind(p.dataschemas)
            .bind(p.correlationids)
            .bind(p.topics)
            .bind(p.destinations)
            // JSON as text: the statement casts it to `jsonb[]`.
            .bind(p.extensions)
            .bind(p.data_kinds)
            .bind(p.data_json)
            .bind(p.data_bytes)
            .bind(p.horizon_namespace)
            .bind(p.skip_duplicates)
            .bind(p.expected_subjects)
            .bind(p.expected_kinds)
            .bind(p.expected_versions)
            .bind(p.recorded_at)
            .bind(p.subject_namespace)
            .fetch_all(conn)
            .await;
        match rows {
            Ok(rows) => {
                let rows = rows
                    .iter()
                    .map(|row| {
                        Ok(OutcomeRow {
                            outcome: row.try_get(0)?,
                            n: row.try_get(1)?,
                            stream_version: row.try_get(2)?,
                            subject: row.try_get(3)?,
                        })
                    })
                    .collect::<std::result::Result<Vec<_>, sqlx::Error>>()
                    .map_err(db)?;
                Ok(Attempt::Done(batch.outcome(rows, recorded_at)))
            }
            Err(e) => match unique_violation(&e) {
                Some(violation) => Ok(Attempt::Raced(violation)),
                None if is_transient(&e) => Ok(Attempt::Transient(db(e))),
                None => Err(db(e)),
            },
        }
    }

    /// Queues a wake-up of the store's followers in every process (a `NOTIFY` on the
    /// store's channel): PostgreSQL delivers it when the transaction commits, and drops
    /// it if it rolls back. Without it, followers see the commit at their next poll.
    pub async fn notify_in(&self, conn: &mut PgConnection) -> Result<()> {
        sqlx::query(AssertSqlSafe(format!(
            "NOTIFY {}",
            notify_channel(&self.table)
        )))
        .execute(conn)
        .await
        .map_err(db)?;
        Ok(())
    }

    /// Streams the events `query` selects, read on `conn` (so a transaction sees its
    /// own uncommitted events). A query that follows the global order (`after`,
    /// ascending) stops at the safe [`horizon`](Self::horizon_in), as the store's
    /// followers do.
    ///
    /// Such a query needs READ COMMITTED (PostgreSQL's default), on `conn` outside a
    /// transaction or in a READ COMMITTED transaction: the horizon is computed from the
    /// present, while a REPEATABLE READ or SERIALIZABLE transaction reads with its first
    /// snapshot, which misses an event below the horizon committed since, and a
    /// follower would move past it for good. There it fails with
    /// [`Error::InvalidQuery`] naming the isolation level, before reading anything
    /// (checked in the horizon's own statement; a connection outside a transaction
    /// whose `default_transaction_isolation` is higher is refused too). Plain queries
    /// run in any transaction.
    ///
    /// A query filtered on an indexed attribute (a type, a source, a subject, a
    /// correlation id, a topic or a destination) without a time range, or reading events
    /// since a time, is planned with its values, as the store's own sessions plan it
    /// (`eventstore_postgres::statements::planned_with_values`): it is sent as an
    /// unnamed statement, outside the connection's statement cache. A cached statement
    /// would be given PostgreSQL's generic plan after five runs, which walks the whole
    /// table for a rare type. This changes no setting of the caller's session or
    /// transaction; a session whose `plan_cache_mode` is `force_generic_plan` still gets
    /// the generic plan. Other queries use the statement cache, as their generic plans
    /// are the same.
    pub fn query_in<'c>(&self, conn: &'c mut PgConnection, query: EventQuery) -> EventStreamIn<'c> {
        let table = self.table.clone();
        let follow = self.follow_sql.clone();
        futures::stream::once(async move {
            let query = if follows(&query) {
                let safe = follow_horizon(&mut *conn, &follow, &table).await?.safe;
                query.up_to(safe)
            } else {
                query
            };
            let sql = select_events(&PostgresDialect, &table, &query, None)?;
            Ok::<_, eventstore_core::Error>(fetch(conn, sql, planned_with_values(&query)))
        })
        .try_flatten()
        .boxed()
    }

    /// The event stored as `(source, id)`, read on `conn`.
    pub async fn get_in(
        &self,
        conn: &mut PgConnection,
        source: &str,
        id: &str,
    ) -> Result<Option<StoredEvent>> {
        let sql = select_by_id(&PostgresDialect, &self.table, source, id);
        let row = prepare(sql).fetch_optional(conn).await.map_err(db)?;
        row.as_ref().map(event_row).transpose()
    }

    /// Streams the events of `subject` from `from_version` on, in stream-version
    /// order, read on `conn`.
    pub fn stream_in<'c>(
        &self,
        conn: &'c mut PgConnection,
        subject: &str,
        from_version: i64,
    ) -> EventStreamIn<'c> {
        let sql = select_stream(&PostgresDialect, &self.table, subject, from_version, None);
        fetch(conn, sql, false)
    }

    /// The current version of `subject`'s stream (`None` when it has no events), read
    /// on `conn`.
    pub async fn stream_version_in(
        &self,
        conn: &mut PgConnection,
        subject: &str,
    ) -> Result<Option<i64>> {
        if !eventstore_core::sql::text::is_storable(subject) {
            // No event holds U+0000, and PostgreSQL's `text` cannot take it: asking
            // would fail and abort the caller's transaction.
            return Ok(None);
        }
        sqlx::query_scalar(AssertSqlSafe(self.current_version_sql.as_str()))
            .bind(subject)
            .fetch_one(conn)
            .await
            .map_err(db)
    }

    /// The safe sequence horizon computed on `conn`: how far a follower of the global
    /// order may read without skipping an event that commits later. Read up to it in a
    /// later statement under READ COMMITTED (PostgreSQL's default): a REPEATABLE READ or
    /// SERIALIZABLE transaction reads with its first snapshot, which may miss events at
    /// or below the horizon that committed since (see [`query_in`](Self::query_in),
    /// which refuses to follow there).
    pub async fn horizon_in(&self, conn: &mut PgConnection) -> Result<Horizon> {
        horizon_on(conn, &self.horizon_sql, &self.table).await
    }
}

async fn horizon_on(conn: &mut PgConnection, sql: &str, table: &TableName) -> Result<Horizon> {
    let (head, safe): (i64, i64) = sqlx::query_as(AssertSqlSafe(sql))
        .bind(horizon_param(table))
        .fetch_one(conn)
        .await
        .map_err(db)?;
    horizon_from(head, safe)
}

/// The horizon for a follower reading on `conn` (`sql`: the horizon statement with the
/// transaction's isolation level): refused unless the reads that follow take a new
/// snapshot, as under READ COMMITTED (and READ UNCOMMITTED, the same in PostgreSQL).
async fn follow_horizon(conn: &mut PgConnection, sql: &str, table: &TableName) -> Result<Horizon> {
    let (head, safe, isolation): (i64, i64, String) = sqlx::query_as(AssertSqlSafe(sql))
        .bind(horizon_param(table))
        .fetch_one(conn)
        .await
        .map_err(db)?;
    if !matches!(isolation.as_str(), "read committed" | "read uncommitted") {
        return Err(Error::InvalidQuery(format!(
            "a query that follows the global order (`after`, ascending) cannot run in a \
             {isolation} transaction, whose snapshot may miss events below the safe horizon \
             that committed since: read under READ COMMITTED (outside the transaction, or in \
             one begun with ISOLATION LEVEL READ COMMITTED)"
        )));
    }
    horizon_from(head, safe)
}

/// Whether `error` is a deadlock or a serialization failure ([`is_transient_code`]).
fn is_transient(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.code().as_deref().is_some_and(is_transient_code))
}

/// Whether `conn` is outside a transaction block, asked after an append statement failed
/// on it: inside one, that failure aborted the transaction, and every statement fails
/// until it ends (SQLSTATE 25P02).
async fn outside_transaction(conn: &mut PgConnection) -> bool {
    sqlx::raw_sql("SELECT 1").execute(conn).await.is_ok()
}

/// Runs a savepoint statement. Outside a transaction block, where it fails and none is
/// needed (a failed statement rolls back alone), it does nothing.
async fn savepoint(conn: &mut PgConnection, sql: &'static str) -> Result<()> {
    match sqlx::raw_sql(sql).execute(conn).await {
        Err(sqlx::Error::Database(e))
            if e.code().as_deref().is_some_and(is_outside_transaction_code) =>
        {
            Ok(())
        }
        done => done.map(drop).map_err(db),
    }
}

fn prepare(sql: Sql) -> sqlx::query::Query<'static, sqlx::Postgres, sqlx::postgres::PgArguments> {
    sql.params
        .iter()
        .fold(sqlx::query(AssertSqlSafe(sql.text)), bind)
}

/// Streams a statement's rows as they arrive, as stored events. `with_values`: sent as
/// an unnamed statement, not kept in the connection's statement cache, which PostgreSQL
/// plans with the values bound to it each time (see [`SqlxEventStore::query_in`]).
fn fetch(conn: &mut PgConnection, sql: Sql, with_values: bool) -> EventStreamIn<'_> {
    prepare(sql)
        .persistent(!with_values)
        .fetch(conn)
        .map(|row| row.map_err(db).and_then(|row| event_row(&row)))
        .boxed()
}
