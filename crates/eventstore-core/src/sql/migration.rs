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
    /// Its SQL, with `{table}`, `{table_<suffix>}` and `{legacy_<suffix>}` placeholders
    /// (see [`render`]).
    pub sql: &'static str,
    /// How its `{table_<suffix>}` names are filled (see [`Migration::names_for`]).
    pub names: Names,
}

/// How a migration names the objects it makes beside the table (its `{table_<suffix>}`
/// placeholders): those named before the store gave them [companion
/// names](TableName::companion) name them as they were then on a table that had them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Names {
    /// Written with companion names, `<table>$<suffix>`.
    Companion,
    /// Shipped when the store named its objects `<table>_<suffix>`
    /// ([`TableName::derived`]): a table created by it, or after it, has these names
    /// until [`Names::RenameLegacy`] renames them; on a new table, which applies every
    /// migration at once, it makes companion names from the start.
    Legacy,
    /// Renames the objects of a table made with legacy names to companion names (its
    /// `{legacy_<suffix>}` placeholders the old names, `{table_<suffix>}` the new): on
    /// a new table there is nothing to rename.
    RenameLegacy,
}

impl Names {
    /// The quoted, unqualified name of the object `suffix` beside `table`, as these
    /// names fill a `{table_<suffix>}` placeholder: [`TableName::derived`] under
    /// [`Names::Legacy`], [`TableName::companion`] otherwise.
    pub fn name(self, table: &TableName, suffix: &str) -> String {
        match self {
            Names::Legacy => table.derived(suffix),
            Names::Companion | Names::RenameLegacy => table.companion(suffix),
        }
    }
}

impl Migration {
    /// How to name this migration's objects ([`render`]) on a table at recorded version
    /// `found`, or `None` when it has nothing to do there (a rename of legacy names on
    /// a new table, `found == 0`).
    ///
    /// A new table never has a legacy name, even for a moment: two stores' legacy
    /// names can be the same (the index `events_type_sequence` of `events`, the
    /// sequence of `events_type`), and the second would fail to be made.
    pub fn names_for(&self, found: i64) -> Option<Names> {
        match (self.names, found) {
            (Names::RenameLegacy, 0) => None,
            (Names::Legacy, 1..) => Some(Names::Legacy),
            _ => Some(Names::Companion),
        }
    }
}

/// Fills a migration's placeholders: `{table}` with `table_sql` (the table's name as the
/// backend writes it), each `{table_<suffix>}` with the quoted name of the object
/// `suffix` beside the table, as `names` says ([`TableName::companion`], or under
/// [`Names::Legacy`], [`TableName::derived`]), and each `{legacy_<suffix>}` with its
/// legacy name ([`TableName::derived`]).
pub fn render(sql: &str, table: &TableName, table_sql: &str, names: Names) -> String {
    let out = sql.replace("{table}", table_sql);
    let out = fill(&out, "{legacy_", |suffix| table.derived(suffix));
    fill(&out, "{table_", |suffix| names.name(table, suffix))
}

