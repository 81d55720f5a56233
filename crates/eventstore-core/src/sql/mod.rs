//! The SQL every backend shares: validated table names, the query builder over a small
//! [`Dialect`], keyset paging, the column encoding of an event, and the [`text`] every
//! backend's columns can hold.
//!
//! Nothing a caller passes is pasted into SQL text: values become [`SqlValue`]
//! parameters, and the only identifier, the table name, is validated by [`TableName`]
//! and quoted.

mod builder;
pub mod migration;
mod pager;
mod row;
pub mod text;

pub use builder::{Binder, Sql, SqlValue, select_by_id, select_events, select_stream};
pub use pager::Pager;
pub use row::{DataColumn, EventRow, data_columns, extensions_column};

use crate::error::{Error, Result};
use crate::extension::ExtensionValue;

/// The longest table name accepted: PostgreSQL's 63-byte identifier limit, less room
/// for the suffixes of the names of its companions ([`TableName::companion`]; the
/// longest, `$correlationid_sequence`, takes 23).
pub const MAX_TABLE_NAME_LEN: usize = 40;

/// What separates a table's name from a suffix in the names of its companions
/// ([`TableName::companion`]): a character no table name holds.
pub const COMPANION_SEPARATOR: char = '$';

/// How one SQL database spells what the shared builder needs.
pub trait Dialect: Send + Sync {
    /// The placeholder of the `index`-th parameter (1-based): `?1`, `$1`.
    fn placeholder(&self, index: usize) -> String;

    /// The columns to select for an [`EventRow`], in the order it reads them.
    fn event_columns(&self) -> &'static str;

    /// A predicate that `column` equals any of `values` (never empty).
    fn any_of(&self, column: &str, values: &[String], binder: &mut Binder<'_>) -> String {
        let placeholders: Vec<String> = values
            .iter()
            .map(|v| binder.bind(SqlValue::Text(v.clone())))
            .collect();
        format!("{column} IN ({})", placeholders.join(", "))
    }

    /// A predicate that the extension `name` (already validated) equals `value`, type
    /// included, in the `extensions` column's typed encoding.
    fn extension_equals(
        &self,
        name: &str,
        value: &ExtensionValue,
        binder: &mut Binder<'_>,
    ) -> String;

    /// How many entries of the `(time)` index a read in sequence order with a time
    /// range (`bounded`: with an end) may scan to find where its first match lies (see
    /// [`select_events`]); `None`, the default, for a database whose planner reads such
    /// ranges well on its own.
    fn time_probe_rows(&self, bounded: bool) -> Option<u64> {
        let _ = bounded;
        None
    }
}

/// A validated, quotable table name: ASCII letters, digits and `_`, not starting with a
/// digit, at most [`MAX_TABLE_NAME_LEN`] bytes; optionally in a schema (PostgreSQL)
/// validated the same way.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableName {
    name: String,
    schema: Option<String>,
}

fn is_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_TABLE_NAME_LEN
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit()
}

fn invalid(what: &str, name: &str) -> Error {
    Error::Config(format!(
        "{what} name {name:?} is not a valid identifier: use 1 to {MAX_TABLE_NAME_LEN} \
         ASCII letters, digits or underscores, not starting with a digit"
    ))
}

impl TableName {
    /// Validates a table name.
    pub fn new(name: impl Into<String>) -> Result<Self> {
        let name = name.into();
        if is_identifier(&name) {
            Ok(Self { name, schema: None })
        } else {
            Err(invalid("table", &name))
        }
    }

    /// The same table in `schema` (validated like a table name): [`quoted`](Self::quoted)
    /// then qualifies the name.
    pub fn in_schema(mut self, schema: impl Into<String>) -> Result<Self> {
        let schema = schema.into();
        if !is_identifier(&schema) {
            return Err(invalid("schema", &schema));
        }
        self.schema = Some(schema);
        Ok(self)
    }

    /// The name as given, without its schema.
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// The schema, when one was given.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// The name quoted as an SQL identifier, qualified by its schema when it has one.
    pub fn quoted(&self) -> String {
        match &self.schema {
            Some(schema) => format!("\"{schema}\".\"{}\"", self.name),
            None => format!("\"{}\"", self.name),
        }
    }

    /// A quoted, unqualified name derived from this one, `"<table>_<suffix>"`, for an
    /// application's own objects beside the store's table (a projection's table).
    ///
    /// Such a name can be another store's table name, or derived from one: the names
    /// `events_type` and `events_type_sequence` are `events_type_sequence` both. The
    /// store names its own objects with [`companion`](Self::companion), which no table
    /// and no other store's object can share; before schema version 4 it used these
    /// names, and migration 4 renames them.
    pub fn derived(&self, suffix: &str) -> String {
        format!("\"{}_{suffix}\"", self.name)
    }

    /// A [`derived`](Self::derived) name qualified by the schema, for an object that is
    /// named outside `CREATE INDEX` (a table).
    pub fn derived_qualified(&self, suffix: &str) -> String {
        self.qualify(self.derived(suffix))
    }

    /// The quoted, unqualified name of an object the store keeps beside this table (a
    /// sequence, an index, a constraint, a coordination table):
    /// `"<table>$<suffix>"` (index names take no schema: an index lives in its
    /// table's). No table name holds [`COMPANION_SEPARATOR`], and each companion name
    /// holds it once, after its table's name: so no companion of one store is another
    /// store's table, and two stores' companions never share a name, whatever their
    /// names and suffixes.
    pub fn companion(&self, suffix: &str) -> String {
        debug_assert!(!suffix.contains(COMPANION_SEPARATOR));
        format!("\"{}{COMPANION_SEPARATOR}{suffix}\"", self.name)
    }

    /// A [`companion`](Self::companion) name qualified by the schema, for an object
    /// that is named outside `CREATE INDEX` (a sequence, a table).
    pub fn companion_qualified(&self, suffix: &str) -> String {
        self.qualify(self.companion(suffix))
    }

    fn qualify(&self, quoted: String) -> String {
        match &self.schema {
            Some(schema) => format!("\"{schema}\".{quoted}"),
            None => quoted,
        }
    }
}

impl Default for TableName {
    fn default() -> Self {
        Self {
            name: "events".to_owned(),
            schema: None,
        }
    }
}

impl std::fmt::Display for TableName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(schema) = &self.schema {
            write!(f, "{schema}.")?;
        }
        f.write_str(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_identifiers() {
        assert_eq!(
            TableName::new("events_2024").unwrap().quoted(),
            "\"events_2024\""
        );
        for bad in [
            "",
            "1events",
            "events; DROP TABLE x",
            "e\"vents",
            "évents",
            &"x".repeat(41),
        ] {
            assert!(
                matches!(TableName::new(bad), Err(Error::Config(_))),
                "{bad}"
            );
            assert!(
                matches!(TableName::default().in_schema(bad), Err(Error::Config(_))),
                "{bad}"
            );
        }
        let qualified = TableName::new("ev").unwrap().in_schema("app").unwrap();
        assert_eq!(qualified.quoted(), "\"app\".\"ev\"");
        assert_eq!(qualified.derived("seq"), "\"ev_seq\"");
        assert_eq!(qualified.derived_qualified("seq"), "\"app\".\"ev_seq\"");
        assert_eq!(qualified.companion("type"), "\"ev$type\"");
        assert_eq!(
            qualified.companion_qualified("sequence"),
            "\"app\".\"ev$sequence\""
        );
        assert_eq!(qualified.to_string(), "app.ev");
    }
}
