//! The core of [eventstore-sql](https://docs.rs/eventstore-sql): the CloudEvents 1.0
//! event model with its validation and JSON format, the [`EventStore`] trait, the query
//! model, and the SQL query builder the backends share. No database client lives here.
//!
//! ```
//! use eventstore_core::{Event, EventQuery, JsonFormat};
//!
//! let event = Event::builder()
//!     .id("1")
//!     .source("/shop/orders")
//!     .ty("com.example.order.created")
//!     .subject("order-1")
//!     .json(&serde_json::json!({ "items": 3 }))
//!     .build()?;
//! let json = JsonFormat::new().write_event(&event);
//! assert_eq!(json.parse::<Event>()?, event);
//!
//! let query = EventQuery::new().subject("order-1").limit(10);
//! # let _ = query;
//! # Ok::<(), eventstore_core::Error>(())
//! ```
//!
//! With the `cloudevents-sdk` feature, the `sdk` module converts events to and from the
//! CloudEvents SDK's `cloudevents::Event`.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod append;
mod coordination;
mod data;
mod error;
mod event;
mod extension;
mod follow;
mod format;
mod import;
mod json_check;
mod json_eq;
mod lease;
mod limits;
mod packed;
mod query;
mod retry;
#[cfg(feature = "cloudevents-sdk")]
#[cfg_attr(docsrs, doc(cfg(feature = "cloudevents-sdk")))]
pub mod sdk;
mod sender;
pub mod sql;
mod store;
mod stored;
pub mod timestamp;
mod tx;
pub mod validate;

pub use append::{
    AppendOptions, AppendResult, AppendedEvent, ExpectedVersion, OnDuplicate, SkippedEvent,
};
pub use coordination::{
    CheckpointStore, DeadLetter, DeadLetterStore, LeaseStore, MAX_LEASE_TTL, Snapshot,
    SnapshotStore,
};
pub use data::{Data, Json, MAX_JSON_DEPTH};
pub use error::{Error, Result, Rule, ValidationError};
pub use event::{Event, EventBuilder, SPEC_VERSION, TEXT_CONTENT_TYPE};
pub use extension::{ExtensionType, ExtensionValue};
pub use follow::{CommitSignal, Horizon, Position, Wakeups, follow};
pub use format::JsonFormat;
pub use import::{ImportChunks, ImportResult, StreamVersions};
pub use lease::{Interrupted, Lease, MIN_LEASE_TTL};
pub use limits::Limits;
pub use query::{EventQuery, Order};
pub use retry::RetryPolicy;
pub use sender::{SendError, Sender, Unavailable};
pub use store::{EventStore, EventStream};
pub use stored::StoredEvent;
pub use tx::{CheckpointMove, Transacted, TransactionalStore, check_transaction};

/// Re-exported so that users name the same time type the store uses.
pub use time;

/// Re-exported so that a [`Sender`], or a replay `Projection`, is implemented with
/// `#[eventstore_sql::async_trait]` without a dependency of your own.
pub use async_trait::async_trait;

/// Re-exported: the token that stops an outbox relay, a projection runner or a lease's
/// work, the very type their `run` takes, without a `tokio-util` dependency of your own.
pub use tokio_util::sync::CancellationToken;
