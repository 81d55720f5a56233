//! Turning driver errors into the store's [`Error`].

use eventstore_core::Error;

/// Wraps a rusqlite or r2d2 error: [`Error::Timeout`] when another connection held the
/// lock past the busy timeout (`SQLITE_BUSY`), [`Error::Database`] otherwise.
pub(crate) fn db(error: impl std::error::Error + Send + Sync + 'static) -> Error {
    let busy = (&error as &(dyn std::error::Error + 'static))
        .downcast_ref::<rusqlite::Error>()
        .is_some_and(is_busy);
    if busy {
        Error::Timeout(Box::new(error))
    } else {
        Error::database(error)
    }
}

/// [`db`] for the first statements on a file being opened, where `SQLITE_NOTADB` (a file
/// that is not a SQLite database) is the caller's configuration: [`Error::Config`],
/// naming the file.
pub(crate) fn opening(path: &std::path::Path) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |error| {
        if error.sqlite_error_code() == Some(rusqlite::ErrorCode::NotADatabase) {
            Error::Config(format!("{path:?} is not a SQLite database: {error}"))
        } else {
            db(error)
        }
    }
}

/// The same as [`db`] for an error several waiters share (a group commit's): each gets
/// its own copy of the message.
pub(crate) fn db_shared(error: &rusqlite::Error) -> Error {
    let message = error.to_string();
    if is_busy(error) {
        Error::Timeout(message.into())
    } else {
        Error::database(message)
    }
}

/// Whether SQLite reported a lock it could not take (`SQLITE_BUSY`).
pub(crate) fn is_busy(error: &rusqlite::Error) -> bool {
    error.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
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
