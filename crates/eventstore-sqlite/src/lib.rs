//! The SQLite backend of [eventstore-sql](https://docs.rs/eventstore-sql): a CloudEvents
//! store in one file (or in memory), no server needed.
//!
//! ```
//! use eventstore_core::{Event, EventQuery, EventStore};
//! use eventstore_sqlite::SqliteEventStore;
//! use futures::TryStreamExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> eventstore_core::Result<()> {
//! let store = SqliteEventStore::open_in_memory().await?;
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
//! Design notes: short database work (point reads such as `get`, appends, `transact`,
//! checkpoint writes) runs on the calling thread through
//! [`block_in_place`](tokio::task::block_in_place) on a multi-thread runtime, and on
//! tokio's blocking pool otherwise; long work (paged reads, imports, migrations) always
//! runs on the blocking pool; appends are serialized
//! through one writer connection in `BEGIN IMMEDIATE` transactions (SQLite allows one
//! writer at a time, and queueing in-process beats spinning on the file lock); reads
//! come from an r2d2 pool of reader connections and are streamed in keyset pages; the
//! write-ahead log is checkpointed on a thread of the store's own, off the appends'
//! path ([`SqliteOptions::wal_autocheckpoint`]).

mod checkpointer;
mod coordination;
mod dialect;
mod error;
mod import;
mod options;
mod read;
mod rows;
mod schema;
mod store;
mod write;

pub use dialect::SqliteDialect;
pub use import::IMPORT_CACHE_KIB;
pub use options::SqliteOptions;
/// The rusqlite this backend links: `SqliteEventStore::append_in` takes its
/// `Connection` (or a `Transaction` of it). A build holds one SQLite library only, so
/// use this re-export rather than a `rusqlite` dependency of your own that may differ.
pub use rusqlite;
pub use schema::SCHEMA_VERSION;
pub use store::{BoxError, SqliteEventStore, SqliteWork};
