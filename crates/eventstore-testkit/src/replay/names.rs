//! Projection names: kept under `projection/<name>`, so one may be as long as a
//! coordination name less that prefix, and a longer one is refused saying so; two
//! projections of one runner may not share a name.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use eventstore_core::{CheckpointStore, Error, StoredEvent};
use eventstore_replay::{BoxError, MAX_PROJECTION_NAME_BYTES, Projection, ProjectionRunner};
use tokio_util::sync::CancellationToken;

use super::ReplayFixture;
use super::common::{eventually, seed};

/// Counts the events it is handed, under any name.
struct Named {
    name: String,
    handled: Arc<AtomicUsize>,
}

impl Named {
    fn new(name: &str) -> (Self, Arc<AtomicUsize>) {
        let handled = Arc::new(AtomicUsize::new(0));
        let projection = Self {
            name: name.to_owned(),
            handled: Arc::clone(&handled),
        };
        (projection, handled)
    }
}

#[async_trait]
impl Projection for Named {
    fn name(&self) -> &str {
        &self.name
    }

    async fn handle(&self, _: &StoredEvent) -> Result<(), BoxError> {
        self.handled.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// A projection named with [`MAX_PROJECTION_NAME_BYTES`] runs, rebuilds and keeps its
/// checkpoint under `projection/<name>`; one byte more is reported by `run` and refused
/// by `rebuild` with `Error::Config` naming the projection's limit (not the key's),
/// handling nothing; two projections of one name are both reported, handling nothing,
/// while the runner's other projection runs. A lease time to live under
/// [`eventstore_core::MIN_LEASE_TTL`] is refused by `lease_ttl` with `Error::Config`, and
/// so is a `retry` policy of no attempts, rather than raised to one.
pub async fn projection_names_up_to_their_limit_are_kept_and_longer_or_shared_ones_refused<F>(
    fixture: F,
) where
    F: ReplayFixture,
{
    assert_eq!(
        MAX_PROJECTION_NAME_BYTES,
        eventstore_core::sql::text::MAX_NAME_BYTES - "projection/".len()
    );
    let store = Arc::clone(fixture.store());
    let events = seed(&*store, 0..4).await.appended;
    let last = events.last().expect("events were appended").sequence;
    // Two-byte characters: the limit is in bytes.
    let longest = format!("p{}", "é".repeat((MAX_PROJECTION_NAME_BYTES - 1) / 2));
    assert_eq!(longest.len(), MAX_PROJECTION_NAME_BYTES);
    let too_long = format!("{longest}x");
    let (kept, kept_handled) = Named::new(&longest);
    let (refused, refused_handled) = Named::new(&too_long);
    let (twin, twin_handled) = Named::new("twin");
    let (other_twin, other_twin_handled) = Named::new("twin");
    let runner = ProjectionRunner::new(Arc::clone(&store))
        .with(kept)
        .with(refused)
        .with(twin)
        .with(other_twin);
    let runner = Arc::new(runner);
    let shutdown = CancellationToken::new();
    let run = {
        let (runner, shutdown) = (Arc::clone(&runner), shutdown.clone());
        tokio::spawn(async move { runner.run(shutdown).await })
    };
    let key = format!("projection/{longest}");
    eventually("the longest name's checkpoint", || async {
        store.load_checkpoint(&key).await.expect("it loads") == Some(last)
    })
    .await;
    shutdown.cancel();
    let reports = run.await.expect("the runner finishes");
    assert_eq!(reports.len(), 4);
    assert_eq!(
        reports[0].result.as_ref().ok(),
        Some(&(events.len() as u64))
    );
    let too_long_message = format!(
        "is {} bytes, over the {MAX_PROJECTION_NAME_BYTES} a projection's name may hold",
        MAX_PROJECTION_NAME_BYTES + 1
    );
    let config = |result: &eventstore_core::Result<u64>, says: &str| match result {
        Err(error @ Error::Config(_)) => {
            assert!(error.to_string().contains(says), "{error}");
        }
        other => panic!("expected Error::Config saying {says:?}, got {other:?}"),
    };
    config(&reports[1].result, &too_long_message);
    config(
        &reports[2].result,
        "two projections of this runner are named \"twin\"",
    );
    config(
        &reports[3].result,
        "two projections of this runner are named \"twin\"",
    );
    for handled in [refused_handled, twin_handled, other_twin_handled] {
        assert_eq!(handled.load(Ordering::SeqCst), 0);
    }

    let rebuilt = runner
        .rebuild(&longest)
        .await
        .expect("the longest rebuilds");
    assert_eq!(rebuilt, events.len() as u64);
    assert_eq!(kept_handled.load(Ordering::SeqCst), 2 * events.len());
    config(&runner.rebuild(&too_long).await, &too_long_message);
    config(&runner.rebuild("twin").await, "two projections");

    // A lease too short to be renewed in time is refused when configured, naming it;
    // the shortest allowed is kept.
    for ttl in [
        std::time::Duration::ZERO,
        eventstore_core::MIN_LEASE_TTL / 2,
    ] {
        let refused = ProjectionRunner::new(Arc::clone(&store)).lease_ttl(ttl);
        match refused {
            Err(Error::Config(m))
                if m.starts_with("lease_ttl must be at least 30ms")
                    && m.contains(&format!("{ttl:?}")) => {}
            Err(other) => panic!("expected Error::Config naming lease_ttl, got {other:?}"),
            Ok(_) => panic!("a lease of {ttl:?} was kept"),
        }
    }
    ProjectionRunner::new(Arc::clone(&store))
        .lease_ttl(eventstore_core::MIN_LEASE_TTL)
        .expect("the shortest lease is kept");

    let policy = |max_attempts| eventstore_core::RetryPolicy {
        max_attempts,
        ..Default::default()
    };
    match ProjectionRunner::new(Arc::clone(&store)).retry(policy(0)) {
        Err(Error::Config(m)) if m.starts_with("retry: max_attempts must be at least 1, not 0") => {
        }
        Err(other) => panic!("expected Error::Config naming retry, got {other:?}"),
        Ok(_) => panic!("a retry policy of no attempts was kept"),
    }
    ProjectionRunner::new(Arc::clone(&store))
        .retry(policy(1))
        .expect("a single attempt is kept");
}
