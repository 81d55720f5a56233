//! Versioned, embedded migrations of the SQLite schema, applied under SQLite's write
//! lock (`BEGIN IMMEDIATE`) so that processes opening one file at once cannot race.

use eventstore_core::sql::TableName;
use eventstore_core::sql::migration::{self, Migration, Names};
use eventstore_core::{Error, Result};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::error::db;

/// The migrations in order. Never edit one that has shipped: add a new one.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "event table and its indexes",
        sql: include_str!("../migrations/0001_events.sql"),
        names: Names::Legacy,
    },
    Migration {
        version: 2,
        description: "checkpoints, leases and dead letters",
        sql: include_str!("../migrations/0002_coordination.sql"),
        names: Names::Legacy,
    },
    Migration {
        version: 3,
        description: "snapshots",
        sql: include_str!("../migrations/0003_snapshots.sql"),
        names: Names::Legacy,
    },
    Migration {
        version: 4,
        description: "objects beside the table named <table>$<suffix>, which no other store's can be",
        sql: include_str!("../migrations/0004_companion_names.sql"),
        names: Names::RenameLegacy,
    },
];

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: i64 = 4;

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

fn render(sql: &str, table: &TableName, names: Names) -> String {
    migration::render(sql, table, &table.quoted(), names)
}

