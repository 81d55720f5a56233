//! Versioned, embedded migrations of the PostgreSQL schema, applied in one transaction
//! under an advisory lock (one per schema, see [`crate::keys`]) so that processes
//! opening the store at once never race: the first applies, the others wait and find
//! nothing left to do.

use eventstore_core::sql::TableName;
use eventstore_core::sql::migration::{self, Migration, Names};
use eventstore_core::{Error, Result};
use tokio_postgres::GenericClient;

use crate::error::db;
use crate::keys::{migration_key, schema_of};

/// The migrations in order. Never edit one that has shipped: add a new one.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "event table, its sequence and its indexes",
        sql: include_str!("../migrations/0001_events.sql"),
        names: Names::Legacy,
    },
    Migration {
        version: 2,
        description: "checkpoints, leases, dead letters and snapshots",
        sql: include_str!("../migrations/0002_coordination.sql"),
        names: Names::Legacy,
    },
    Migration {
        version: 3,
        description: "the event table's text columns compare bytewise (COLLATE \"C\")",
        sql: include_str!("../migrations/0003_bytewise_text.sql"),
        names: Names::Legacy,
    },
    Migration {
        version: 4,
        description: "objects beside the table named <table>$<suffix>, which no other store's can be",
        sql: include_str!("../migrations/0004_companion_names.sql"),
        names: Names::Companion,
    },
];

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: i64 = 4;

/// The optional GIN index on `extensions`: it serves extension filters (`@>`) but
/// costs appends, so a deployment may leave it out.
const EXTENSIONS_INDEX: &str = "CREATE INDEX IF NOT EXISTS {table_extensions} ON {table} USING gin (extensions jsonb_path_ops) \
     WHERE extensions IS NOT NULL";

fn ledger(table: &TableName) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} (
            table_name text NOT NULL,
            version bigint NOT NULL,
            description text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (table_name, version)
        )",
        ledger_name(table)
    )
}

fn ledger_name(table: &TableName) -> String {
    format!("\"{}\".eventstore_migrations", schema_of(table))
}

/// The sequence's qualified, quoted name.
pub(crate) fn sequence_name(table: &TableName) -> String {
    companion(table, "sequence")
}

/// The qualified, quoted name of a relation beside the table
/// (`<schema>."<table>$<suffix>"`, see [`TableName::companion`]): its sequence, its
/// coordination tables.
pub(crate) fn companion(table: &TableName, suffix: &str) -> String {
    format!("\"{}\".{}", schema_of(table), table.companion(suffix))
}

/// `table` qualified by its schema: its own, or `public` when it has none. The store
/// names every relation and lock of a table so (its sequence, its advisory locks, its
/// channel), whatever a connection's `search_path`: a driver on the same schema
/// qualifies the table it is given with this, to name the same relations.
pub fn qualified(table: &TableName) -> TableName {
    table
        .clone()
        .in_schema(schema_of(table))
        .expect("a table's schema, or `public`, is an identifier")
}

/// The table's qualified, quoted name.
pub(crate) fn table_name(table: &TableName) -> String {
    format!("\"{}\".\"{}\"", schema_of(table), table.as_str())
}

/// Fills a migration's placeholders: the core's `{table}`, `{table_x}` and
/// `{legacy_x}` (named as `names` says), and `{sequence}`, `{sequence_literal}` (the
/// sequence's qualified name, named so too) and `{schema}`.
fn render(sql: &str, table: &TableName, names: Names) -> String {
    let sql = sql
        .replace("{sequence_literal}", "{schema}.{table_sequence}")
        .replace("{sequence}", "{schema}.{table_sequence}");
    migration::render(&sql, table, &table_name(table), names)
        .replace("{schema}", &format!("\"{}\"", schema_of(table)))
}

async fn recorded_version(client: &impl GenericClient, table: &TableName) -> Result<i64> {
    let exists = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&ledger_name(table)])
        .await
        .map_err(db)?
        .get::<_, bool>(0);
    if !exists {
        return Ok(0);
    }
    let sql = format!(
        "SELECT COALESCE(MAX(version), 0) FROM {} WHERE table_name = $1",
        ledger_name(table)
    );
    Ok(client
        .query_one(&sql, &[&table.as_str()])
        .await
        .map_err(db)?
        .get(0))
}

