//! Upcasting: old event shapes turned into current ones as they are read.

use std::sync::Arc;

use eventstore_core::{EventStream, Result, StoredEvent};
use futures::StreamExt as _;

/// Turns an event of an old shape into the current one (a renamed type, a new field with
/// a default, a restructured payload), or returns it unchanged. Applied on read by the
/// [`Replayer`](crate::Replayer), subscriptions and projections; the stored event is
/// never changed.
pub type Upcaster = Arc<dyn Fn(StoredEvent) -> Result<StoredEvent> + Send + Sync>;

/// Applies `upcaster` to every event of `stream`.
pub(crate) fn upcast(stream: EventStream, upcaster: Option<Upcaster>) -> EventStream {
    match upcaster {
        None => stream,
        Some(upcaster) => stream
            .map(move |event| event.and_then(|e| upcaster(e)))
            .boxed(),
    }
}
