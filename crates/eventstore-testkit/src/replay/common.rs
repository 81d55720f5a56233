//! What the replay tests share: orders to append, projections counting events per type
//! (in the store's database, exactly once, and in memory), and waiting for a condition.

use std::collections::BTreeMap;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use eventstore_core::time::OffsetDateTime;
use eventstore_core::{
    AppendOptions, AppendResult, Event, Lease, LeaseStore, StoredEvent, TransactionalStore,
};
use eventstore_replay::{BoxError, Projection, TransactionalProjection};

use super::{ReplayFixture, Work};

/// Step `step` of order `order`: id `order-{order}-{step}`, type `order.{step}`, subject
/// `order-{order}`, at `order` seconds past the epoch.
pub(super) fn order_event(order: usize, step: &str) -> Event {
    Event::builder()
        .id(format!("order-{order}-{step}"))
        .source("/shop")
        .ty(format!("order.{step}"))
        .subject(format!("order-{order}"))
        .time(OffsetDateTime::UNIX_EPOCH + Duration::from_secs(order as u64))
        .build()
        .expect("valid event")
}

/// The orders in `orders`, created, and the even ones paid too, in order.
pub(super) fn orders(orders: std::ops::Range<usize>) -> Vec<Event> {
    let mut events = Vec::new();
    for order in orders {
        events.push(order_event(order, "created"));
        if order % 2 == 0 {
            events.push(order_event(order, "paid"));
        }
    }
    events
}

/// Appends [`orders`] in one batch.
pub(super) async fn seed(
    store: &dyn eventstore_core::EventStore,
    range: std::ops::Range<usize>,
) -> AppendResult {
    store
        .append(orders(range))
        .await
        .expect("the orders append")
}

/// The counts [`orders`] over `0..n` leave: `n` created, half as many paid.
pub(super) fn expected_counts(n: i64) -> BTreeMap<String, i64> {
    [
        ("order.created".to_owned(), n),
        ("order.paid".to_owned(), (n + 1) / 2),
    ]
    .into()
}

/// Counts events per type in a table of the store's own database, exactly once: the
/// fixture's [`count`](ReplayFixture::count) work, committed with the checkpoint.
pub(super) struct CountsInTable<F: ReplayFixture> {
    store: Arc<F::Store>,
    fixture: PhantomData<fn() -> F>,
}

impl<F: ReplayFixture> CountsInTable<F> {
    /// The projection "counts" on `store`.
    pub(super) fn new(store: &Arc<F::Store>) -> Self {
        Self {
            store: Arc::clone(store),
            fixture: PhantomData,
        }
    }
}

impl<F: ReplayFixture> TransactionalProjection<F::Store> for CountsInTable<F> {
    fn name(&self) -> &str {
        "counts"
    }

    fn apply(&self, event: &StoredEvent) -> Work<F, ()> {
        F::count(&self.store, event.ty().to_owned())
    }

    fn reset(&self) -> Work<F, ()> {
        F::clear_counts(&self.store)
    }
}

/// Creates the table of counts.
pub(super) async fn create_counts<F: ReplayFixture>(store: &F::Store) {
    store
        .transact(F::create_counts(store), AppendOptions::new())
        .await
        .expect("the table of counts is created");
}

/// The counts in the table, by type.
pub(super) async fn table_counts<F: ReplayFixture>(store: &F::Store) -> BTreeMap<String, i64> {
    store
        .transact(F::read_counts(store), AppendOptions::new())
        .await
        .expect("the counts read")
        .value
}

/// Counts events per type in memory (at least once), under the name "memory".
#[derive(Default, Clone)]
pub(super) struct CountsInMemory(Arc<Mutex<BTreeMap<String, i64>>>);

impl CountsInMemory {
    /// The counts so far.
    pub(super) fn counts(&self) -> BTreeMap<String, i64> {
        self.0.lock().expect("not poisoned").clone()
    }
}

#[async_trait]
impl Projection for CountsInMemory {
    fn name(&self) -> &str {
        "memory"
    }

    async fn handle(&self, event: &StoredEvent) -> Result<(), BoxError> {
        *self
            .0
            .lock()
            .expect("not poisoned")
            .entry(event.ty().to_owned())
            .or_default() += 1;
        Ok(())
    }

    async fn reset(&self) -> Result<(), BoxError> {
        self.0.lock().expect("not poisoned").clear();
        Ok(())
    }
}

/// Waits until `done` holds, checking every 25 ms; panics naming `what` after a minute
/// (a hang guard, not a timing).
pub(super) async fn eventually<Fut: Future<Output = bool>>(what: &str, done: impl Fn() -> Fut) {
    for _ in 0..2400 {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Waits until no runner holds the lease of projection `name` (one that stopped has
/// released it; a killed process's has expired), checking every 25 ms for a minute (a
/// hang guard, not a timing).
pub(super) async fn wait_for_free_lease(store: &dyn LeaseStore, name: &str) {
    let mut lease = Lease::new(format!("projection/{name}"), Duration::from_millis(100));
    for _ in 0..2400 {
        if lease
            .try_acquire(store)
            .await
            .expect("the lease store answers")
        {
            lease.release(store).await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("projection {name:?} still holds its lease");
}
