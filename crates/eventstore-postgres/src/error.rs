//! Turning driver errors into the store's [`Error`].

use eventstore_core::Error;
use tokio_postgres::error::SqlState;

use crate::batch::UniqueViolation;

/// Wraps a tokio-postgres or pool error as [`Error::Database`].
pub(crate) fn db(error: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::database(error)
}

/// The constraint a unique violation (SQLSTATE 23505) broke, if `error` is one.
pub(crate) fn unique_violation(error: &tokio_postgres::Error) -> Option<UniqueViolation> {
    let db = error.as_db_error()?;
    if db.code() != &SqlState::UNIQUE_VIOLATION {
        return None;
    }
    Some(UniqueViolation::new(db.constraint(), db.detail()))
}
