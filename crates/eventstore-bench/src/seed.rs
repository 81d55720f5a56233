//! The seed project's schema, the second baseline: the same table with one index per
//! filterable column (nine of them) and `UNIQUE (source, id)`, and none of the store's
//! composite indexes. The report's "vs seed schema" lines show what the store's schema
//! gains (or costs) against it.

/// The seed's single-column indexes: `CREATE INDEX` statements for table `table`
/// (already quoted, schema-qualified where need be) with index names prefixed `prefix`.
pub(crate) fn indexes(table: &str, prefix: &str) -> Vec<String> {
    [
        "id",
        "source",
        "type",
        "subject",
        "time",
        "correlationid",
        "topic",
        "destination",
        "recorded_at",
    ]
    .iter()
    .map(|column| format!("CREATE INDEX {prefix}seed_{column} ON {table} ({column})"))
    .collect()
}

/// Whether an index of the store's schema is the one the seed keeps: the unique
/// `(source, id)` constraint.
pub(crate) fn keeps(index_name: &str) -> bool {
    index_name.ends_with("source_id") || index_name.ends_with("pkey")
}
