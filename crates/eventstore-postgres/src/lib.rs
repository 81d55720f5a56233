//! The PostgreSQL backend of [eventstore-sql](https://docs.rs/eventstore-sql): a
//! CloudEvents store that many processes on many machines share through one
//! PostgreSQL server.
//!
//! ```no_run
//! use eventstore_core::{Event, EventQuery, EventStore};
//! use eventstore_postgres::PostgresEventStore;
//! use futures::TryStreamExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> eventstore_core::Result<()> {
//! let store = PostgresEventStore::open_url("postgres://postgres@127.0.0.1/postgres").await?;
//! let event = Event::builder()
//!     .id("1")
//!     .source("/shop")
//!     .ty("order.created")
//!     .subject("order-1")
//!     .build()?;
//! store.append(vec![event]).await?;
//! let events: Vec<_> = store.query(EventQuery::new().subject("order-1")).try_collect().await?;
//! assert_eq!(events[0].stream_version(), Some(1));
//! # Ok(()) }
//! ```
//!
//! Design notes: an append is one statement (one round trip) over array parameters;
//! reads stream rows on a pooled connection; followers of the global order (queries
//! with `after`) stop at the safe sequence [`horizon`](horizon()), so they never skip
//! an event that commits late with a smaller sequence; migrations run under an advisory
//! lock; [`PostgresEventStore::import`] loads events with binary `COPY`.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod append_sql;
mod attempt;
mod batch;
mod checkout;
mod columns;
mod connect;
mod contention;
mod coordination;
mod dialect;
mod error;
mod horizon;
mod import;
mod keys;
mod listen;
mod options;
mod read;
#[cfg(feature = "tls")]
mod rustls;
mod savepoint;
mod schema;
pub mod statements;
mod store;
mod tls;
mod transact;
mod types;
mod url;
mod write;

pub use deadpool_postgres;
pub use dialect::PostgresDialect;
pub use eventstore_core::ImportResult;
pub use horizon::horizon;
pub use options::PostgresOptions;
pub use schema::SCHEMA_VERSION;
pub use store::PostgresEventStore;
pub use tls::{TlsMode, TlsOptions};
pub use tokio_postgres;
pub use transact::{BoxError, PostgresWork};
