//! Versioned, embedded migrations of the SQLite schema, applied under SQLite's write
//! lock (`BEGIN IMMEDIATE`) so that processes opening one file at once cannot race.

use eventstore_core::Result;
use eventstore_core::sql::TableName;
use eventstore_core::sql::migration::{self, Migration};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::error::db;

/// The migrations in order. Never edit one that has shipped: add a new one.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "event table and its indexes",
        sql: include_str!("../migrations/0001_events.sql"),
    },
    Migration {
        version: 2,
        description: "checkpoints, leases and dead letters",
        sql: include_str!("../migrations/0002_coordination.sql"),
    },
    Migration {
        version: 3,
        description: "snapshots",
        sql: include_str!("../migrations/0003_snapshots.sql"),
    },
];

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: i64 = 3;

/// The optional index for type filters within a time range
/// ([`SqliteOptions::type_time_index`](crate::SqliteOptions::type_time_index)).
const TYPE_TIME_INDEX: &str =
    "CREATE INDEX IF NOT EXISTS {table_type_time} ON {table} (type, time) WHERE time IS NOT NULL";

const LEDGER: &str = "CREATE TABLE IF NOT EXISTS eventstore_migrations (
    table_name TEXT NOT NULL,
    version INTEGER NOT NULL,
    description TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    PRIMARY KEY (table_name, version)
)";

fn render(sql: &str, table: &TableName) -> String {
    migration::render(sql, table, &table.quoted())
}

/// The version recorded for `table`, 0 when none.
fn recorded_version(conn: &Connection, table: &TableName) -> Result<i64> {
    let ledger_exists: bool = conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'eventstore_migrations'",
            [],
            |_| Ok(true),
        )
        .optional()
        .map_err(db)?
        .unwrap_or(false);
    if !ledger_exists {
        return Ok(0);
    }
    conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM eventstore_migrations WHERE table_name = ?1",
        [table.as_str()],
        |row| row.get(0),
    )
    .map_err(db)
}

/// Whether the optional `(type, time)` index of `table` exists.
fn type_time_index_exists(conn: &Connection, table: &TableName) -> Result<bool> {
    conn.query_row(
        "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?1",
        [format!("{}_type_time", table.as_str())],
        |_| Ok(()),
    )
    .optional()
    .map(|found| found.is_some())
    .map_err(db)
}

/// Applies every migration `table` lacks, and creates the optional `(type, time)` index
/// when `type_time_index` and it is missing, in one write transaction; returns the
/// versions applied. Fails with [`Error::SchemaTooNew`] when the file is ahead of this
/// build.
///
/// A schema with nothing to apply, the usual case, is found without the write lock:
/// a store opening while another process holds the lock for a long write (an import,
/// a long transaction) would otherwise wait for it, and fail with a time-out.
pub(crate) fn migrate(
    conn: &mut Connection,
    table: &TableName,
    type_time_index: bool,
) -> Result<Vec<i64>> {
    let found = recorded_version(conn, table)?;
    migration::ensure_not_newer(table, found, SCHEMA_VERSION)?;
    if found == SCHEMA_VERSION && (!type_time_index || type_time_index_exists(conn, table)?) {
        return Ok(Vec::new());
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db)?;
    let found = recorded_version(&tx, table)?;
    migration::ensure_not_newer(table, found, SCHEMA_VERSION)?;
    tx.execute_batch(LEDGER).map_err(db)?;
    let mut applied = Vec::new();
    for migration in MIGRATIONS.iter().filter(|m| m.version > found) {
        tx.execute_batch(&render(migration.sql, table))
            .map_err(db)?;
        tx.execute(
            "INSERT INTO eventstore_migrations (table_name, version, description, applied_at) \
             VALUES (?1, ?2, ?3, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
            params![table.as_str(), migration.version, migration.description],
        )
        .map_err(db)?;
        applied.push(migration.version);
    }
    if type_time_index {
        tx.execute_batch(&render(TYPE_TIME_INDEX, table))
            .map_err(db)?;
    }
    tx.commit().map_err(db)?;
    if !applied.is_empty() {
        tracing::info!(table = %table, ?applied, "applied SQLite migrations");
    }
    Ok(applied)
}

/// Checks that `table` is exactly at [`SCHEMA_VERSION`], without changing anything.
pub(crate) fn check(conn: &Connection, table: &TableName) -> Result<()> {
    migration::check_version(table, recorded_version(conn, table)?, SCHEMA_VERSION)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_table_and_index_names() {
        let table = TableName::new("ev").unwrap();
        assert_eq!(
            render("CREATE INDEX {table_type} ON {table} (type)", &table),
            "CREATE INDEX \"ev_type\" ON \"ev\" (type)"
        );
    }
}
