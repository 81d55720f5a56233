//! The read path: rows streamed as they arrive, on a pooled connection the stream
//! holds until it ends.

use std::pin::Pin;

use deadpool_postgres::{Object, Pool};
use eventstore_core::sql::{EventRow, Sql, TableName, select_events};
use eventstore_core::timestamp::parse_fixed;
use eventstore_core::{Error, EventQuery, EventStream, Result, StoredEvent};
use futures::{StreamExt as _, TryStreamExt as _};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, RowStream};

use crate::dialect::{PostgresDialect, to_sql};
use crate::error::db;
use crate::horizon::{follows, pooled_horizon};
use crate::types::JsonText;

/// Reads one row of [`EVENT_COLUMNS`](crate::dialect::EVENT_COLUMNS).
pub(crate) fn event_row(row: &Row) -> Result<StoredEvent> {
    let sequence: i64 = row.try_get(0).map_err(db)?;
    let get_time = |i: usize| time_column(sequence, row.try_get(i).map_err(db)?);
    let json = |i: usize| -> Result<Option<String>> {
        Ok(row
            .try_get::<_, Option<JsonText>>(i)
            .map_err(db)?
            .map(|j| j.0))
    };
    let text = |i: usize| -> Result<Option<String>> { row.try_get(i).map_err(db) };
    EventRow {
        sequence,
        stream_version: row.try_get(1).map_err(db)?,
        recorded_at: row.try_get(2).map_err(db)?,
        id: row.try_get(3).map_err(db)?,
        source: row.try_get(4).map_err(db)?,
        ty: row.try_get(5).map_err(db)?,
        subject: text(6)?,
        time: get_time(7)?,
        datacontenttype: text(8)?,
        dataschema: text(9)?,
        correlationid: text(10)?,
        topic: text(11)?,
        destination: text(12)?,
        extensions: json(13)?,
        data_kind: text(14)?,
        data_text: json(15)?,
        data_bytes: row.try_get(16).map_err(db)?,
    }
    .into_stored()
}

/// The `time` column of the row at `sequence`: the fixed-width RFC 3339 text the store
/// writes, or [`Error::Corrupt`].
pub fn time_column(sequence: i64, text: Option<&str>) -> Result<Option<time::OffsetDateTime>> {
    text.map(|t| {
        parse_fixed(t).ok_or_else(|| Error::Corrupt {
            sequence,
            message: format!("time {t:?} is not RFC 3339"),
        })
    })
    .transpose()
}

/// What a read runs: a query (bounded by the horizon when it follows the global
/// order) or a ready statement.
pub(crate) enum Read {
    Query(Box<EventQuery>),
    Sql(Sql),
}

async fn start(pool: &Pool, table: &TableName, read: Read) -> Result<(Object, RowStream)> {
    let client = pool.get().await.map_err(db)?;
    let sql = match read {
        Read::Sql(sql) => sql,
        Read::Query(query) => {
            let query = if follows(&query) {
                let safe = pooled_horizon(&client, table).await?.safe;
                query.up_to(safe)
            } else {
                *query
            };
            select_events(&PostgresDialect, table, &query, None)?
        }
    };
    let statement = client.prepare_cached(&sql.text).await.map_err(db)?;
    let params: Vec<Box<dyn ToSql + Send + Sync>> = sql.params.iter().map(to_sql).collect();
    let rows = client
        .query_raw(
            &statement,
            params.iter().map(|p| &**p as &(dyn ToSql + Sync)),
        )
        .await
        .map_err(db)?;
    Ok((client, rows))
}

/// Streams a read. The server sends rows as the consumer takes them (tokio-postgres
/// stops reading the socket when the consumer lags), so memory stays bounded whatever
/// the result's size; the pooled connection goes back when the stream ends or is
/// dropped.
pub(crate) fn stream(pool: Pool, table: TableName, read: Read) -> EventStream {
    enum State {
        Start(Pool, TableName, Read),
        Rows(Object, Pin<Box<RowStream>>),
    }
    futures::stream::try_unfold(State::Start(pool, table, read), |state| async move {
        let (client, mut rows) = match state {
            State::Start(pool, table, read) => {
                let (client, rows) = start(&pool, &table, read).await?;
                (client, Box::pin(rows))
            }
            State::Rows(client, rows) => (client, rows),
        };
        match rows.try_next().await.map_err(db)? {
            Some(row) => Ok(Some((event_row(&row)?, State::Rows(client, rows)))),
            None => Ok(None),
        }
    })
    .boxed()
}

/// An error for a read that could not start, as a stream of that one error.
pub(crate) fn failed(error: Error) -> EventStream {
    futures::stream::once(async move { Err(error) }).boxed()
}