/// Applies every migration `table` lacks, in one transaction under the schema's
/// migration lock, and returns the versions applied. Fails with
/// [`Error::SchemaTooNew`] when the database is ahead of this build.
pub(crate) async fn migrate(
    client: &mut tokio_postgres::Client,
    table: &TableName,
    extensions_index: bool,
) -> Result<Vec<i64>> {
    let tx = client.transaction().await.map_err(db)?;
    match apply(&tx, table, extensions_index).await {
        Ok(applied) => {
            tx.commit().await.map_err(db)?;
            if !applied.is_empty() {
                tracing::info!(table = %table, ?applied, "applied PostgreSQL migrations");
            }
            Ok(applied)
        }
        Err(e) => {
            // Roll back now rather than on drop, so the schema's lock is released even
            // when the caller's runtime is busy.
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

async fn apply(
    tx: &tokio_postgres::Transaction<'_>,
    table: &TableName,
    extensions_index: bool,
) -> Result<Vec<i64>> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&migration_key(table)])
        .await
        .map_err(db)?;
    let found = recorded_version(tx, table).await?;
    migration::ensure_not_newer(table, found, SCHEMA_VERSION)?;
    let mut applied = Vec::new();
    let pending: Vec<_> = MIGRATIONS.iter().filter(|m| m.version > found).collect();
    let index = companion(table, "extensions");
    let add_index = extensions_index
        && !tx
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&index])
            .await
            .map_err(db)?
            .get::<_, bool>(0);
    if !pending.is_empty() {
        // `CREATE SCHEMA IF NOT EXISTS` needs the CREATE privilege on the database even
        // when the schema exists: an owner role given only its schema (see
        // docs/reliability.md) must not be asked for it.
        let exists: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
                &[&schema_of(table)],
            )
            .await
            .map_err(db)?
            .get(0);
        if !exists {
            tx.batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS \"{}\"",
                schema_of(table)
            ))
            .await
            .map_err(db)?;
        }
        tx.batch_execute(&ledger(table)).await.map_err(db)?;
        if found == 0 {
            name_is_free(tx, table).await?;
        } else {
            require_unique(tx, table, found).await?;
        }
    }
    for migration in pending {
        if let Some(names) = migration.names_for(found) {
            tx.batch_execute(&render(migration.sql, table, names))
                .await
                .map_err(db)?;
        }
        tx.execute(
            &format!(
                "INSERT INTO {} (table_name, version, description) VALUES ($1, $2, $3)",
                ledger_name(table)
            ),
            &[&table.as_str(), &migration.version, &migration.description],
        )
        .await
        .map_err(db)?;
        applied.push(migration.version);
    }
    if add_index {
        tx.batch_execute(&render(EXTENSIONS_INDEX, table, Names::Companion))
            .await
            .map_err(db)?;
    }
    Ok(applied)
}

/// Refuses, with [`Error::MissingConstraint`], to migrate `table`, recorded at version
/// `found`, when it lacks one of the unique constraints the store's guarantees rest on
/// ([`migration::REQUIRED_UNIQUE`]), dropped by hand: the error gives the statement
/// that makes it again. A missing secondary index is no reason to refuse (migration 4
/// renames only those the table has).
async fn require_unique(
    tx: &tokio_postgres::Transaction<'_>,
    table: &TableName,
    found: i64,
) -> Result<()> {
    let names = migration::names_at(found);
    for required in migration::REQUIRED_UNIQUE {
        let name = names.name(table, required.suffix);
        let qualified_name = format!("\"{}\".{name}", schema_of(table));
        let present: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = to_regclass($1) \
                     AND indrelid = to_regclass($2) AND indisunique)",
                &[&qualified_name, &table_name(table)],
            )
            .await
            .map_err(db)?
            .get(0);
        if !present {
            let restore = match required.suffix {
                "source_id" => {
                    "ALTER TABLE {table} ADD CONSTRAINT {table_source_id} UNIQUE (source, id)"
                }
                _ => {
                    "CREATE UNIQUE INDEX {table_subject_version} ON {table} (subject, stream_version) \
                      WHERE subject IS NOT NULL"
                }
            };
            return Err(migration::missing_constraint(
                &qualified(table).to_string(),
                required,
                &qualified_name,
                render(restore, table, names),
            ));
        }
    }
    Ok(())
}

