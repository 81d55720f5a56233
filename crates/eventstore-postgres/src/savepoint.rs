//! Skipping, inside a caller's transaction, a duplicate that a concurrent transaction
//! commits while the append waits for it.
//!
//! The append statement leaves out the batch's events already stored, as its snapshot
//! shows them. An event that a concurrent transaction inserted but had not committed is
//! not among them: the insert waits on the unique index of `(source, id)` and fails with
//! SQLSTATE 23505 when that transaction commits. The store's own appends then retry on
//! a new snapshot; inside a caller's transaction the failed statement has aborted the
//! transaction, so an append that skips duplicates ([`in_savepoint`]) runs in a
//! savepoint ([`SAVEPOINT_SQL`]), and on a violation of `(source, id)`
//! ([`retries_after`]) rolls back to it ([`ROLLBACK_TO_SAVEPOINT_SQL`]) and runs once
//! more, subject locks and statement. In READ COMMITTED (PostgreSQL's default) the new
//! statement's snapshot sees the other transaction's event and skips it; in REPEATABLE
//! READ or SERIALIZABLE it keeps the transaction's snapshot, fails the same way, and the
//! violation is returned as [`Error::Duplicate`](eventstore_core::Error::Duplicate).
//! A statement that succeeded releases the savepoint ([`RELEASE_SAVEPOINT_SQL`]).
//! Stream versions stay gap-free: the rolled-back attempt leaves nothing but consumed
//! sequence values, and the retry numbers its events after the versions committed.
//!
//! On a connection outside a transaction block each statement is a transaction of its
//! own and a failed one rolls back alone: the savepoint statements fail with SQLSTATE
//! 25P01 ([`is_outside_transaction_code`]), which a driver ignores, and the retry needs
//! nothing rolled back.

use eventstore_core::{AppendOptions, OnDuplicate};

use crate::batch::UniqueViolation;

/// Starts the savepoint an append that skips duplicates runs in.
pub const SAVEPOINT_SQL: &str = "SAVEPOINT eventstore_append";

/// Rolls back to the savepoint, after the append statement failed in it.
pub const ROLLBACK_TO_SAVEPOINT_SQL: &str = "ROLLBACK TO SAVEPOINT eventstore_append";

/// Releases the savepoint, after the append statement succeeded in it.
pub const RELEASE_SAVEPOINT_SQL: &str = "RELEASE SAVEPOINT eventstore_append";

/// Whether an append inside a caller's transaction runs in the savepoint: only when it
/// skips duplicates (other appends take no extra round trip).
pub fn in_savepoint(options: &AppendOptions) -> bool {
    options.duplicate_policy() == OnDuplicate::Skip
}

/// Whether an append that failed with `violation` in the savepoint is rolled back to it
/// and run once more: a `(source, id)` committed by a concurrent transaction, which the
/// new statement can skip, unless it is the one the attempt before failed on
/// (`previous`): then the new snapshot did not see it (REPEATABLE READ or
/// SERIALIZABLE) and no retry would. Each retry that goes on has skipped one more
/// event, so an append retries at most once per event of its batch. A stream version
/// taken meanwhile is a conflict, as without the savepoint.
#[must_use]
pub fn retries_after(violation: &UniqueViolation, previous: Option<&UniqueViolation>) -> bool {
    violation.on_source_id() && previous != Some(violation)
}

/// Whether a SQLSTATE is the failure of a savepoint statement outside a transaction
/// block (25P01), where none is needed: for drivers to ignore.
pub fn is_outside_transaction_code(sqlstate: &str) -> bool {
    sqlstate == "25P01"
}
