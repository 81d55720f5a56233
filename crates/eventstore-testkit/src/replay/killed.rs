//! A projection in the store's database survives its process killed mid-stream, again
//! and again: each event takes effect exactly once, and the state in the end is that of
//! one clean run, and of a rebuild.
//!
//! The [`replay_suite!`](crate::replay_suite) generates both sides: the parent test and
//! the ignored child test ([`projection_child`]) that the parent starts as a process of
//! its own with [`crate::crash::spawn_child`], telling it where the database is in
//! [`LOCATION_VAR`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use eventstore_core::EventStore as _;
use eventstore_replay::ProjectionRunner;
use tokio_util::sync::CancellationToken;

use super::ReplayFixture;
use super::common::{
    CountsInTable, create_counts, eventually, expected_counts, orders, table_counts,
    wait_for_free_lease,
};
use crate::crash::{rounds, spawn_child};

/// The environment variable that tells the child where the database is (see
/// [`ReplayFixture::location`]).
pub const LOCATION_VAR: &str = "EVENTSTORE_REPLAY_LOCATION";

/// Orders appended: 1,200 events.
const ORDERS: usize = 800;
/// How many more events the parent lets a child apply before it kills it.
const PER_KILL: i64 = 200;
/// The projection's lease: short, so that a killed child's lapses soon.
const TTL: Duration = Duration::from_millis(300);
/// The lease of the last run and the rebuild, in this process.
const PATIENT_TTL: Duration = Duration::from_secs(30);

fn runner<F: ReplayFixture>(store: &Arc<F::Store>) -> ProjectionRunner<F::Store> {
    ProjectionRunner::new(Arc::clone(store))
        .with_transactional(CountsInTable::<F>::new(store))
        .lease_ttl(TTL)
        .expect("a valid lease time to live")
}

/// The child: opens the database named by [`LOCATION_VAR`] and runs the projection in a
/// table of it until killed. Returns at once when the variable is not set (a normal
/// test run). `fresh` only names the fixture type; it is not called.
pub async fn projection_child<F, Fut>(_fresh: impl Fn() -> Fut)
where
    F: ReplayFixture,
    Fut: Future<Output = F>,
{
    let Ok(location) = std::env::var(LOCATION_VAR) else {
        return;
    };
    let store = Arc::new(F::open(&location).await);
    runner::<F>(&store).run(CancellationToken::new()).await;
}

/// The parent: with 1,200 events stored, `crash::rounds(3)` times starts the child test
/// `child_test` running the projection "counts" and kills it (SIGKILL) once it has
/// applied 200 more; after each kill the table holds no event counted twice, and the
/// child made progress. A runner in this process then finishes the job: the counts are
/// those of one clean run, and a rebuild comes back to them.
pub async fn projections_survive_a_killed_process_with_exactly_once_effect<F: ReplayFixture>(
    fixture: F,
    child_test: &str,
) {
    let store = Arc::clone(fixture.store());
    create_counts::<F>(&store).await;
    for start in (0..ORDERS).step_by(200) {
        store
            .append(orders(start..start + 200))
            .await
            .expect("the orders append");
    }
    let total = (ORDERS + ORDERS / 2) as i64;
    let expected = expected_counts(ORDERS as i64);
    let applied = || async { table_counts::<F>(&store).await.values().sum::<i64>() };
    let location = fixture.location();
    for round in 0..rounds(3) {
        let before = applied().await;
        let mut child = spawn_child(child_test, round, &[(LOCATION_VAR, &location)]);
        // Kill it mid-stream (the wait is a hang guard, not a timing: a child that
        // made no progress fails below).
        for _ in 0..2000 {
            let now = applied().await;
            if now >= before + PER_KILL || now == total {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("the child is reaped");
        let partial = table_counts::<F>(&store).await;
        let now = partial.values().sum::<i64>();
        assert!(
            now <= total,
            "round {round}: never more than once: {partial:?}"
        );
        for (ty, n) in &partial {
            assert!(
                n <= &expected[ty],
                "round {round}: {ty} counted more than once: {partial:?}"
            );
        }
        assert!(
            now > before || now == total,
            "round {round}: the child made progress ({before} then {now})"
        );
    }

    // A last run, uninterrupted, finishes the job. It and the rebuild hold their lease
    // for longer than the children did: only a killed child's lease needs to lapse
    // soon, and a busy machine may renew a short one too late.
    let patient = || {
        runner::<F>(&store)
            .lease_ttl(PATIENT_TTL)
            .expect("a valid lease time to live")
    };
    let runner = patient();
    let shutdown = CancellationToken::new();
    let run = {
        let (runner, shutdown) = (patient(), shutdown.clone());
        tokio::spawn(async move { runner.run(shutdown).await })
    };
    eventually("the last run", || async {
        table_counts::<F>(&store).await == expected
    })
    .await;
    shutdown.cancel();
    let reports = run.await.expect("the runner finishes");
    assert!(reports[0].result.is_ok(), "{reports:?}");
    assert_eq!(
        table_counts::<F>(&store).await,
        expected,
        "the same state as one clean run"
    );

    // A child killed after the last event may hold the lease until it lapses; a
    // rebuild refuses to run beside it.
    wait_for_free_lease(&*store, "counts").await;
    assert_eq!(
        runner.rebuild("counts").await.expect("the rebuild runs"),
        total as u64
    );
    assert_eq!(
        table_counts::<F>(&store).await,
        expected,
        "a rebuild gives the same state"
    );
}
