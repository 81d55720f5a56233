//! `stats`: what is in the store, and how much room it takes.

use anyhow::Result;
use comfy_table::Table;
use eventstore_sql::timestamp::{format_rfc3339, parse_fixed};
use eventstore_sql::{AppendOptions, PostgresEventStore, SqliteEventStore, SqliteWork};
use eventstore_sql::{TransactionalStore as _, postgres::deadpool_postgres};
use serde_json::json;

use crate::Context;
use crate::backend::Backend;
use crate::cli::Output;
use crate::failure::OK;

/// What `stats` reports.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    /// Events stored.
    pub(crate) count: i64,
    /// The highest sequence.
    pub(crate) head: Option<i64>,
    /// The earliest and latest `time` of the events that have one.
    pub(crate) time_span: (Option<String>, Option<String>),
    /// The earliest and latest recording time.
    pub(crate) recorded_span: (Option<String>, Option<String>),
    /// The busiest types, sources and subjects, with their counts.
    pub(crate) top: [Vec<(String, i64)>; 3],
    /// The table's size in bytes, without and with its indexes.
    pub(crate) table_bytes: i64,
    /// The indexes' size in bytes.
    pub(crate) index_bytes: i64,
}

const TOP_COLUMNS: [&str; 3] = ["type", "source", "subject"];

/// Prints the store's statistics.
pub(crate) async fn run(backend: &Backend, cx: &Context, top: u32) -> Result<u8> {
    let stats = collect(backend, top).await?;
    print(&stats, backend, cx.output)?;
    Ok(OK)
}

/// Reads the statistics of `backend`'s event table, with `top` entries per list.
pub(crate) async fn collect(backend: &Backend, top: u32) -> Result<Stats> {
    match backend {
        Backend::Sqlite(store) => sqlite(store, top).await,
        Backend::Postgres(store) => postgres(store, top).await,
    }
}

fn summary_sql(table: &str) -> String {
    format!(
        "SELECT count(*), max(sequence), min(time), max(time), min(recorded_at), \
         max(recorded_at) FROM {table}"
    )
}

fn top_sql(table: &str, column: &str, placeholder: &str) -> String {
    format!(
        "SELECT {column}, count(*) FROM {table} WHERE {column} IS NOT NULL \
         GROUP BY {column} ORDER BY count(*) DESC, {column} LIMIT {placeholder}"
    )
}

