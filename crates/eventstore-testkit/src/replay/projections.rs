//! Projections: side by side, live, rebuilt to the same state; one failing is retried,
//! then reported at the event's sequence, while the others go on; a runner returns at
//! shutdown even while a handler never does; the order and paging are the runner's.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use eventstore_core::{
    CheckpointStore, Event, EventQuery, EventStore, Order, RetryPolicy, StoredEvent,
};
use eventstore_replay::{BoxError, Projection, ProjectionRunner};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::ReplayFixture;
use super::common::{
    CountsInMemory, CountsInTable, create_counts, eventually, expected_counts, seed, table_counts,
    wait_for_free_lease,
};

/// Two projections, one in a table of the store's database (exactly once) and one in
/// memory, catch up and follow live appends side by side to the same counts; each,
/// rebuilt from scratch, comes back to them; a rebuild of a projection the runner does
/// not have is an error.
pub async fn projections_follow_live_side_by_side_and_rebuild_to_the_same_state<F>(fixture: F)
where
    F: ReplayFixture,
{
    let store = Arc::clone(fixture.store());
    create_counts::<F>(&store).await;
    seed(&*store, 0..40).await;
    let memory = CountsInMemory::default();
    let runner = || {
        ProjectionRunner::new(Arc::clone(&store))
            .with_transactional(CountsInTable::<F>::new(&store))
            .with(memory.clone())
    };
    let shutdown = CancellationToken::new();
    let run = {
        let (runner, shutdown) = (runner(), shutdown.clone());
        tokio::spawn(async move { runner.run(shutdown).await })
    };
    seed(&*store, 40..60).await; // live appends
    let expected = expected_counts(60);
    eventually("the in-memory projection", || async {
        memory.counts() == expected
    })
    .await;
    eventually("the projection in a table", || async {
        table_counts::<F>(&store).await == expected
    })
    .await;
    shutdown.cancel();
    let reports = run.await.expect("the runner finishes");
    assert_eq!(reports.len(), 2);
    for report in &reports {
        assert_eq!(report.result.as_ref().ok(), Some(&90), "{reports:?}");
    }

    let runner = runner();
    assert_eq!(runner.rebuild("counts").await.expect("counts rebuilds"), 90);
    assert_eq!(table_counts::<F>(&store).await, expected);
    assert_eq!(runner.rebuild("memory").await.expect("memory rebuilds"), 90);
    assert_eq!(memory.counts(), expected);
    assert!(runner.rebuild("nope").await.is_err());
}

/// Fails on one event forever, counting its attempts.
#[derive(Default)]
struct Broken {
    attempts: AtomicUsize,
}

#[async_trait]
impl Projection for Broken {
    fn name(&self) -> &str {
        "broken"
    }

    async fn handle(&self, event: &StoredEvent) -> Result<(), BoxError> {
        if event.id() == "order-2-created" {
            self.attempts.fetch_add(1, Ordering::SeqCst);
            Err("cannot project".into())
        } else {
            Ok(())
        }
    }
}

/// The projection of [`Arc`]ed `P`, shared with the test to look at.
struct Shared<P>(Arc<P>);

#[async_trait]
impl<P: Projection> Projection for Shared<P> {
    fn name(&self) -> &str {
        self.0.name()
    }

    async fn handle(&self, event: &StoredEvent) -> Result<(), BoxError> {
        self.0.handle(event).await
    }
}

