//! # eventstore-sql
//!
//! A SQL event store for [CloudEvents](https://cloudevents.io): append events
//! atomically, query them by any attribute, read a subject's stream, and stream results
//! of any size with bounded memory — on embedded SQLite (the default `sqlite` feature)
//! or PostgreSQL (the `postgres` feature), behind the same [`EventStore`] trait.
//!
//! ```
//! use eventstore_sql::{Event, EventQuery, EventStore, SqliteEventStore};
//! use futures::TryStreamExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> eventstore_sql::Result<()> {
//! let store = SqliteEventStore::open_in_memory().await?;
//! let created = Event::builder()
//!     .id("order-1-created")
//!     .source("/shop/orders")
//!     .ty("com.example.order.created")
//!     .subject("order-1")
//!     .json(&serde_json::json!({ "total": 42 }))
//!     .build()?;
//! store.append(vec![created]).await?;
//!
//! let stream: Vec<_> = store.stream("order-1", 1).try_collect().await?;
//! assert_eq!(stream[0].ty(), "com.example.order.created");
//! let found = store.get("/shop/orders", "order-1-created").await?;
//! assert!(found.is_some());
//! let recent: Vec<_> =
//!     store.query(EventQuery::new().ty("com.example.order.created").limit(10)).try_collect().await?;
//! assert_eq!(recent.len(), 1);
//! # Ok(()) }
//! ```
//!
//! ## Features
//!
//! | feature  | default | brings |
//! |----------|---------|--------|
//! | `sqlite` | yes     | `SqliteEventStore`: rusqlite with bundled SQLite |
//! | `postgres` | no    | `PostgresEventStore`: tokio-postgres and deadpool, TLS with rustls |
//! | `postgres-no-tls` | no | the same without TLS support |
//! | `outbox` | no      | the `outbox` module: `TransactionalPublisher`, `OutboxRelay` |
//! | `replay` | no      | `replay`: `Replayer`, subscriptions, `ProjectionRunner`, snapshots |
//! | `sqlx`   | no      | `sqlx_store`: `SqlxEventStore`, appending and reading inside your `sqlx` transactions (Rust 1.94) |
//! | `cloudevents-sdk` | no | `sdk`: conversions to and from the CloudEvents SDK's `cloudevents::Event` |
//!
//! Choose the backend at run time from a URL with [`connect`], or with [`BackendKind`]
//! where you need the backend's own type (an outbox relay, docs/outbox.md).

#![cfg_attr(docsrs, feature(doc_cfg))]

/// The README's example compiles (it is `no_run`: it would write `events.db`).
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;

/// The Rust examples of docs/outbox.md compile (`no_run`: they need a database).
#[cfg(all(doctest, feature = "sqlite", feature = "outbox", feature = "sqlx"))]
#[doc = include_str!("../../../docs/outbox.md")]
struct OutboxDocDoctests;

/// The Rust examples of docs/projections.md compile (`no_run`: they need a database).
#[cfg(all(doctest, feature = "sqlite", feature = "replay"))]
#[doc = include_str!("../../../docs/projections.md")]
struct ProjectionsDocDoctests;

use std::sync::Arc;

pub use eventstore_core::*;

mod backend_kind;

pub use backend_kind::BackendKind;

/// The SQLite backend.
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub mod sqlite {
    pub use eventstore_sqlite::*;
}

#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use eventstore_sqlite::{SqliteEventStore, SqliteOptions, SqliteWork};

/// Replay, live subscriptions, projections and snapshots.
#[cfg(feature = "replay")]
#[cfg_attr(docsrs, doc(cfg(feature = "replay")))]
pub mod replay {
    pub use eventstore_replay::*;
}

/// The transactional outbox: publish events with business writes, relay them.
#[cfg(feature = "outbox")]
#[cfg_attr(docsrs, doc(cfg(feature = "outbox")))]
pub mod outbox {
    pub use eventstore_outbox::*;
}

/// The PostgreSQL backend.
#[cfg(feature = "postgres-no-tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub mod postgres {
    pub use eventstore_postgres::*;
}

#[cfg(feature = "postgres-no-tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use eventstore_postgres::{PostgresEventStore, PostgresOptions};

/// Appending and reading inside an application's sqlx transactions, on the PostgreSQL
/// schema: the business write and its events commit together.
#[cfg(feature = "sqlx")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlx")))]
pub mod sqlx_store {
    pub use eventstore_sqlx::*;
}

#[cfg(feature = "sqlx")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlx")))]
pub use eventstore_sqlx::SqlxEventStore;

/// Opens the store a URL names, with default options: `sqlite://path/to/events.db`,
/// `sqlite::memory:`, `postgres://user@host/database?sslmode=require`. The scheme is
/// matched in any case (`SQLite:`, `PostgreSQL://`), as [`BackendKind::from_url`] reads
/// it. A scheme whose backend was not compiled in is refused with [`Error::Config`]
/// naming the feature to enable; an unknown scheme with an `Error::Config` that names it
/// and quotes the URL as [`redact_url`] shows it, without its password.
pub async fn connect(url: &str) -> Result<Arc<dyn EventStore>> {
    match BackendKind::from_url(url)? {
        #[cfg(feature = "sqlite")]
        BackendKind::Sqlite => Ok(Arc::new(SqliteEventStore::open_url(url).await?)),
        #[cfg(feature = "postgres-no-tls")]
        BackendKind::Postgres => Ok(Arc::new(PostgresEventStore::open_url(url).await?)),
        // Reached only for a backend left out of this build.
        #[allow(unreachable_patterns)]
        kind => Err(Error::Config(format!(
            "{}: URLs need the `{}` feature of eventstore-sql",
            kind.feature(),
            kind.feature()
        ))),
    }
}

