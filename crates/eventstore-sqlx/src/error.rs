//! sqlx errors as the store's [`Error`].

use eventstore_core::Error;
use eventstore_postgres::statements::{UniqueViolation, is_timeout_code};
use sqlx::postgres::PgDatabaseError;

/// Wraps a sqlx error: [`Error::Timeout`] for the time-outs the PostgreSQL backend
/// reports as such ([`is_timeout_code`]) and a pool wait past its timeout,
/// [`Error::Database`] otherwise.
pub(crate) fn db(error: sqlx::Error) -> Error {
    let timed_out = match &error {
        sqlx::Error::PoolTimedOut => true,
        sqlx::Error::Database(e) => e
            .try_downcast_ref::<PgDatabaseError>()
            .is_some_and(|pg| is_timeout_code(pg.code())),
        _ => false,
    };
    if timed_out {
        Error::Timeout(Box::new(error))
    } else {
        Error::database(error)
    }
}

/// The unique violation (SQLSTATE 23505) `error` is, if it is one.
pub(crate) fn unique_violation(error: &sqlx::Error) -> Option<UniqueViolation> {
    let sqlx::Error::Database(e) = error else {
        return None;
    };
    let pg = e.try_downcast_ref::<PgDatabaseError>()?;
    (pg.code() == "23505").then(|| UniqueViolation::new(pg.constraint(), pg.detail()))
}
