//! The baseline of the import benchmark: the backend's own bulk load of the same events
//! into a table of the same schema, with every column value computed before the clock
//! starts — binary `COPY` on PostgreSQL, one transaction of prepared inserts on SQLite.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::pin::pin;

use anyhow::{Context as _, Result};
use eventstore_sql::postgres::tokio_postgres::binary_copy::BinaryCopyInWriter;
use eventstore_sql::postgres::tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use eventstore_sql::sql::data_columns;
use eventstore_sql::time::OffsetDateTime;
use eventstore_sql::timestamp::format_fixed;
use eventstore_sql::{Event, PostgresEventStore};

/// One event's column values.
#[derive(Debug)]
pub(crate) struct Row {
    version: Option<i64>,
    id: String,
    source: String,
    ty: String,
    subject: Option<String>,
    time: Option<String>,
    content_type: Option<String>,
    kind: Option<&'static str>,
    data: Option<String>,
}

impl Row {
    /// The columns of `event`, its stream version counted in `versions`. Synthetic
    /// events carry JSON or text data only, which both backends keep as text.
    pub(crate) fn new(event: &Event, versions: &mut HashMap<String, i64>) -> Self {
        let version = event.subject().map(|subject| {
            let v = versions.entry(subject.to_owned()).or_insert(0);
            *v += 1;
            *v
        });
        let data = data_columns(event);
        Self {
            version,
            id: event.id().to_owned(),
            source: event.source().to_owned(),
            ty: event.ty().to_owned(),
            subject: event.subject().map(str::to_owned),
            time: event.time().map(format_fixed),
            content_type: event.datacontenttype().map(str::to_owned),
            kind: data.map(|d| d.kind()),
            data: data.map(|d| match d {
                eventstore_sql::sql::DataColumn::Json(text)
                | eventstore_sql::sql::DataColumn::Text(text) => text.to_owned(),
                eventstore_sql::sql::DataColumn::Binary(_) => {
                    unreachable!("synthetic events have no binary data")
                }
            }),
        }
    }
}

const COLUMNS: &str = "stream_version, recorded_at, id, source, type, subject, time, \
                       datacontenttype, data_kind, data";

/// Inserts `rows` into the SQLite `table` of the database file `path` in one transaction.
pub(crate) fn sqlite(path: &std::path::Path, table: &str, rows: &[Row]) -> Result<()> {
    let mut conn = rusqlite::Connection::open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    // The store's settings: WAL (a property of the file), synchronous NORMAL, and the
    // page cache its import gives the writer (so the ratio is the import's own cost).
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(
        None,
        "cache_size",
        -eventstore_sql::sqlite::IMPORT_CACHE_KIB,
    )?;
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare(&format!(
            "INSERT INTO \"{table}\" ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
        ))?;
        let recorded_at = format_fixed(OffsetDateTime::now_utc());
        for row in rows {
            insert.execute(rusqlite::params![
                row.version,
                recorded_at,
                row.id,
                row.source,
                row.ty,
                row.subject,
                row.time,
                row.content_type,
                row.kind,
                row.data,
            ])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// JSON text sent as `jsonb` in binary form (a version byte, then the text).
#[derive(Debug)]
struct RawJsonb<'a>(&'a str);

impl ToSql for RawJsonb<'_> {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        out.extend_from_slice(&[1]);
        out.extend_from_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB
    }

    to_sql_checked!();
}

/// Loads `rows` into the PostgreSQL table `table` (quoted, qualified) with one binary
/// `COPY`, in one transaction.
pub(crate) async fn postgres(store: &PostgresEventStore, table: &str, rows: &[Row]) -> Result<()> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let sink = tx
        .copy_in(&format!(
            "COPY {table} ({COLUMNS}) FROM STDIN (FORMAT binary)"
        ))
        .await?;
    let types = [
        Type::INT8,
        Type::TIMESTAMPTZ,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::JSONB,
    ];
    let mut writer = pin!(BinaryCopyInWriter::new(sink, &types));
    let recorded_at = OffsetDateTime::now_utc();
    for row in rows {
        let data = row.data.as_deref().map(RawJsonb);
        let values: [&(dyn ToSql + Sync); 10] = [
            &row.version,
            &recorded_at,
            &row.id,
            &row.source,
            &row.ty,
            &row.subject,
            &row.time,
            &row.content_type,
            &row.kind,
            &data,
        ];
        writer.as_mut().write(&values).await?;
    }
    writer.finish().await?;
    tx.commit().await?;
    Ok(())
}
