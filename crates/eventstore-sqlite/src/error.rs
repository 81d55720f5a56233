//! Turning driver errors into the store's [`Error`].

use eventstore_core::Error;

/// Wraps a rusqlite or r2d2 error as [`Error::Database`].
pub(crate) fn db(error: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::database(error)
}

/// Turns a failed blocking task into an error (a panic in it is re-raised).
pub(crate) fn joined<T>(
    result: Result<eventstore_core::Result<T>, tokio::task::JoinError>,
) -> eventstore_core::Result<T> {
    match result {
        Ok(inner) => inner,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(Error::database(e)),
    }
}
