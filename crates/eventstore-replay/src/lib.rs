//! Replay, live subscriptions, projections and snapshots for
//! [eventstore-sql](https://docs.rs/eventstore-sql), on every backend.
//!
//! - [`Replayer`]: events into a handler, in order — a subject's stream, a type from a
//!   time, any query — stopping at the first handler error with the event's sequence;
//!   [`Replayer::subscribe`] catches up and then follows live appends, gap-free.
//! - [`ProjectionRunner`]: read models kept current from durable checkpoints; with
//!   [`TransactionalProjection`], state in the store's database changes exactly once per
//!   event, in the same transaction as the checkpoint.
//! - Snapshots ([`Replayer::load`], [`Replayer::save_snapshot`]) and an [`Upcaster`] hook
//!   for old event shapes.
//!
//! ```
//! use std::sync::Arc;
//! use eventstore_core::{Event, EventStore};
//! use eventstore_replay::Replayer;
//! use eventstore_sqlite::SqliteEventStore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> eventstore_core::Result<()> {
//! let store = SqliteEventStore::open_in_memory().await?;
//! let event = |id: &str, ty: &str| Event::builder().id(id).source("/shop").ty(ty).subject("order-1").build();
//! store.append(vec![event("1", "order.created")?, event("2", "order.paid")?]).await?;
//!
//! let mut seen = Vec::new();
//! let replayer = Replayer::new(Arc::new(store));
//! replayer
//!     .replay_subject("order-1", |e| {
//!         seen.push(e.ty().to_owned());
//!         async { Ok::<_, std::convert::Infallible>(()) }
//!     })
//!     .await?;
//! assert_eq!(seen, ["order.created", "order.paid"]);
//! # Ok(()) }
//! ```

mod projection;
mod replayer;
mod upcast;

pub use projection::{
    BoxError, MAX_PROJECTION_NAME_BYTES, Projection, ProjectionReport, ProjectionRunner,
    TransactionalProjection,
};
pub use replayer::{ReplayStats, Replayer};
pub use upcast::Upcaster;
