//! A follower moves past exactly what it read. A writer reads the sequence's
//! `last_value` for its horizon lock, and the lock shows in `pg_locks` a moment later;
//! if another append committed in between, a horizon read after the lock shows is lower
//! than one read before it. A follower that read a page with the first horizon but let
//! the store bound it again by the second, then moved past the first, skipped what lay
//! between. This test puts such a late lock between the follower's horizon and its
//! read, deterministically, through a store that takes the lock right after answering
//! `horizon()`.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use eventstore_core::{
    AppendOptions, AppendResult, Event, EventQuery, EventStore, EventStream, Horizon, Position,
    Result, StoredEvent, Wakeups, follow,
};
use eventstore_postgres::PostgresEventStore;
use eventstore_postgres::statements::horizon_param;
use futures::{StreamExt as _, TryStreamExt as _};

/// Delegates to the store; the first `horizon()` call, once armed, is followed by a
/// writer's late horizon lock at `late` (held by `writer` until the test ends).
struct LateLock {
    inner: PostgresEventStore,
    writer: tokio_postgres::Client,
    armed: AtomicBool,
    late: i64,
}

#[async_trait]
impl EventStore for LateLock {
    async fn append_with(
        &self,
        events: Vec<Event>,
        options: AppendOptions,
    ) -> Result<AppendResult> {
        self.inner.append_with(events, options).await
    }
    fn query(&self, query: EventQuery) -> EventStream {
        self.inner.query(query)
    }
    async fn get(&self, source: &str, id: &str) -> Result<Option<StoredEvent>> {
        self.inner.get(source, id).await
    }
    fn stream(&self, subject: &str, from_version: i64) -> EventStream {
        self.inner.stream(subject, from_version)
    }
    async fn stream_version(&self, subject: &str) -> Result<Option<i64>> {
        self.inner.stream_version(subject).await
    }
    async fn horizon(&self) -> Result<Horizon> {
        let horizon = self.inner.horizon().await?;
        if self.armed.swap(false, Ordering::SeqCst) {
            let key = (horizon_param(self.inner.table()) << 32) | self.late;
            self.writer
                .batch_execute(&format!(
                    "BEGIN; SELECT pg_advisory_xact_lock_shared({key})"
                ))
                .await
                .expect("the late lock");
        }
        Ok(horizon)
    }
    fn wakeups(&self) -> Wakeups {
        self.inner.wakeups()
    }
    async fn close(&self) -> Result<()> {
        self.inner.close().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_moves_past_only_what_it_read() {
    let schema = common::Schema::new("late_lock");
    let store = schema.open().await;
    let events = (1..=5)
        .map(|i| {
            Event::builder()
                .id(format!("e{i}"))
                .source("/late")
                .ty("late.event")
                .build()
                .unwrap()
        })
        .collect();
    store.append(events).await.unwrap();
    let late = LateLock {
        inner: store,
        writer: common::admin().await,
        armed: AtomicBool::new(true),
        late: 2,
    };
    let store: Arc<dyn EventStore> = Arc::new(late);
    let followed = follow(Arc::clone(&store), EventQuery::new(), Position::Start)
        .take(5)
        .map_ok(|e| e.sequence())
        .try_collect::<Vec<_>>();
    // Skipping 3 to 5 would leave the follower waiting for a sixth event: no answer.
    let sequences = tokio::time::timeout(Duration::from_secs(10), followed)
        .await
        .expect("the follower delivers the five events it passed the horizon of")
        .unwrap();
    assert_eq!(sequences, [1, 2, 3, 4, 5]);
}