/// Refuses, with [`Error::Config`], to create `table` where a relation of its name
/// exists: a table that is not a store's, or an object of another store, made by a
/// build before schema version 4 (`<table>_<suffix>`, which that store's next opening
/// renames), or the migrations' ledger; and where such a store would make one of that
/// name when it is migrated ([`migration::refuse_legacy_claim`]). Its own objects'
/// names cannot be taken: no table name holds `$`.
async fn name_is_free(tx: &tokio_postgres::Transaction<'_>, table: &TableName) -> Result<()> {
    let behind: Vec<(String, i64)> = tx
        .query(
            &format!(
                "SELECT table_name, MAX(version) FROM {} GROUP BY table_name \
                 HAVING MAX(version) < $1",
                ledger_name(table)
            ),
            &[&SCHEMA_VERSION],
        )
        .await
        .map_err(db)?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    migration::refuse_legacy_claim(
        MIGRATIONS,
        &qualified(table).to_string(),
        table.as_str(),
        &behind,
    )?;
    let taken = tx
        .query_opt(
            "SELECT CASE c.relkind WHEN 'i' THEN 'an index' WHEN 'S' THEN 'a sequence' \
                 WHEN 'r' THEN 'a table' WHEN 'p' THEN 'a table' WHEN 'v' THEN 'a view' \
                 ELSE 'a relation' END, \
                 COALESCE((SELECT i.indrelid::regclass::text FROM pg_index i \
                           WHERE i.indexrelid = c.oid), \
                          (SELECT d.refobjid::regclass::text FROM pg_depend d \
                           WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid \
                             AND d.refclassid = 'pg_class'::regclass \
                             AND d.deptype IN ('a', 'i') LIMIT 1)) \
             FROM pg_class c WHERE c.oid = to_regclass($1)",
            &[&table_name(table)],
        )
        .await
        .map_err(db)?;
    let Some(row) = taken else {
        return Ok(());
    };
    let (kind, owner): (&str, Option<String>) = (row.get(0), row.get(1));
    let owner = owner.map_or_else(String::new, |owner| format!(" of table {owner}"));
    Err(Error::Config(format!(
        "cannot create the event table {}: its name is taken by {kind}{owner} (an \
         event store opened by a build before schema version 4 names its indexes, \
         sequence and coordination tables `<table>_<suffix>`, and renames them to \
         `<table>$<suffix>` when this build opens it); choose another table name, or \
         open the store that owns it first",
        qualified(table)
    )))
}

/// Checks that `table` is exactly at [`SCHEMA_VERSION`], without changing anything.
pub(crate) async fn check(client: &impl GenericClient, table: &TableName) -> Result<()> {
    migration::check_version(
        table,
        recorded_version(client, table).await?,
        SCHEMA_VERSION,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unqualified_table_is_in_public() {
        let table = TableName::new("ev").unwrap();
        assert_eq!(qualified(&table).quoted(), "\"public\".\"ev\"");
        let app = table.in_schema("app").unwrap();
        assert_eq!(qualified(&app), app);
    }

    #[test]
    fn renders_qualified_names() {
        let table = TableName::new("ev").unwrap().in_schema("app").unwrap();
        assert_eq!(
            render(
                "CREATE INDEX {table_type} ON {table} (type) -- {sequence}",
                &table,
                Names::Companion
            ),
            "CREATE INDEX \"ev$type\" ON \"app\".\"ev\" (type) -- \"app\".\"ev$sequence\""
        );
    }
}
