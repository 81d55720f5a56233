//! The safe sequence horizon: how far a follower of the global order may read without
//! ever skipping an event that commits later with a smaller sequence.
//!
//! Every append takes, inside its insert statement and before its first `nextval`, a
//! shared transaction-scoped advisory lock whose key carries `v`, the sequence's
//! `last_value` at that moment (see [`crate::append_sql`]); the lock is held until the
//! transaction ends. Every sequence the transaction takes is greater than `v`.
//!
//! A follower reads, in one statement and in this order, the head `H` (the sequence's
//! `last_value`) and then the locks in `pg_locks`. The horizon is the smallest `v`
//! held, or `H` when none is. Proof sketch that no event at or below the horizon can
//! commit after the follower has computed it:
//!
//! - a writer whose lock was seen takes sequences above its `v`, so above the horizon;
//! - a writer whose lock was not seen either ended before the scan (its events are
//!   committed, or rolled back, and visible to any later snapshot, because PostgreSQL
//!   releases a transaction's locks after making its commit visible) or took its lock
//!   after the scan, hence its `nextval` after the scan, hence after `H` was read: its
//!   sequences are above `H`.
//!
//! So a follower reads `sequence <= horizon` in a *later statement* (a new snapshot:
//! READ COMMITTED, or autocommit), and never needs a global write lock. Ordering by
//! sequence keeps each subject in stream-version order, since a stream version is only
//! taken after the previous one committed (the unique index on `(subject,
//! stream_version)` refuses it otherwise).
//!
//! The lock key is 64 bits: the high 32 are the store's namespace (see
//! [`crate::keys`]), the low 32 bits of `v`. The full `v` is recovered as the largest
//! value at or below `H` with those low bits, which is exact while no append stays in
//! flight for 2^31 sequence values.

use std::sync::atomic::{AtomicI64, Ordering::Relaxed};

use deadpool_postgres::Object;
use eventstore_core::sql::TableName;
use eventstore_core::{Error, EventQuery, Horizon, Order, Result};
use tokio_postgres::GenericClient;

use crate::error::db;
use crate::keys::horizon_class;
use crate::schema::sequence_name;

/// The namespace of `table`'s horizon locks, shifted into the high 32 bits of a key.
pub(crate) fn lock_base(table: &TableName) -> i64 {
    (u64::from(horizon_class(table)) << 32) as i64
}

/// The horizon statement for `table`: `$1` is the lock namespace as `pg_locks.classid`
/// (see [`horizon_param`]); one row, the head and the safe horizon (both `int8`), to
/// pass to [`horizon_from`].
pub fn horizon_sql(table: &TableName) -> String {
    format!(
        "SELECT h.head, h.head - COALESCE((
            SELECT max(d) FROM (
                SELECT ((h.head & 4294967295) - l.objid::int8 + 4294967296) % 4294967296 AS d
                FROM pg_locks l
                WHERE l.locktype = 'advisory' AND l.objsubid = 1
                    AND l.classid = $1::int8::oid
                    AND l.database = (SELECT oid FROM pg_database
                                      WHERE datname = current_database())
            ) lags WHERE d < 2147483648), 0)
        FROM (SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END AS head
              FROM {}) h",
        sequence_name(table)
    )
}

/// Whether `query` follows the global order (from a position on, `after`, ascending)
/// and so must be bounded by the horizon (`EventQuery::up_to`). Plain queries need no
/// horizon, and neither does one the caller already bounded with
/// `EventQuery::within_horizon` (bounding it again by a later, possibly lower horizon
/// would leave out what the caller then moves past).
pub fn follows(query: &EventQuery) -> bool {
    query.after_value().is_some()
        && query.order_value() == Order::Ascending
        && !query.is_within_horizon()
}

/// The horizon statement's `$1` for `table` (`int8`).
pub fn horizon_param(table: &TableName) -> i64 {
    i64::from(horizon_class(table))
}

/// The [`Horizon`] of the horizon statement's row, checked.
pub fn horizon_from(head: i64, safe: i64) -> Result<Horizon> {
    if safe > head {
        return Err(Error::database("horizon above the head"));
    }
    Ok(Horizon { head, safe })
}

/// Computes the horizon of `table` on `client` (a pooled client, or a transaction the
/// caller holds). Read events up to [`Horizon::safe`] in a later statement, with a
/// snapshot taken after this one: READ COMMITTED (PostgreSQL's default), not
/// REPEATABLE READ or SERIALIZABLE, whose transactions read with their first snapshot:
/// an event at or below the horizon that committed since would be skipped.
pub async fn horizon(client: &impl GenericClient, table: &TableName) -> Result<Horizon> {
    let row = client
        .query_one(&horizon_sql(table), &[&horizon_param(table)])
        .await
        .map_err(db)?;
    horizon_from(row.get(0), row.get(1))
}

/// The highest safe horizon a store has computed. A horizon stays safe once computed
/// (every event at or below it had committed or would never commit), so the highest
/// one seen is safe too, though a horizon computed later can be lower (see
/// [`EventQuery::within_horizon`]): the store reports this one, so that its horizons
/// never go back, and bounds keyset pages by it without a round trip (see
/// [`crate::read`]).
#[derive(Debug, Default)]
pub(crate) struct KnownHorizon(AtomicI64);

impl KnownHorizon {
    /// The highest safe horizon seen (0 before any).
    pub(crate) fn get(&self) -> i64 {
        self.0.load(Relaxed)
    }

    /// Records a safe horizon just computed; returns the highest seen.
    fn raise(&self, safe: i64) -> i64 {
        self.0.fetch_max(safe, Relaxed).max(safe)
    }
}

/// [`horizon`] on a pooled connection, with the statement prepared once per connection
/// (followers compute a horizon for every page they read); its safe horizon is the
/// highest `known` has seen.
pub(crate) async fn pooled_horizon(
    client: &Object,
    table: &TableName,
    known: &KnownHorizon,
) -> Result<Horizon> {
    let statement = client
        .prepare_cached(&horizon_sql(table))
        .await
        .map_err(db)?;
    let row = client
        .query_one(&statement, &[&horizon_param(table)])
        .await
        .map_err(db)?;
    let computed = horizon_from(row.get(0), row.get(1))?;
    Ok(Horizon {
        head: computed.head,
        safe: known.raise(computed.safe),
    })
}