/// The unquoted name of the object `suffix` beside `table`, as `sqlite_master` holds it.
fn object_name(table: &TableName, suffix: &str, names: Names) -> String {
    names.name(table, suffix).trim_matches('"').to_owned()
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

/// Whether the optional `(type, time)` index of `table` exists, named as `names` says.
fn type_time_index_exists(conn: &Connection, table: &TableName, names: Names) -> Result<bool> {
    conn.query_row(
        "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?1 AND tbl_name = ?2",
        [
            object_name(table, "type_time", names).as_str(),
            table.as_str(),
        ],
        |_| Ok(()),
    )
    .optional()
    .map(|found| found.is_some())
    .map_err(db)
}

/// The indexes a table made before schema version 4 has under their legacy names, by
/// suffix, with the suffix of the table each is on (`None`: the event table). The
/// optional `(type, time)` index is among them.
const LEGACY_INDEXES: &[(&str, Option<&str>)] = &[
    ("source_id", None),
    ("subject_version", None),
    ("subject_sequence", None),
    ("type_sequence", None),
    ("correlationid_sequence", None),
    ("time", None),
    ("type_time", None),
    ("dead_letters_relay", Some("dead_letters")),
];

/// Makes each of `table`'s [`LEGACY_INDEXES`] that it has again under its companion
/// name, from its own definition in `sqlite_master`, and drops the old one: SQLite
/// cannot rename an index. One the table lacks (dropped by hand: it only made reads
/// faster) stays missing; the unique ones the store's guarantees rest on were checked
/// before ([`require_unique`]).
fn rename_legacy_indexes(conn: &Connection, table: &TableName) -> Result<()> {
    for (suffix, on) in LEGACY_INDEXES {
        let legacy = object_name(table, suffix, Names::Legacy);
        let owner = on.map_or_else(
            || table.as_str().to_owned(),
            |on| object_name(table, on, Names::Companion),
        );
        let definition: Option<String> = conn
            .query_row(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?1 \
                 AND tbl_name = ?2",
                [legacy.as_str(), owner.as_str()],
                |row| row.get(0),
            )
            .optional()
            .map_err(db)?;
        let Some(definition) = definition else {
            if *suffix == "type_time" {
                // Optional: made only when asked for.
                continue;
            }
            tracing::warn!(
                table = %table,
                index = %legacy,
                "the table has no index {legacy} (dropped by hand?): left out of the \
                 renaming; reads it served scan instead"
            );
            continue;
        };
        let renamed =
            renamed_definition(&definition, &legacy, &Names::Companion.name(table, suffix))
                .ok_or_else(|| {
                    Error::Config(format!(
                        "cannot rename the index {legacy:?} of {owner:?}: its definition \
                     {definition:?} does not name it"
                    ))
                })?;
        conn.execute_batch(&format!("DROP INDEX \"{legacy}\"; {renamed}"))
            .map_err(db)?;
    }
    Ok(())
}

/// `definition` (`CREATE [UNIQUE] INDEX [IF NOT EXISTS] <name> ON …`, as
/// `sqlite_master` keeps it) with its index's name, `legacy` in any quoting or case,
/// replaced by `quoted`; `None` when it does not name it.
fn renamed_definition(definition: &str, legacy: &str, quoted: &str) -> Option<String> {
    let start = definition
        .to_ascii_lowercase()
        .find(&legacy.to_ascii_lowercase())?;
    let end = start + legacy.len();
    let bytes = definition.as_bytes();
    let quoted_around = start > 0
        && end < bytes.len()
        && matches!(
            (bytes[start - 1], bytes[end]),
            (b'"', b'"') | (b'`', b'`') | (b'[', b']') | (b'\'', b'\'')
        );
    let (start, end) = if quoted_around {
        (start - 1, end + 1)
    } else {
        (start, end)
    };
    Some(format!(
        "{}{quoted}{}",
        &definition[..start],
        &definition[end..]
    ))
}

/// Refuses, with [`Error::MissingConstraint`], to migrate `table`, recorded at version
/// `found`, when it lacks one of the unique indexes the store's guarantees rest on
/// ([`migration::REQUIRED_UNIQUE`]), dropped by hand: the error gives the statement
/// that makes it again.
fn require_unique(conn: &Connection, table: &TableName, found: i64) -> Result<()> {
    let names = migration::names_at(found);
    for required in migration::REQUIRED_UNIQUE {
        let name = object_name(table, required.suffix, names);
        let present = conn
            .query_row(
                "SELECT 1 FROM pragma_index_list(?1) WHERE name = ?2 AND \"unique\" = 1",
                [table.as_str(), name.as_str()],
                |_| Ok(()),
            )
            .optional()
            .map_err(db)?
            .is_some();
        if !present {
            let restore = match required.suffix {
                "source_id" => "CREATE UNIQUE INDEX {table_source_id} ON {table} (source, id)",
                _ => {
                    "CREATE UNIQUE INDEX {table_subject_version} ON {table} \
                      (subject, stream_version) WHERE subject IS NOT NULL"
                }
            };
            return Err(migration::missing_constraint(
                &table.to_string(),
                required,
                &names.name(table, required.suffix),
                render(restore, table, names),
            ));
        }
    }
    Ok(())
}

/// Refuses, with [`Error::Config`], to create `table` where an object of its name
/// exists (SQLite's names ignore case): a table that is not a store's, or an index or
/// coordination table of another store, made by a build before schema version 4
/// (`<table>_<suffix>`, which that store's next opening renames), or the migrations'
/// ledger; and where such a store would make one of that name when it is migrated
/// ([`migration::refuse_legacy_claim`]). Its own objects' names cannot be taken: no
/// table name holds `$`.
fn name_is_free(conn: &Connection, table: &TableName) -> Result<()> {
    let behind = conn
        .prepare(
            "SELECT lower(table_name), MAX(version) FROM eventstore_migrations \
             GROUP BY table_name HAVING MAX(version) < ?1",
        )
        .and_then(|mut statement| {
            statement
                .query_map([SCHEMA_VERSION], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<rusqlite::Result<Vec<(String, i64)>>>()
        })
        .map_err(db)?;
    migration::refuse_legacy_claim(
        MIGRATIONS,
        &format!("{:?}", table.as_str()),
        &table.as_str().to_ascii_lowercase(),
        &behind,
    )?;
    let taken: Option<(String, String, String)> = conn
        .query_row(
            "SELECT type, name, tbl_name FROM sqlite_master WHERE name = ?1 COLLATE NOCASE",
            [table.as_str()],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .optional()
        .map_err(db)?;
    let Some((kind, name, owner)) = taken else {
        return Ok(());
    };
    let owner = if kind == "index" {
        format!(" of table {owner:?}")
    } else {
        String::new()
    };
    Err(Error::Config(format!(
        "cannot create the event table {:?}: its name is taken by the {kind} {name:?}{owner} \
         (an event store opened by a build before schema version 4 names its indexes and \
         coordination tables `<table>_<suffix>`, and renames them to `<table>$<suffix>` \
         when this build opens it); choose another table name, or open the store that \
         owns it first",
        table.as_str()
    )))
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
    if found == SCHEMA_VERSION
        && (!type_time_index || type_time_index_exists(conn, table, Names::Companion)?)
    {
        return Ok(Vec::new());
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db)?;
    let found = recorded_version(&tx, table)?;
    migration::ensure_not_newer(table, found, SCHEMA_VERSION)?;
    tx.execute_batch(LEDGER).map_err(db)?;
    if found == 0 {
        name_is_free(&tx, table)?;
    } else if found < SCHEMA_VERSION {
        require_unique(&tx, table, found)?;
    }
    let mut applied = Vec::new();
    for migration in MIGRATIONS.iter().filter(|m| m.version > found) {
        if let Some(names) = migration.names_for(found) {
            tx.execute_batch(&render(migration.sql, table, names))
                .map_err(db)?;
            if migration.names == Names::RenameLegacy {
                rename_legacy_indexes(&tx, table)?;
            }
        }
        tx.execute(
            "INSERT INTO eventstore_migrations (table_name, version, description, applied_at) \
             VALUES (?1, ?2, ?3, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
            params![table.as_str(), migration.version, migration.description],
        )
        .map_err(db)?;
        applied.push(migration.version);
    }
    if type_time_index {
        tx.execute_batch(&render(TYPE_TIME_INDEX, table, Names::Companion))
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
    fn an_index_definition_is_renamed_in_any_quoting() {
        for (definition, expected) in [
            (
                "CREATE INDEX \"ev_time\" ON \"ev\" (time)",
                "CREATE INDEX \"ev$time\" ON \"ev\" (time)",
            ),
            (
                "create unique index if not exists EV_TIME on ev(time)",
                "create unique index if not exists \"ev$time\" on ev(time)",
            ),
            (
                "CREATE INDEX [ev_time] ON ev (time)",
                "CREATE INDEX \"ev$time\" ON ev (time)",
            ),
        ] {
            assert_eq!(
                renamed_definition(definition, "ev_time", "\"ev$time\"").as_deref(),
                Some(expected)
            );
        }
        assert_eq!(
            renamed_definition("CREATE INDEX x ON ev (time)", "ev_time", "\"ev$time\""),
            None
        );
    }

    #[test]
    fn renders_table_and_index_names() {
        let table = TableName::new("ev").unwrap();
        assert_eq!(
            render(
                "CREATE INDEX {table_type} ON {table} (type)",
                &table,
                Names::Companion
            ),
            "CREATE INDEX \"ev$type\" ON \"ev\" (type)"
        );
    }
}