async fn sqlite(store: &SqliteEventStore, top: u32) -> Result<Stats> {
    let table = store.table().quoted();
    let name = store.table().as_str().to_owned();
    // Read inside the store's own transaction: the same connection setup as every read.
    let work: SqliteWork<Stats> = Box::new(move |tx| {
        let mut stats = tx.query_row(&summary_sql(&table), [], |row| {
            Ok(Stats {
                count: row.get(0)?,
                head: row.get(1)?,
                time_span: (row.get(2)?, row.get(3)?),
                recorded_span: (row.get(4)?, row.get(5)?),
                ..Stats::default()
            })
        })?;
        for (list, column) in stats.top.iter_mut().zip(TOP_COLUMNS) {
            let mut statement = tx.prepare(&top_sql(&table, column, "?1"))?;
            let rows = statement.query_map([top], |row| Ok((row.get(0)?, row.get(1)?)))?;
            *list = rows.collect::<Result<_, _>>()?;
        }
        // dbstat (compiled into the bundled SQLite) gives each b-tree's pages.
        (stats.table_bytes, stats.index_bytes) = tx.query_row(
            "SELECT coalesce(sum(CASE WHEN name = ?1 THEN pgsize END), 0), \
                    coalesce(sum(CASE WHEN name <> ?1 THEN pgsize END), 0) \
             FROM dbstat WHERE name = ?1 OR name IN \
               (SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?1)",
            [&name],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        Ok((stats, Vec::new()))
    });
    Ok(store.transact(work, AppendOptions::new()).await?.value)
}

async fn postgres(store: &PostgresEventStore, top: u32) -> Result<Stats> {
    let table = store.table().quoted();
    let client: deadpool_postgres::Object = store.pool().get().await?;
    let row = client.query_one(&summary_sql(&table), &[]).await?;
    let recorded = |i: usize| -> Result<Option<String>> {
        let time: Option<eventstore_sql::time::OffsetDateTime> = row.try_get(i)?;
        Ok(time.map(format_rfc3339))
    };
    let mut stats = Stats {
        count: row.try_get(0)?,
        head: row.try_get(1)?,
        time_span: (row.try_get(2)?, row.try_get(3)?),
        recorded_span: (recorded(4)?, recorded(5)?),
        ..Stats::default()
    };
    for (list, column) in stats.top.iter_mut().zip(TOP_COLUMNS) {
        let rows = client
            .query(&top_sql(&table, column, "$1"), &[&i64::from(top)])
            .await?;
        *list = rows
            .iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect::<Result<_>>()?;
    }
    let sizes = client
        .query_one(
            "SELECT pg_table_size($1::text::regclass), pg_indexes_size($1::text::regclass)",
            &[&table],
        )
        .await?;
    (stats.table_bytes, stats.index_bytes) = (sizes.try_get(0)?, sizes.try_get(1)?);
    Ok(stats)
}

/// A stored time (the fixed-width form) as RFC 3339.
fn readable(time: &Option<String>) -> String {
    match time {
        Some(text) => parse_fixed(text).map_or_else(|| text.clone(), format_rfc3339),
        None => "-".to_owned(),
    }
}

/// Prints `stats` of `backend`'s table in `output`'s form.
pub(crate) fn print(stats: &Stats, backend: &Backend, output: Output) -> std::io::Result<()> {
    if output != Output::Table {
        let top = |i: usize| -> serde_json::Value {
            stats.top[i]
                .iter()
                .map(|(name, count)| json!({ "name": name, "count": count }))
                .collect()
        };
        let report = json!({
            "backend": backend.name(),
            "table": backend.table(),
            "events": stats.count,
            "head_sequence": stats.head,
            "first_time": stats.time_span.0.as_ref().map(|_| readable(&stats.time_span.0)),
            "last_time": stats.time_span.1.as_ref().map(|_| readable(&stats.time_span.1)),
            "first_recorded": stats.recorded_span.0.as_ref().map(|_| readable(&stats.recorded_span.0)),
            "last_recorded": stats.recorded_span.1.as_ref().map(|_| readable(&stats.recorded_span.1)),
            "types": top(0),
            "sources": top(1),
            "subjects": top(2),
            "table_bytes": stats.table_bytes,
            "index_bytes": stats.index_bytes,
        });
        return outln!("{report}");
    }
    let mut summary = Table::new();
    for (name, value) in [
        ("store", format!("{} {}", backend.name(), backend.table())),
        ("events", stats.count.to_string()),
        (
            "head sequence",
            stats.head.map_or_else(|| "-".to_owned(), |h| h.to_string()),
        ),
        ("first time", readable(&stats.time_span.0)),
        ("last time", readable(&stats.time_span.1)),
        ("first recorded", readable(&stats.recorded_span.0)),
        ("last recorded", readable(&stats.recorded_span.1)),
        ("table size", bytes(stats.table_bytes)),
        ("index size", bytes(stats.index_bytes)),
    ] {
        summary.add_row([name.to_owned(), value]);
    }
    outln!("{summary}")?;
    for (list, column) in stats.top.iter().zip(TOP_COLUMNS) {
        let mut table = Table::new();
        table.set_header([format!("top {column}s"), "events".to_owned()]);
        for (name, count) in list {
            table.add_row([name.clone(), count.to_string()]);
        }
        outln!("{table}")?;
    }
    Ok(())
}

/// A size in bytes, in the largest unit that keeps it above 1.
pub(crate) fn bytes(n: i64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < units.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}
