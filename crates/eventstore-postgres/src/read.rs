//! The read path: rows streamed as they arrive, on a pooled connection the stream
//! holds until it ends.

use std::pin::Pin;
use std::sync::Arc;

use deadpool_postgres::{Object, Pool};
use eventstore_core::sql::{Sql, TableName, select_events};
use eventstore_core::{Error, EventQuery, EventStream, Result};
use futures::{FutureExt as _, StreamExt as _, TryStreamExt as _};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, RowStream};

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

/// Whether a read is planned with its parameters' values: one with a time range that
/// has a start and no end ("since").
///
/// The pool's sessions reuse generic plans (see `connect::pool`), and a generic plan
/// cannot tell a start in the last minute from one years ago: for `time >= $1 ORDER BY
/// sequence` it walks the primary key from the start of the history and filters on
/// time (on a million events, 0.5 s for the last hundred). Planned with the value,
/// PostgreSQL reads a recent start from the `(time)` index and walks the primary key
/// from an old one, as the generic plan does. A range with an end keeps the generic
/// plan, which reads it from the `(time)` index: planned with its values, a range that
/// holds many events may be walked along the primary key from the start of the history
/// instead (docs/schema.md, "Query plans on 1,000,000 rows"). Planning costs a fraction
/// of a millisecond, which only "since" reads pay.
fn planned_with_values(read: &Read) -> bool {
    matches!(read, Read::Query(query) if matches!(query.time_range(), (Some(_), None)))
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
    client: Object,
    rows: Pin<Box<RowStream>>,
    table: TableName,
    known: Arc<KnownHorizon>,
    rest: Option<Continuation>,
}

/// Streams a read. The server sends rows as the consumer takes them (tokio-postgres
/// stops reading the socket when the consumer lags), so memory stays bounded whatever
/// the result's size; the pooled connection goes back when the stream ends or is
/// dropped.
pub(crate) fn stream(
    pool: Pool,
    table: TableName,
    read: Read,
    known: Arc<KnownHorizon>,
) -> EventStream {
    enum State {
        Start(Pool, TableName, Read, Arc<KnownHorizon>),
        Reading(Box<Rows>),
    }
    futures::stream::try_unfold(State::Start(pool, table, read, known), |state| async move {
        let mut r = match state {
            State::Start(pool, table, read, known) => {
                let client = pool.get().await.map_err(db)?;
                let with_values = planned_with_values(&read);
                let (sql, rest) = plan(&client, &table, read, &known).await?;
                let rows = run(&client, &sql, with_values).await?;
                Box::new(Rows {
                    client,
                    rows,
                    table,
                    known,
                    rest,
                })
            }
            State::Reading(r) => r,
        };
        loop {
            if let Some(row) = r.rows.try_next().await.map_err(db)? {
                if let Some(rest) = &mut r.rest {
                    rest.seen += 1;
                }
                return Ok(Some((decode_event(&row)?, State::Reading(r))));
            }
            let Some(rest) = r.rest.take().filter(|rest| rest.seen < rest.limit) else {
                return Ok(None);
            };
            let safe = pooled_horizon(&r.client, &r.table, &r.known).await?.safe;
            let Some(query) = rest.rest(safe) else {
                return Ok(None);
            };
            // The rest of a keyset page: a short range of sequences, whose generic plan
            // reads it along the primary key.
            let sql = select_events(&PostgresDialect, &r.table, &query, None)?;
            r.rows = run(&r.client, &sql, false).await?;
        }
    })
    .boxed()
}

/// An error for a read that could not start, as a stream of that one error.
pub(crate) fn failed(error: Error) -> EventStream {
    futures::stream::once(async move { Err(error) }).boxed()
}
