//! sqlx errors as the store's [`Error`].

use eventstore_core::Error;
use eventstore_postgres::statements::UniqueViolation;
use sqlx::postgres::PgDatabaseError;

/// Wraps a sqlx error as [`Error::Database`].
pub(crate) fn db(error: sqlx::Error) -> Error {
    Error::database(error)
}

/// The unique violation (SQLSTATE 23505) `error` is, if it is one.
pub(crate) fn unique_violation(error: &sqlx::Error) -> Option<UniqueViolation> {
    let sqlx::Error::Database(e) = error else {
        return None;
    };
    let pg = e.try_downcast_ref::<PgDatabaseError>()?;
    (pg.code() == "23505").then(|| UniqueViolation::new(pg.constraint(), pg.detail()))
}