/// A projection failing on one event is tried as often as the retry policy says, then
/// stops, reporting the event's sequence and its error, its checkpoint before the
/// event; another projection of the same runner goes on through every event.
pub async fn a_failing_projection_is_retried_then_reported_while_others_go_on<F>(fixture: F)
where
    F: ReplayFixture,
{
    let store = Arc::clone(fixture.store());
    seed(&*store, 0..5).await;
    let sequence_of = |id: &'static str| {
        let store = Arc::clone(&store);
        async move {
            let event = store.get("/shop", id).await.expect("the get succeeds");
            event.expect("the event is stored").sequence()
        }
    };
    let failing_at = sequence_of("order-2-created").await;
    let last_before = sequence_of("order-1-created").await;
    let broken = Arc::new(Broken::default());
    let memory = CountsInMemory::default();
    let runner = ProjectionRunner::new(Arc::clone(&store))
        .with(Shared(Arc::clone(&broken)))
        .with(memory.clone())
        .retry(RetryPolicy {
            max_attempts: 3,
            initial_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(10),
        })
        .expect("a valid retry policy");
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let run = tokio::spawn(async move { runner.run(shutdown).await });
    eventually("the healthy projection", || async {
        memory.counts().values().sum::<i64>() == 8
    })
    .await;
    eventually("the failing projection's attempts", || async {
        broken.attempts.load(Ordering::SeqCst) >= 3
    })
    .await;
    // The broken projection has stopped once it let its lease go.
    wait_for_free_lease(&*store, "broken").await;
    stop.cancel();
    let reports = run.await.expect("the runner finishes");
    let report = |name: &str| {
        &reports
            .iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("a report for {name}: {reports:?}"))
            .result
    };
    let err = report("broken").as_ref().expect_err("broken stopped");
    assert_eq!(err.failed_sequence(), Some(failing_at), "{err}");
    assert!(err.to_string().contains("cannot project"), "{err}");
    assert_eq!(broken.attempts.load(Ordering::SeqCst), 3, "three attempts");
    assert_eq!(
        store
            .load_checkpoint("projection/broken")
            .await
            .expect("the checkpoint loads"),
        Some(last_before),
        "checkpointed up to the failing event"
    );
    assert_eq!(report("memory").as_ref().ok(), Some(&8));
}

/// A handler that never returns.
struct Stuck(Arc<Notify>);

#[async_trait]
impl Projection for Stuck {
    fn name(&self) -> &str {
        "stuck"
    }

    async fn handle(&self, _event: &StoredEvent) -> Result<(), BoxError> {
        self.0.notify_one();
        std::future::pending().await
    }
}

/// At shutdown, a runner whose handler never returns drops the event it is handling,
/// unfinished and not checkpointed, and returns.
pub async fn run_returns_at_shutdown_while_a_handler_never_does<F: ReplayFixture>(fixture: F) {
    let store = Arc::clone(fixture.store());
    seed(&*store, 0..3).await;
    let handling = Arc::new(Notify::new());
    let runner = ProjectionRunner::new(Arc::clone(&store)).with(Stuck(Arc::clone(&handling)));
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let run = tokio::spawn(async move { runner.run(token).await });
    handling.notified().await;
    shutdown.cancel();
    // A hang guard, not a timing: the runner used to wait for the handler forever.
    let reports = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("run returned after shutdown")
        .expect("the runner finishes");
    assert_eq!(reports[0].result.as_ref().ok(), Some(&0));
    assert_eq!(
        store
            .load_checkpoint("projection/stuck")
            .await
            .expect("the checkpoint loads"),
        None
    );
}

/// Counts in memory the order creations, under the name "paged", though its filter asks
/// for its own order and paging: newest first, after sequence 3, past one, two at most.
struct PagedFilter(CountsInMemory);

#[async_trait]
impl Projection for PagedFilter {
    fn name(&self) -> &str {
        "paged"
    }

    fn filter(&self) -> EventQuery {
        EventQuery::new()
            .ty("order.created")
            .order(Order::Descending)
            .after(3)
            .offset(1)
            .limit(2)
    }

    async fn handle(&self, event: &StoredEvent) -> Result<(), BoxError> {
        self.0.handle(event).await
    }

    async fn reset(&self) -> Result<(), BoxError> {
        self.0.reset().await
    }
}

