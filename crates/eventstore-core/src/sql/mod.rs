//! The SQL every backend shares: validated table names, the query builder over a small
//! [`Dialect`], keyset paging, and the column encoding of an event.
//!
//! Nothing a caller passes is pasted into SQL text: values become [`SqlValue`]
//! parameters, and the only identifier, the table name, is validated by [`TableName`]
//! and quoted.

mod builder;
mod pager;
mod row;

pub use builder::{Binder, Sql, SqlValue, select_by_id, select_events, select_stream};
pub use pager::Pager;
pub use row::{DataColumn, EventRow, data_columns, extensions_column};

use crate::error::{Error, Result};
use crate::extension::ExtensionValue;

/// The longest table name accepted: PostgreSQL's 63-byte identifier limit, less room
/// for the suffixes of index names derived from it.
pub const MAX_TABLE_NAME_LEN: usize = 40;

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
}

/// A validated, quotable table name: ASCII letters, digits and `_`, not starting with a
/// digit, at most [`MAX_TABLE_NAME_LEN`] bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableName(String);

impl TableName {
    /// Validates a table name.
    pub fn new(name: impl Into<String>) -> Result<Self> {
        let name = name.into();
        let valid = !name.is_empty()
            && name.len() <= MAX_TABLE_NAME_LEN
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && !name.as_bytes()[0].is_ascii_digit();
        if valid {
            Ok(Self(name))
        } else {
            Err(Error::Config(format!(
                "table name {name:?} is not a valid identifier: use 1 to {MAX_TABLE_NAME_LEN} \
                 ASCII letters, digits or underscores, not starting with a digit"
            )))
        }
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name quoted as an SQL identifier.
    pub fn quoted(&self) -> String {
        format!("\"{}\"", self.0)
    }

    /// A quoted name derived from this one, for an index or a companion table.
    pub fn derived(&self, suffix: &str) -> String {
        format!("\"{}_{suffix}\"", self.0)
    }
}

impl Default for TableName {
    fn default() -> Self {
        Self("events".to_owned())
    }
}

impl std::fmt::Display for TableName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
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
        }
    }
}
