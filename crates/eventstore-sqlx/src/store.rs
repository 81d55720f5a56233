//! [`SqlxEventStore`]: the store's statements on a connection the caller holds.

use eventstore_core::sql::{Sql, TableName, select_by_id, select_events, select_stream};
use eventstore_core::{
    AppendOptions, AppendResult, Event, EventQuery, Horizon, Limits, Result, StoredEvent,
};
use eventstore_postgres::PostgresDialect;
use eventstore_postgres::statements::{
    Batch, LockKeys, OutcomeRow, append_sql, current_version_sql, follows, horizon_from,
    horizon_param, horizon_sql, lock_subjects_sql, notify_channel, recorded_now,
};
use futures::stream::BoxStream;
use futures::{StreamExt as _, TryStreamExt as _};
use sqlx::{AssertSqlSafe, PgConnection, Row as _};
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
    keys: LockKeys,
    limits: Limits,
}

impl SqlxEventStore {
    /// The store of `table` (for example `TableName::new("events")?.in_schema("app")?`).
    pub fn new(table: TableName) -> Self {
        Self {
            append_sql: append_sql(&table),
            lock_subjects_sql: lock_subjects_sql(),
            current_version_sql: current_version_sql(&table),
            horizon_sql: horizon_sql(&table),
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

    /// The store's table.
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
    /// On an error the statement failed and PostgreSQL has aborted the transaction:
    /// roll it back (dropping it does) and retry the transaction if appropriate.
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
            // Lock the batch's subjects in a statement of their own, so that the append
            // statement's snapshot, taken after it, sees every version committed before
            // the locks.
            let subjects = batch.subjects();
            if !subjects.is_empty() {
                sqlx::query(AssertSqlSafe(self.lock_subjects_sql.as_str()))
                    .bind(self.keys.subject)
                    .bind(subjects)
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
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
                .fetch_all(&mut *conn)
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
                    batch.outcome(rows, recorded_at)
                }
                Err(e) => match unique_violation(&e) {
                    Some(violation) => Err(violation.into_error(&options)),
                    None => Err(db(e)),
                },
            }
        }
        .instrument(span)
        .await
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
    pub fn query_in<'c>(&self, conn: &'c mut PgConnection, query: EventQuery) -> EventStreamIn<'c> {
        let table = self.table.clone();
        let horizon = self.horizon_sql.clone();
        futures::stream::once(async move {
            let query = if follows(&query) {
                let safe = horizon_on(&mut *conn, &horizon, &table).await?.safe;
                query.up_to(safe)
            } else {
                query
            };
            let sql = select_events(&PostgresDialect, &table, &query, None)?;
            Ok::<_, eventstore_core::Error>(fetch(conn, sql))
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
        fetch(conn, sql)
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
    /// later statement under READ COMMITTED (PostgreSQL's default).
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

fn prepare(sql: Sql) -> sqlx::query::Query<'static, sqlx::Postgres, sqlx::postgres::PgArguments> {
    sql.params
        .iter()
        .fold(sqlx::query(AssertSqlSafe(sql.text)), bind)
}

/// Streams a statement's rows as they arrive, as stored events.
fn fetch(conn: &mut PgConnection, sql: Sql) -> EventStreamIn<'_> {
    prepare(sql)
        .fetch(conn)
        .map(|row| row.map_err(db).and_then(|row| event_row(&row)))
        .boxed()
}