/// Replaces each `{prefix<suffix>}` (`open` is `{prefix`) with `name(suffix)`.
fn fill(sql: &str, open: &str, name: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(start) = rest.find(open) {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        out.push_str(&rest[..start]);
        out.push_str(&name(&rest[start + open.len()..start + len]));
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    out
}

/// The first schema version whose objects beside the table have [companion
/// names](TableName::companion): a table recorded at an earlier version has them under
/// their legacy names ([`TableName::derived`]) until its migration to this one.
pub const COMPANION_NAMES_SINCE: i64 = 4;

/// The names the objects beside a table recorded at version `found` (not 0) have.
pub fn names_at(found: i64) -> Names {
    if found < COMPANION_NAMES_SINCE {
        Names::Legacy
    } else {
        Names::Companion
    }
}

/// A unique constraint of the event table that the store's guarantees rest on.
///
/// Every other index of the table only makes reads faster: a migration leaves one that
/// was dropped by hand dropped (reads it served scan instead). Without one of these,
/// rows that break the guarantee could be written, so a migration refuses to go on
/// ([`missing_constraint`]) rather than hide that it is gone.
#[derive(Debug, Clone, Copy)]
pub struct RequiredUnique {
    /// The suffix of its name (`<table>$<suffix>`, `<table>_<suffix>` before
    /// [`COMPANION_NAMES_SINCE`]).
    pub suffix: &'static str,
    /// What it keeps, as the error says.
    pub keeps: &'static str,
}

/// The event table's unique constraints that a migration requires, on every backend.
pub const REQUIRED_UNIQUE: &[RequiredUnique] = &[
    RequiredUnique {
        suffix: "source_id",
        keeps: "one event per (source, id): duplicates are refused or skipped by it",
    },
    RequiredUnique {
        suffix: "subject_version",
        keeps: "one event per stream version: expected versions hold under concurrent \
                appends by it",
    },
];

/// The error for `table` (shown as `shown`) lacking `required`, named `name` (quoted,
/// as the database holds it at the table's version), which `restore` makes again.
pub fn missing_constraint(
    shown: &str,
    required: &RequiredUnique,
    name: &str,
    restore: String,
) -> Error {
    Error::MissingConstraint {
        table: shown.to_owned(),
        constraint: format!("the unique constraint {name}"),
        guarantees: required.keeps.to_owned(),
        restore,
    }
}

/// Refuses, with [`Error::Config`], to create the table `name` (shown as `shown`) where
/// a migration still to be applied to another table would make an object of that name:
/// `behind` lists the tables whose recorded version is below the latest, with that
/// version. A table made before [`Names::RenameLegacy`] (or its backend's equivalent)
/// makes its missing objects under their legacy names, `<table>_<suffix>`
/// ([`Names::Legacy`]), and renames them after: a new table holding one of those names
/// would make that migration fail, and the older store could not be opened again.
/// Names are compared as given: a backend whose names ignore case passes them folded.
pub fn refuse_legacy_claim(
    migrations: &[Migration],
    shown: &str,
    name: &str,
    behind: &[(String, i64)],
) -> Result<()> {
    let claim = behind.iter().find_map(|(other, found)| {
        let suffix = name.strip_prefix(other.as_str())?.strip_prefix('_')?;
        let placeholder = format!("{{table_{suffix}}}");
        migrations
            .iter()
            .filter(|m| m.version > *found && m.names_for(*found) == Some(Names::Legacy))
            .any(|m| m.sql.contains(&placeholder))
            .then_some((other, found))
    });
    match claim {
        None => Ok(()),
        Some((other, found)) => Err(Error::Config(format!(
            "cannot create the event table {shown}: the store of table {other:?}, at schema \
             version {found}, makes an object of that name when this build migrates it (a \
             build before schema version 4 named them `<table>_<suffix>`, and this one \
             renames them to `<table>$<suffix>` afterwards); open the store of {other:?} \
             with this build first, or choose another table name"
        ))),
    }
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
    fn renders_table_and_companion_names() {
        let table = TableName::new("ev").unwrap();
        let sql = "CREATE INDEX {table_type} ON {table} (type)";
        assert_eq!(
            render(sql, &table, "\"s\".\"ev\"", Names::Companion),
            "CREATE INDEX \"ev$type\" ON \"s\".\"ev\" (type)"
        );
        assert_eq!(
            render(sql, &table, "\"ev\"", Names::Legacy),
            "CREATE INDEX \"ev_type\" ON \"ev\" (type)"
        );
        assert_eq!(
            render(
                "ALTER INDEX {legacy_type} RENAME TO {table_type}",
                &table,
                "\"ev\"",
                Names::RenameLegacy
            ),
            "ALTER INDEX \"ev_type\" RENAME TO \"ev$type\""
        );
    }

    #[test]
    fn a_new_table_gets_companion_names_and_an_old_one_is_renamed() {
        let legacy = Migration {
            version: 2,
            description: "",
            sql: "{table_x}",
            names: Names::Legacy,
        };
        let rename = Migration {
            names: Names::RenameLegacy,
            sql: "",
            ..legacy
        };
        assert_eq!(legacy.names_for(0), Some(Names::Companion));
        assert_eq!(legacy.names_for(1), Some(Names::Legacy));
        assert_eq!(rename.names_for(0), None);
        assert_eq!(rename.names_for(3), Some(Names::Companion));
        let companion = Migration {
            names: Names::Companion,
            ..legacy
        };
        assert_eq!(companion.names_for(4), Some(Names::Companion));
    }

    #[test]
    fn a_legacy_name_a_table_behind_would_make_is_refused() {
        let migrations = [
            Migration {
                version: 1,
                description: "",
                sql: "{table_time}",
                names: Names::Legacy,
            },
            Migration {
                version: 2,
                description: "",
                sql: "{table_checkpoints}",
                names: Names::Legacy,
            },
            Migration {
                version: 3,
                description: "",
                sql: "{legacy_checkpoints} {table_checkpoints}",
                names: Names::RenameLegacy,
            },
        ];
        let behind = [("ev".to_owned(), 1)];
        let refused = refuse_legacy_claim(&migrations, "ev_checkpoints", "ev_checkpoints", &behind);
        assert!(
            matches!(refused, Err(Error::Config(m)) if m.contains("\"ev\", at schema version 1"))
        );
        // Made already (its name is taken, which the backend sees), or never made.
        for name in [
            "ev_time",
            "ev_leases",
            "ev",
            "evx_checkpoints",
            "e_checkpoints",
        ] {
            assert!(
                refuse_legacy_claim(&migrations, name, name, &behind).is_ok(),
                "{name}"
            );
        }
        let current = [("ev".to_owned(), 2)];
        assert!(refuse_legacy_claim(&migrations, "", "ev_checkpoints", &current).is_ok());
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
