//! What the backends' embedded migrations share: their shape, the placeholders of
//! their SQL, and the rule comparing a database's schema version with the build's.

use super::TableName;
use crate::error::{Error, Result};

/// One embedded migration. Never edit one that has shipped: add a new one.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Its version, from 1, in order.
    pub version: i64,
    /// What it does, recorded with it.
    pub description: &'static str,
    /// Its SQL, with `{table}` and `{table_<suffix>}` placeholders (see [`render`]).
    pub sql: &'static str,
}

/// Fills a migration's placeholders: `{table}` with `table_sql` (the table's name as the
/// backend writes it), and each `{table_<suffix>}` with the quoted name derived from the
/// table's ([`TableName::derived`]): its indexes and companion tables.
pub fn render(sql: &str, table: &TableName, table_sql: &str) -> String {
    let mut out = sql.replace("{table}", table_sql);
    while let Some(start) = out.find("{table_") {
        let Some(len) = out[start..].find('}') else {
            break;
        };
        let suffix = out[start + "{table_".len()..start + len].to_owned();
        out.replace_range(start..=start + len, &table.derived(&suffix));
    }
    out
}

/// Refuses a database whose recorded version `found` is newer than the `supported` one.
pub fn ensure_not_newer(table: &TableName, found: i64, supported: i64) -> Result<()> {
    if found > supported {
        return Err(Error::SchemaTooNew {
            table: table.to_string(),
            found,
            supported,
        });
    }
    Ok(())
}

/// Checks, without migrating, that the database is exactly at the `supported` version.
pub fn check_version(table: &TableName, found: i64, supported: i64) -> Result<()> {
    ensure_not_newer(table, found, supported)?;
    if found < supported {
        return Err(Error::SchemaOutdated {
            table: table.to_string(),
            found,
            required: supported,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_table_and_derived_names() {
        let table = TableName::new("ev").unwrap();
        assert_eq!(
            render(
                "CREATE INDEX {table_type} ON {table} (type)",
                &table,
                "\"s\".\"ev\""
            ),
            "CREATE INDEX \"ev_type\" ON \"s\".\"ev\" (type)"
        );
    }

    #[test]
    fn versions_are_compared_both_ways() {
        let table = TableName::default();
        assert!(check_version(&table, 2, 2).is_ok());
        assert!(matches!(
            check_version(&table, 3, 2),
            Err(Error::SchemaTooNew { .. })
        ));
        assert!(matches!(
            check_version(&table, 1, 2),
            Err(Error::SchemaOutdated { .. })
        ));
        assert!(ensure_not_newer(&table, 1, 2).is_ok());
    }
}
