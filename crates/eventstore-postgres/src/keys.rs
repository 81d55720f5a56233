//! Advisory-lock keys of the store, kept apart from the application's own.
//!
//! PostgreSQL has one advisory-lock key space per database, shared with the
//! application. The store's keys are derived from a fixed namespace string and the
//! schema-qualified table name with 64-bit FNV-1a (stable across Rust and PostgreSQL
//! versions, unlike `hashtext`), so they are the same in every process and differ
//! between stores:
//!
//! - migrations: the whole 64-bit hash of `eventstore-sql/migrate:<schema>`, taken with
//!   `pg_advisory_xact_lock(bigint)` (one key per schema, because stores in one schema
//!   share the migration ledger);
//! - per-subject append locks: `(int4, int4)` keys, the first the hash of
//!   `eventstore-sql/subject:<schema>.<table>`, the second the subject's `hashtext`;
//! - the table's append lock (shared by every batch that takes subject locks,
//!   exclusive for a batch over [`MAX_SUBJECT_LOCKS`](crate::statements::MAX_SUBJECT_LOCKS)
//!   subjects and for a bulk import): the `bigint` key with that same hash in its high
//!   32 bits and zeros below, apart from every `(int4, int4)` key;
//! - the sequence horizon: the high 32 bits are the hash of
//!   `eventstore-sql/horizon:<schema>.<table>` and the low 32 bits carry a sequence
//!   value (see [`crate::horizon`]).
//!
//! An application that uses `pg_advisory_lock(bigint)` with random keys collides with
//! one of these with probability 2^-32 per key at worst.

use eventstore_core::sql::TableName;

const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv1a(parts: &[&str]) -> u64 {
    let mut hash = OFFSET;
    for byte in parts.iter().flat_map(|p| p.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(PRIME);
    }
    hash
}

/// The schema a table lives in: its own, or `public`.
pub(crate) fn schema_of(table: &TableName) -> &str {
    table.schema().unwrap_or("public")
}

/// The key of the migration lock of the table's schema.
pub(crate) fn migration_key(table: &TableName) -> i64 {
    fnv1a(&["eventstore-sql/migrate:", schema_of(table)]) as i64
}

/// The 32-bit namespace of the table's horizon locks, as `pg_locks.classid` shows it.
pub(crate) fn horizon_class(table: &TableName) -> u32 {
    let hash = fnv1a(&[
        "eventstore-sql/horizon:",
        schema_of(table),
        ".",
        table.as_str(),
    ]);
    (hash >> 32) as u32 ^ hash as u32
}

/// The namespace (first `int4` key) of the table's per-subject append locks, taken
/// with `pg_advisory_xact_lock(int4, int4)` (`pg_locks.objsubid` 2) and the subject's
/// `hashtext` as the second key.
pub(crate) fn subject_class(table: &TableName) -> i32 {
    let hash = fnv1a(&[
        "eventstore-sql/subject:",
        schema_of(table),
        ".",
        table.as_str(),
    ]);
    ((hash >> 32) as u32 ^ hash as u32) as i32
}

/// The LISTEN/NOTIFY channel of the table: `eventstore_` and 16 hex digits, an
/// identifier PostgreSQL takes unquoted.
pub fn notify_channel(table: &TableName) -> String {
    let hash = fnv1a(&[
        "eventstore-sql/notify:",
        schema_of(table),
        ".",
        table.as_str(),
    ]);
    format!("eventstore_{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_and_distinct() {
        let a = TableName::new("events").unwrap();
        let b = TableName::new("events")
            .unwrap()
            .in_schema("other")
            .unwrap();
        assert_eq!(horizon_class(&a), horizon_class(&a.clone()));
        assert_ne!(horizon_class(&a), horizon_class(&b));
        assert_ne!(migration_key(&a), migration_key(&b));
        assert_eq!(fnv1a(&["a"]), 0xaf63_dc4c_8601_ec8c);
    }
}
