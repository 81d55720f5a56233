//! Append and read [CloudEvents](https://cloudevents.io) inside an application's own
//! [sqlx](https://docs.rs/sqlx) transactions, on the PostgreSQL schema of
//! [eventstore-sql](https://docs.rs/eventstore-sql): the business write and its events
//! commit together, or neither does (the transactional outbox).
//!
//! ```no_run
//! use eventstore_core::sql::TableName;
//! use eventstore_core::{AppendOptions, Event};
//! use eventstore_sqlx::SqlxEventStore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let url = "postgres://postgres@127.0.0.1/postgres";
//! // Once, at start-up: create or migrate the event table.
//! eventstore_postgres::PostgresOptions::from_url(url)?.open().await?;
//!
//! // `public.events`, where those default options put it.
//! let store = SqlxEventStore::new(TableName::new("events")?);
//! let pool = sqlx::PgPool::connect(url).await?;
//! let mut tx = pool.begin().await?;
//! sqlx::query("UPDATE accounts SET balance = balance - 10 WHERE id = 7")
//!     .execute(&mut *tx)
//!     .await?;
//! let event = Event::builder()
//!     .id("debit-1")
//!     .source("/bank")
//!     .ty("account.debited")
//!     .subject("account-7")
//!     .build()?;
//! store.append_in(&mut tx, vec![event], AppendOptions::new()).await?;
//! store.notify_in(&mut tx).await?; // wake followers at commit rather than at their next poll
//! tx.commit().await?;
//! # Ok(()) }
//! ```
//!
//! [`SqlxEventStore`] runs the PostgreSQL backend's own statements
//! (`eventstore_postgres::statements`): same subject locks, same horizon lock (so the
//! store's followers and outbox relays never skip an event committed through sqlx),
//! same typed errors. It is built with sqlx's PostgreSQL driver only.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod columns;
mod error;
mod store;

pub use sqlx;
pub use store::{EventStreamIn, SqlxEventStore};
