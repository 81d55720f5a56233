//! The transactional outbox of [eventstore-sql](https://docs.rs/eventstore-sql): business
//! writes and their events commit in one transaction ([`TransactionalPublisher`]), and a
//! relay delivers what committed, in order, at least once ([`OutboxRelay`]).
//!
//! ```
//! use std::sync::Arc;
//! use eventstore_core::{Event, Sender, SendError, StoredEvent};
//! use eventstore_outbox::{OutboxRelay, TransactionalPublisher};
//! use eventstore_sqlite::{SqliteEventStore, SqliteWork};
//! use tokio_util::sync::CancellationToken;
//!
//! struct Print;
//! #[async_trait::async_trait]
//! impl Sender for Print {
//!     async fn send(&self, events: &[StoredEvent]) -> Result<(), SendError> {
//!         for e in events { println!("delivered {} {}", e.sequence(), e.ty()); }
//!         Ok(())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> eventstore_core::Result<()> {
//! let store = SqliteEventStore::open_in_memory().await?;
//! let publisher = TransactionalPublisher::new(store.clone());
//! let work: SqliteWork<i64> = Box::new(|tx| {
//!     tx.execute_batch("CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, total REAL)")?;
//!     tx.execute("INSERT INTO orders (total) VALUES (?1)", [42.0])?;
//!     let order = tx.last_insert_rowid();
//!     let event = Event::builder()
//!         .id(format!("order-{order}-created"))
//!         .source("/shop")
//!         .ty("order.created")
//!         .subject(format!("order-{order}"))
//!         .build()?;
//!     Ok((order, vec![event]))
//! });
//! let order = publisher.publish_with_tx(work).await?.value;
//!
//! let shutdown = CancellationToken::new();
//! let relay = OutboxRelay::new("printer", Arc::new(store), Arc::new(Print));
//! let stop = shutdown.clone();
//! tokio::spawn(async move {
//!     tokio::time::sleep(std::time::Duration::from_millis(200)).await;
//!     stop.cancel();
//! });
//! let stats = relay.run(shutdown).await?;
//! assert_eq!((order, stats.delivered), (1, 1));
//! # Ok(()) }
//! ```

mod publisher;
mod relay;
mod store_sender;

/// Re-exported from the core, where projections share it.
pub use eventstore_core::RetryPolicy;
pub use publisher::TransactionalPublisher;
pub use relay::{DeadLetterHandler, OnFailure, OutboxRelay, RelayStats, RelayStore};
pub use store_sender::EventStoreSender;