/// A projection's filter gives which events it wants; the order and paging are the
/// runner's (`Projection::filter`): `run` and `rebuild` alike apply every matching
/// event, oldest first, whatever order, `after`, offset or limit the filter carries.
pub async fn a_projections_own_order_and_paging_are_the_runners_in_run_and_rebuild<F>(fixture: F)
where
    F: ReplayFixture,
{
    let store = Arc::clone(fixture.store());
    let seeded = seed(&*store, 0..10).await;
    let last = seeded.appended.last().expect("events were seeded").sequence;
    let memory = CountsInMemory::default();
    let runner = || ProjectionRunner::new(Arc::clone(&store)).with(PagedFilter(memory.clone()));
    let expected: BTreeMap<String, i64> = [("order.created".to_owned(), 10)].into();

    let shutdown = CancellationToken::new();
    let run = {
        let (runner, shutdown) = (runner(), shutdown.clone());
        tokio::spawn(async move { runner.run(shutdown).await })
    };
    // The checkpoint, not the handler's state: the run counts an event once its
    // checkpoint is saved, after the handler has returned.
    eventually("the run's checkpoint", || async {
        store
            .load_checkpoint("projection/paged")
            .await
            .ok()
            .flatten()
            == Some(last)
    })
    .await;
    assert_eq!(
        memory.counts(),
        expected,
        "the run applied every order creation"
    );
    shutdown.cancel();
    let reports = run.await.expect("the runner finishes");
    assert_eq!(reports[0].result.as_ref().ok(), Some(&10), "{reports:?}");

    let rebuilt = runner()
        .rebuild("paged")
        .await
        .expect("the projection rebuilds");
    assert_eq!(rebuilt, 10, "every order creation, as the run applied");
    assert_eq!(
        memory.counts(),
        expected,
        "the rebuild's state is the run's"
    );
}

/// Records one audit event per order in the store, whose id must be new: the second
/// event of an order makes the append fail with `Error::Duplicate`, which the handler
/// passes on.
struct Auditor(Arc<dyn EventStore>);

#[async_trait]
impl Projection for Auditor {
    fn name(&self) -> &str {
        "auditor"
    }

    fn filter(&self) -> EventQuery {
        EventQuery::new().source("/shop")
    }

    async fn handle(&self, event: &StoredEvent) -> Result<(), BoxError> {
        let order = event.subject().unwrap_or("none");
        let audit = Event::builder()
            .id(format!("audit-{order}"))
            .source("/audit")
            .ty("order.audited")
            .build()?;
        self.0.append(vec![audit]).await?;
        Ok(())
    }
}

/// A projection whose handler fails with a store's error (here a duplicate it tried to
/// append) is retried, then stops like any failing projection: its report names the
/// event's sequence (`Error::Handler`), with the store's error as the cause.
pub async fn a_projection_failing_with_a_store_error_is_reported_at_the_events_sequence<F>(
    fixture: F,
) where
    F: ReplayFixture,
{
    let store = Arc::clone(fixture.store());
    let seeded = seed(&*store, 0..1).await;
    let (created, paid) = (seeded.appended[0].sequence, seeded.appended[1].sequence);
    let events: Arc<dyn EventStore> = Arc::clone(&store) as Arc<dyn EventStore>;
    let runner = ProjectionRunner::new(Arc::clone(&store))
        .with(Auditor(events))
        .retry(RetryPolicy {
            max_attempts: 2,
            initial_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(10),
        })
        .expect("a valid retry policy");
    // A hang guard, not a timing: the only projection stops, and `run` with it.
    let reports = tokio::time::timeout(
        Duration::from_secs(120),
        runner.run(CancellationToken::new()),
    )
    .await
    .expect("the runner stops with its only projection");
    let err = reports[0].result.as_ref().expect_err("the auditor stopped");
    assert_eq!(err.failed_sequence(), Some(paid), "{err:?}");
    let cause = std::error::Error::source(err).map(ToString::to_string);
    assert!(
        cause
            .as_deref()
            .is_some_and(|c| c.contains("duplicate event")),
        "{err:?}"
    );
    assert_eq!(
        store
            .load_checkpoint("projection/auditor")
            .await
            .expect("the checkpoint loads"),
        Some(created),
        "checkpointed up to the failing event"
    );
}