/// `url` as it may be shown in a message or a log: a password in its user information
/// (`scheme://user:password@host…`) and the value of a `password` query parameter
/// (`?password=…`, which tokio-postgres reads too, also when its name is
/// percent-encoded: `?pass%77ord=…`) replaced by `***`. Parameter names are compared in
/// any case: tokio-postgres refuses `?PASSWORD=…` as an unknown option, but a mistyped
/// URL in a log holds a password all the same. What is not a URL
/// with an authority (a SQLite path, `sqlite::memory:`) and a `sqlite:` URL, which holds
/// no credentials, come back unchanged.
///
/// The user information ends at the last `@` before the host part, so a password
/// written with an unescaped `@`, `/`, `:` or `?` is hidden whole. The host part starts
/// after the last `@` that comes before the query (`?`) or fragment (`#`) following the
/// first `@`, so an `@` in the query (`?application_name=a@b`) is shown as written; the
/// query is the text after the first `?` or `#` that follows the user information (the
/// whole URL's when it has none), and its `password` is hidden wherever its `@`s are.
/// A password holding an unescaped `@` followed later by `?` or `#` cannot be told
/// from such a query: write reserved characters percent-encoded, as URLs require.
///
/// ```
/// use eventstore_sql::redact_url;
///
/// assert_eq!(redact_url("postgres://app:p@ss@db/app"), "postgres://app:***@db/app");
/// assert_eq!(redact_url("postgres://app@db/app?password=x"), "postgres://app@db/app?password=***");
/// assert_eq!(redact_url("postgres://db/app?pass%77ord=x"), "postgres://db/app?pass%77ord=***");
/// assert_eq!(redact_url("sqlite://data/events.db"), "sqlite://data/events.db");
/// ```
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    if scheme.eq_ignore_ascii_case("sqlite") {
        return url.to_owned();
    }
    let (authority_and_path, query) = split_query(rest);
    let mut shown = format!("{scheme}://");
    let after_userinfo = match authority_and_path.rsplit_once('@') {
        // A user name holds no `?` or `#`: text before the `:` that does is a path and
        // query whose `@` and `:` are the query's (`db/app?application_name=a:b@c`).
        Some((userinfo, host_part)) => match userinfo.split_once(':') {
            Some((user, password)) if !is_port(password) && !user.contains(['?', '#']) => {
                shown.push_str(user);
                shown.push_str(":***@");
                host_part
            }
            _ => authority_and_path,
        },
        None => authority_and_path,
    };
    // A query `split_query` left in (an `@` in it, and none before it) starts at the
    // first `?` or `#` after the user information.
    let rest = format!("{after_userinfo}{query}");
    let (path, query) = rest.split_at(rest.find(['?', '#']).unwrap_or(rest.len()));
    shown.push_str(path);
    shown.push_str(&redact_query(query));
    shown
}

/// Splits what follows `scheme://` before its query or fragment: the first `?` or `#`
/// after the first `@` (one before it is taken as part of a password), or after the
/// start when there is no `@`.
fn split_query(rest: &str) -> (&str, &str) {
    let from = rest.find('@').unwrap_or(0);
    match rest[from..].find(['?', '#']) {
        Some(at) => rest.split_at(from + at),
        None => (rest, ""),
    }
}

/// Whether the text after the first `:` of what looked like user information is a port
/// followed by a path, query or fragment (`host:5432/db?user=a@b`: the `@` was the
/// query's), not a password.
fn is_port(text: &str) -> bool {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && matches!(text.as_bytes().get(digits), Some(b'/' | b'?' | b'#'))
}

/// A query (`?a=1&password=x#f`, or empty) with the value of each `password` parameter
/// replaced by `***`.
fn redact_query(query: &str) -> String {
    let mut shown = String::with_capacity(query.len());
    for (i, parameter) in query.split('&').enumerate() {
        if i > 0 {
            shown.push('&');
        }
        let name_end = parameter.find('=').unwrap_or(parameter.len());
        let name = parameter[..name_end].trim_start_matches(['?', '#']);
        if is_password(name) && name_end < parameter.len() {
            shown.push_str(&parameter[..=name_end]);
            shown.push_str("***");
        } else {
            shown.push_str(parameter);
        }
    }
    shown
}

/// Whether a query parameter's name, as written in the URL, names a password:
/// `password` once percent-decoded as tokio-postgres decodes it (`pass%77ord`), in any
/// case. tokio-postgres (as libpq) matches the name with its case and refuses
/// `PASSWORD` as an unknown option, but a URL shown in a log may be a mistyped one:
/// hiding errs towards hiding.
fn is_password(name: &str) -> bool {
    let decoded: Vec<u8> = percent_encoding::percent_decode_str(name).collect();
    decoded.eq_ignore_ascii_case(b"password")
}
