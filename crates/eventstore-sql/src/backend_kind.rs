//! Which backend a database URL names, read from its scheme: the one place the schemes
//! are matched, for [`connect`](crate::connect) and for tools that open a backend
//! themselves.

use eventstore_core::{Error, Result};

use crate::redact_url;

/// The backend a database URL names, as [`from_url`](Self::from_url) reads it from the
/// URL's scheme. Each variant exists whichever features are enabled:
/// [`is_enabled`](Self::is_enabled) says whether this build has the backend.
///
/// ```
/// use eventstore_sql::BackendKind;
///
/// assert_eq!(BackendKind::from_url("SQLite::memory:")?, BackendKind::Sqlite);
/// assert_eq!(BackendKind::from_url("PostgreSQL://app@db/app")?, BackendKind::Postgres);
/// assert!(BackendKind::from_url("mysql://app:secret@db/app").is_err());
/// # Ok::<(), eventstore_sql::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// SQLite: `sqlite:` URLs.
    Sqlite,
    /// PostgreSQL: `postgres:` and `postgresql:` URLs.
    Postgres,
}

impl BackendKind {
    /// The backend `url`'s scheme names. Schemes are matched in any case, as RFC 3986
    /// §3.1 has them: `sqlite:`, `SQLite:`, `postgres:`, `PostgreSQL:`. Whether the
    /// backend was compiled in is not checked here ([`is_enabled`](Self::is_enabled)).
    ///
    /// A URL without a scheme, or whose scheme names no backend, is refused with
    /// [`Error::Config`] naming the scheme and quoting the URL as [`redact_url`] shows
    /// it, without its password.
    pub fn from_url(url: &str) -> Result<Self> {
        let expected = "expected sqlite://path/to/events.db or postgres://user@host/database";
        match scheme(url) {
            Some(s) if s.eq_ignore_ascii_case("sqlite") => Ok(Self::Sqlite),
            Some(s)
                if s.eq_ignore_ascii_case("postgres") || s.eq_ignore_ascii_case("postgresql") =>
            {
                Ok(Self::Postgres)
            }
            Some(s) => Err(Error::Config(format!(
                "unknown database URL {:?}: its scheme {s:?} names no backend; {expected}",
                redact_url(url)
            ))),
            None => Err(Error::Config(format!(
                "unknown database URL {:?}: it has no scheme; {expected}",
                redact_url(url)
            ))),
        }
    }

    /// The feature of eventstore-sql that brings the backend: `sqlite` or `postgres`.
    pub fn feature(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }

    /// Whether this build of eventstore-sql has the backend (its
    /// [`feature`](Self::feature), or `postgres-no-tls` for PostgreSQL).
    pub fn is_enabled(self) -> bool {
        match self {
            Self::Sqlite => cfg!(feature = "sqlite"),
            Self::Postgres => cfg!(feature = "postgres-no-tls"),
        }
    }
}

/// The scheme of `url`: the text before its first `:`, when that is a scheme as RFC 3986
/// §3.1 spells one (a letter, then letters, digits, `+`, `-` or `.`).
fn scheme(url: &str) -> Option<&str> {
    let (scheme, _) = url.split_once(':')?;
    let mut bytes = scheme.bytes();
    let first = bytes.next()?;
    (first.is_ascii_alphabetic()
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')))
    .then_some(scheme)
}
