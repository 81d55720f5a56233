//! Turning driver errors into the store's [`Error`].

use deadpool_postgres::{PoolError, TimeoutType};
use eventstore_core::Error;
use tokio_postgres::error::SqlState;

use crate::batch::UniqueViolation;

/// Wraps a tokio-postgres or pool error: [`Error::Timeout`] for a statement cancelled
/// by `statement_timeout` (or a cancel request), a lock wait past `lock_timeout`, a pool
/// wait past its `wait_timeout` and a connection the pool could not open within its
/// `connect_timeout` (the TCP connection or the server's start-up exchange);
/// [`Error::Database`] otherwise.
pub(crate) fn db(error: impl std::error::Error + Send + Sync + 'static) -> Error {
    if is_timeout(&error) {
        Error::Timeout(Box::new(error))
    } else {
        Error::database(error)
    }
}

fn is_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    if let Some(pool) = error.downcast_ref::<PoolError>() {
        return match pool {
            // Waiting for a free connection, opening one, or checking one before lending
            // it: nothing of the call has reached the server.
            PoolError::Timeout(TimeoutType::Wait | TimeoutType::Create | TimeoutType::Recycle) => {
                true
            }
            // Opening a connection: tokio-postgres reports its own `connect_timeout` as
            // an I/O error of kind `TimedOut`. Only here, where nothing was sent yet: the
            // same error on a connection in use is a lost connection, whose statement
            // may have committed.
            PoolError::Backend(e) => is_timeout(e) || connect_timed_out(e),
            _ => false,
        };
    }
    error
        .downcast_ref::<tokio_postgres::Error>()
        .and_then(tokio_postgres::Error::code)
        .is_some_and(|code| is_timeout_code(code.code()))
}

/// Whether `error` was caused by an I/O time-out (tokio-postgres's `connect_timeout`).
fn connect_timed_out(error: &tokio_postgres::Error) -> bool {
    let mut cause = std::error::Error::source(error);
    while let Some(error) = cause {
        if error
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        cause = error.source();
    }
    false
}

/// Whether a SQLSTATE is a time-out the store reports as [`Error::Timeout`]: a
/// statement cancelled by `statement_timeout` or a cancel request (57014), a lock wait
/// past `lock_timeout` (55P03). For other drivers on the same statements.
pub fn is_timeout_code(sqlstate: &str) -> bool {
    sqlstate == SqlState::QUERY_CANCELED.code() || sqlstate == SqlState::LOCK_NOT_AVAILABLE.code()
}

/// Whether a SQLSTATE ends a transaction for another's sake, so that running it again
/// may succeed: a serialization failure (40001, as under a `default_transaction_isolation`
/// of `serializable`) or a deadlock the server broke by ending this side of it (40P01,
/// as between two batches that hold each other's `(source, id)`). For other drivers on
/// the same statements.
pub fn is_transient_code(sqlstate: &str) -> bool {
    sqlstate == SqlState::T_R_SERIALIZATION_FAILURE.code()
        || sqlstate == SqlState::T_R_DEADLOCK_DETECTED.code()
}

/// Whether `error` is one [`is_transient_code`] accepts.
pub(crate) fn is_transient(error: &tokio_postgres::Error) -> bool {
    error
        .code()
        .is_some_and(|code| is_transient_code(code.code()))
}

/// The constraint a unique violation (SQLSTATE 23505) broke, if `error` is one.
pub(crate) fn unique_violation(error: &tokio_postgres::Error) -> Option<UniqueViolation> {
    let db = error.as_db_error()?;
    if db.code() != &SqlState::UNIQUE_VIOLATION {
        return None;
    }
    Some(UniqueViolation::new(db.constraint(), db.detail()))
}
