//! The demo's readers that follow the store: a projection and a relay.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Result, bail};
use eventstore_sql::replay::{BoxError, Projection};
use eventstore_sql::{EventQuery, SendError, Sender, StoredEvent};
use tokio_util::sync::CancellationToken;

/// Each order's latest status, kept in memory, from the events of one demo run.
pub(crate) struct OrderStatus {
    name: String,
    filter: EventQuery,
    state: Arc<Mutex<Statuses>>,
}

/// What the projection has built.
#[derive(Debug, Default, Clone)]
pub(crate) struct Statuses {
    /// Each order's status.
    pub(crate) orders: BTreeMap<String, String>,
    /// Events applied.
    pub(crate) applied: u64,
}

impl Statuses {
    /// How many orders are in each status, e.g. `placed 1, paid 1, shipped 1`.
    pub(crate) fn summary(&self) -> String {
        let mut counts: BTreeMap<&str, u32> = BTreeMap::new();
        for status in self.orders.values() {
            *counts.entry(status).or_default() += 1;
        }
        let parts: Vec<String> = counts.iter().map(|(s, n)| format!("{s} {n}")).collect();
        parts.join(", ")
    }
}

impl OrderStatus {
    /// The projection `name` over the events `filter` matches, and a handle on its state.
    pub(crate) fn new(name: String, filter: EventQuery) -> (Self, Arc<Mutex<Statuses>>) {
        let state = Arc::new(Mutex::new(Statuses::default()));
        let projection = Self {
            name,
            filter,
            state: Arc::clone(&state),
        };
        (projection, state)
    }
}

#[async_trait::async_trait]
impl Projection for OrderStatus {
    fn name(&self) -> &str {
        &self.name
    }

    fn filter(&self) -> EventQuery {
        self.filter.clone()
    }

    async fn handle(&self, event: &StoredEvent) -> Result<(), BoxError> {
        let status = event.ty().rsplit('.').next().unwrap_or_default().to_owned();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(subject) = event.subject() {
            state.orders.insert(subject.to_owned(), status);
        }
        state.applied += 1;
        Ok(())
    }
}

/// Waits until `state` has applied `events` events (or gives up after 20 s).
pub(crate) async fn applied(state: &Mutex<Statuses>, events: u64) -> Result<Statuses> {
    for _ in 0..400 {
        let now = state.lock().unwrap_or_else(PoisonError::into_inner).clone();
        if now.applied >= events {
            return Ok(now);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the projection did not reach {events} events within 20 s")
}

/// A relay's destination that prints each delivery, keeps it for checking, and stops
/// the relay once `expected` events arrived.
pub(crate) struct Printer {
    delivered: Mutex<Vec<StoredEvent>>,
    expected: usize,
    stop: CancellationToken,
}

impl Printer {
    /// A printer that cancels `stop` after `expected` events.
    pub(crate) fn new(expected: usize, stop: CancellationToken) -> Self {
        Self {
            delivered: Mutex::new(Vec::new()),
            expected,
            stop,
        }
    }

    /// What was delivered, in delivery order.
    pub(crate) fn delivered(&self) -> Vec<StoredEvent> {
        self.delivered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[async_trait::async_trait]
impl Sender for Printer {
    async fn send(&self, events: &[StoredEvent]) -> Result<(), SendError> {
        let mut delivered = self
            .delivered
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // A closed stdout is not the relay's failure to deliver (retried, then
        // dead-lettered): the demo's next line of its own reports it and ends the demo.
        let _ = outln!("  relay: a batch of {}", events.len());
        for event in events {
            let _ = outln!(
                "    -> #{} {} {} v{}",
                event.sequence(),
                event.ty(),
                event.subject().unwrap_or("-"),
                event.stream_version().unwrap_or(0)
            );
            delivered.push(event.clone());
        }
        if delivered.len() >= self.expected {
            self.stop.cancel();
        }
        Ok(())
    }
}

/// Whether `events` are in sequence order and each subject's in stream-version order
/// without a gap.
pub(crate) fn in_order(events: &[StoredEvent]) -> bool {
    let ascending = events.windows(2).all(|w| w[0].sequence() < w[1].sequence());
    let mut versions: BTreeMap<&str, i64> = BTreeMap::new();
    let gapless = events.iter().all(|event| match event.subject() {
        Some(subject) => {
            let last = versions.entry(subject).or_insert(0);
            let next = event.stream_version() == Some(*last + 1);
            *last += 1;
            next
        }
        None => true,
    });
    ascending && gapless
}
