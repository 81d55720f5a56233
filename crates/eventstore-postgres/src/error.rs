//! Turning driver errors into the store's [`Error`].

use eventstore_core::Error;
use tokio_postgres::error::SqlState;

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
    Some(UniqueViolation {
        constraint: db.constraint().unwrap_or_default().to_owned(),
        key: db.detail().and_then(key_values).unwrap_or_default(),
    })
}

/// A unique violation: which constraint, and the key values the server reported.
#[derive(Debug, Clone, Default)]
pub(crate) struct UniqueViolation {
    pub(crate) constraint: String,
    pub(crate) key: Vec<String>,
}

/// The values of `Key (a, b)=(x, y) already exists.`; best effort (values containing
/// ", " are split wrongly), used only to name the event in an error message.
fn key_values(detail: &str) -> Option<Vec<String>> {
    let start = detail.find(")=(")? + 3;
    let end = detail.rfind(") already exists")?;
    Some(
        detail
            .get(start..end)?
            .split(", ")
            .map(str::to_owned)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::key_values;

    #[test]
    fn reads_the_key_of_a_detail() {
        assert_eq!(
            key_values("Key (source, id)=(/a, 1) already exists.").unwrap(),
            ["/a", "1"]
        );
    }
}
