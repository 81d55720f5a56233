//! The driver-independent pieces of the store's SQL, for appending and reading through
//! another PostgreSQL driver on the same schema (as eventstore-sqlx does with sqlx):
//! the statements' texts, their parameters as plain Rust values, and what their rows
//! mean. [`PostgresEventStore`](crate::PostgresEventStore) uses exactly these, so a
//! driver that binds them appends with the same semantics: same locks, same horizon,
//! same errors.
//!
//! An append inside a caller's transaction is, in order:
//!
//! 1. [`Batch::new`] over the events and options (it decides the expectations on
//!    subjects holding U+0000, which PostgreSQL's `text` cannot take);
//! 2. unless [`Batch::subjects`] is empty, [`lock_subjects_sql`] with
//!    `$1` = [`LockKeys::subject`] (`int4`) and `$2` = the subjects (`text[]`): the
//!    table's append lock, then each subject's lock (one exclusive append lock instead
//!    for a batch over [`MAX_SUBJECT_LOCKS`] subjects);
//! 3. [`append_sql`] with the 21 parameters of [`Batch::params`] (see
//!    [`AppendParams`]), at [`recorded_now`];
//! 4. its rows, as [`OutcomeRow`]s (`outcome` text, `n` int8, `stream_version` int8,
//!    `subject` text), through [`Batch::outcome`]; or, if the statement fails with
//!    SQLSTATE 23505 (a concurrent writer committed first), the
//!    [`UniqueViolation`]'s [`into_error`](UniqueViolation::into_error).
//!
//! Outside a transaction block each statement is a transaction of its own, so the
//! locks of step 2 end before step 3 runs: a batch whose step 3 failed with SQLSTATE
//! 23505, or with one [`is_transient_code`] accepts (a deadlock, a serialization
//! failure), rolled back alone and runs again, steps 2 and 3 in a transaction of its
//! own. Inside the caller's transaction such a failure has aborted it: report it.
//!
//! A batch that skips duplicates ([`in_savepoint`]) runs steps 2 and 3 in a savepoint:
//! [`SAVEPOINT_SQL`] before them; on a violation [`retries_after`] accepts,
//! [`ROLLBACK_TO_SAVEPOINT_SQL`] and steps 2 and 3 again, while each retry skips one
//! more event; [`RELEASE_SAVEPOINT_SQL`] after the append statement succeeded. Outside a transaction block the savepoint
//! statements fail with a SQLSTATE [`is_outside_transaction_code`] accepts: ignore it.
//!
//! The table a driver is given is [`qualified`] first (`public` when it names no
//! schema), as the store names its relations and locks whatever the `search_path`.
//!
//! Reads use the shared query builder of `eventstore_core::sql` with
//! [`PostgresDialect`](crate::PostgresDialect); a follower of the global order (a
//! query with `after`, ascending: [`follows`]) first bounds its query by the horizon
//! (`EventQuery::up_to`): the [`horizon_sql`] statement with [`horizon_param`], read
//! through [`horizon_from`]. A row of the event columns, read through the driver's
//! [`EventColumns`], becomes a `StoredEvent` with [`decode_event`].

pub use crate::append_sql::{
    MAX_SUBJECT_LOCKS, append_sql, current_version_sql, lock_subjects_sql,
};
pub use crate::attempt::{Attempt, MAX_ATTEMPTS};
pub use crate::batch::{AppendParams, Batch, LockKeys, OutcomeRow, UniqueViolation, recorded_now};
pub use crate::columns::{EventColumns, decode_event, time_column};
pub use crate::error::{is_timeout_code, is_transient_code};
pub use crate::horizon::{follows, horizon_from, horizon_param, horizon_sql};
pub use crate::keys::notify_channel;
pub use crate::read::planned_with_values;
pub use crate::savepoint::{
    RELEASE_SAVEPOINT_SQL, ROLLBACK_TO_SAVEPOINT_SQL, SAVEPOINT_SQL, in_savepoint,
    is_outside_transaction_code, retries_after,
};
pub use crate::schema::qualified;
