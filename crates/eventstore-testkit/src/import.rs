//! Bulk import, for the backends that have one (`import` is not part of [`EventStore`]:
//! each backend's is its own inherent method, so a backend hands the tests a closure
//! calling it). A backend's test file is one macro call naming an async function that
//! returns a fresh store and its import. The store must poll rarely (every 30 s or
//! more, [`RARE_POLLS`]), so that a follower seeing an import within seconds was woken
//! by it:
//!
//! ```ignore
//! async fn fresh() -> (eventstore_testkit::Fixture, eventstore_testkit::import::Importer) {
//!     let dir = tempfile::tempdir().unwrap();
//!     let store = SqliteOptions::file(dir.path().join("events.db"))
//!         .poll_interval(eventstore_testkit::import::RARE_POLLS)
//!         .open()
//!         .await
//!         .unwrap();
//!     let importer = eventstore_testkit::import::importer(store.clone(), |store, events| {
//!         Box::pin(async move { store.import(events).await })
//!     });
//!     (eventstore_testkit::Fixture::new(store).keep(dir), importer)
//! }
//! eventstore_testkit::import_suite!(fresh);
//! ```

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use eventstore_core::{
    Error, Event, EventQuery, EventStore, ImportResult, Limits, Position, Result, StoredEvent,
    follow,
};
use futures::StreamExt as _;
use futures::future::BoxFuture;

use crate::data::{all, event, on_subject};

/// A backend's bulk import of a batch of events into the store under test.
pub type Importer =
    Arc<dyn Fn(Vec<Event>) -> BoxFuture<'static, Result<ImportResult>> + Send + Sync>;

/// Wraps a backend's import method: `call(store, events)` imports into a clone of
/// `store`.
pub fn importer<S: Clone + Send + Sync + 'static>(
    store: S,
    call: fn(S, Vec<Event>) -> BoxFuture<'static, Result<ImportResult>>,
) -> Importer {
    Arc::new(move |events| call(store.clone(), events))
}

/// Generates one `#[tokio::test]` per import test, each calling `$fresh().await` for a
/// new `(Fixture, Importer)`.
#[macro_export]
macro_rules! import_suite {
    ($fresh:path) => {
        $crate::import_suite!(@each $fresh;
            import_continues_streams_in_iteration_order,
            import_with_a_duplicate_writes_nothing,
            import_over_the_event_limit_writes_nothing,
            followers_see_an_import_once_in_order,
            an_import_wakes_followers,
            import_beside_concurrent_appends_keeps_both,
            an_import_on_a_closed_store_is_refused,
            a_duplicate_is_named_by_its_whole_id
        );
    };
    (@each $fresh:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let (fixture, import) = $fresh().await;
                $crate::import::$name(::std::sync::Arc::clone(&fixture.store), import).await;
            }
        )*
    };
}

/// The poll interval of the suite's stores, at least: long enough that a follower
/// that sees an event within seconds was woken by its commit, not by a poll.
pub const RARE_POLLS: Duration = Duration::from_secs(30);

/// How soon a follower sees a commit that woke it.
const WOKEN: Duration = Duration::from_secs(5);

/// Events whose subject cycles through `subjects` (`None`: no subject), with ids
/// `{prefix}{n}`.
fn events(prefix: &str, n: usize, subjects: &[Option<&str>]) -> Vec<Event> {
    (0..n)
        .map(|i| match subjects[i % subjects.len()] {
            Some(subject) => on_subject(format!("{prefix}{i}"), subject),
            None => event(format!("{prefix}{i}")),
        })
        .collect()
}

/// Every subject's stream versions are 1, 2, 3, … in sequence order: no gap, no
/// repeat, never out of order.
fn assert_streams_contiguous(stored: &[StoredEvent]) {
    assert!(stored.windows(2).all(|w| w[0].sequence() < w[1].sequence()));
    let mut last: HashMap<&str, i64> = HashMap::new();
    for e in stored {
        match (e.subject(), e.stream_version()) {
            (Some(subject), Some(version)) => {
                let previous = last.insert(subject, version).unwrap_or(0);
                assert_eq!(
                    version,
                    previous + 1,
                    "{subject} at sequence {}",
                    e.sequence()
                );
            }
            (None, None) => {}
            other => panic!("subject and stream version disagree: {other:?}"),
        }
    }
}

/// An import of more events than one chunk (subjects alternating, some without one)
/// writes them all, in iteration order, with stream versions after the subjects'
/// stored ones and one recording time.
pub async fn import_continues_streams_in_iteration_order(
    store: Arc<dyn EventStore>,
    import: Importer,
) {
    store
        .append(vec![on_subject("a-stored", "a")])
        .await
        .unwrap();
    let batch = events("imp", 45_000, &[Some("a"), Some("b"), None]);
    let result = import(batch).await.expect("the import succeeds");
    assert_eq!(result.count, 45_000);
    assert_eq!(store.stream_version("a").await.unwrap(), Some(15_001));
    assert_eq!(store.stream_version("b").await.unwrap(), Some(15_000));
    let stored = all(&*store).await;
    assert_eq!(stored.len(), 45_001);
    assert_streams_contiguous(&stored);
    let imported = &stored[1..];
    assert!(
        imported
            .iter()
            .enumerate()
            .all(|(i, e)| e.id() == format!("imp{i}") && e.recorded_at() == result.recorded_at),
        "imported events keep their order and share the import's recording time"
    );
    assert_eq!(import(Vec::new()).await.unwrap().count, 0);
}

/// A `(source, id)` already stored, or twice in the import (within one chunk or
/// chunks apart), fails the whole import with a duplicate error naming it.
pub async fn import_with_a_duplicate_writes_nothing(store: Arc<dyn EventStore>, import: Importer) {
    store.append(vec![on_subject("stored", "s")]).await.unwrap();
    let cases = [
        ("against a stored event", 10, "stored"),
        ("twice in one chunk", 10, "new3"),
        ("chunks apart", 30_000, "new1"),
    ];
    for (case, n, duplicate) in cases {
        let mut batch = events("new", n, &[Some("s"), Some("fresh")]);
        batch.push(on_subject(duplicate, "s"));
        batch.extend(events("after", 5, &[Some("fresh")]));
        let error = import(batch).await.expect_err(case);
        assert!(error.is_duplicate(), "{case}: {error}");
        assert!(error.to_string().contains(duplicate), "{case}: {error}");
        assert_eq!(all(&*store).await.len(), 1, "{case}: nothing written");
        assert_eq!(store.stream_version("s").await.unwrap(), Some(1), "{case}");
        assert_eq!(store.stream_version("fresh").await.unwrap(), None, "{case}");
    }
}

/// A duplicate is named by its whole id, however many ", " it holds (PostgreSQL
/// reports the key as one text, its values joined with ", ").
pub async fn a_duplicate_is_named_by_its_whole_id(store: Arc<dyn EventStore>, import: Importer) {
    let order = |id: &str| {
        Event::builder()
            .id(id)
            .source("/shop")
            .ty("test.event")
            .build()
            .unwrap()
    };
    store.append(vec![order("order 7, line 2")]).await.unwrap();
    let error = import(vec![order("order 7"), order("order 7, line 2")])
        .await
        .expect_err("a duplicate");
    match error {
        Error::Duplicate { event_source, id } => {
            assert_eq!(
                (event_source.as_str(), id.as_str()),
                ("/shop", "order 7, line 2")
            );
        }
        other => panic!("not a duplicate: {other}"),
    }
    assert_eq!(all(&*store).await.len(), 1, "nothing written");
}

/// An event over the store's event size limit (the default, 4 MiB) fails the import
/// with the event's index in it, after earlier chunks went to the database: they are
/// rolled back. The batch limits do not apply to an import.
pub async fn import_over_the_event_limit_writes_nothing(
    store: Arc<dyn EventStore>,
    import: Importer,
) {
    let over = Limits::DEFAULT_MAX_BATCH_EVENTS + 5_000;
    let mut batch = events("big", over, &[Some("s")]);
    let huge = Event::builder()
        .id("huge")
        .source("/testkit")
        .ty("test.event")
        .binary(vec![7u8; Limits::DEFAULT_MAX_EVENT_BYTES])
        .build()
        .unwrap();
    batch.push(huge);
    let error = import(batch).await.expect_err("an oversized event");
    let invalid = error.as_validation().expect("a validation error");
    assert_eq!(
        (invalid.attribute(), invalid.index()),
        ("event", Some(over))
    );
    assert!(all(&*store).await.is_empty(), "nothing written");
    assert_eq!(store.stream_version("s").await.unwrap(), None);
    // More events than one append may carry are one import.
    let result = import(events("many", over, &[Some("s")])).await.unwrap();
    assert_eq!(result.count, over as u64);
}

/// A follower running before the import sees every imported event once, in order,
/// after the events appended before it.
pub async fn followers_see_an_import_once_in_order(store: Arc<dyn EventStore>, import: Importer) {
    store
        .append(events("before", 3, &[Some("a")]))
        .await
        .unwrap();
    let mut follower = follow(Arc::clone(&store), EventQuery::new(), Position::Start);
    let batch = events("imp", 3_000, &[Some("a"), Some("b")]);
    import(batch).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 3_003 {
        match tokio::time::timeout(Duration::from_secs(20), follower.next()).await {
            Ok(Some(Ok(event))) => seen.push(event),
            other => panic!("follower stopped after {} events: {other:?}", seen.len()),
        }
    }
    let ids: Vec<&str> = seen.iter().map(|e| e.id()).collect();
    let expected: Vec<String> = (0..3)
        .map(|i| format!("before{i}"))
        .chain((0..3_000).map(|i| format!("imp{i}")))
        .collect();
    assert_eq!(ids, expected);
    assert_streams_contiguous(&seen);
    let next = tokio::time::timeout(Duration::from_millis(300), follower.next()).await;
    assert!(next.is_err(), "nothing more: {next:?}");
}

/// An import wakes its store's followers when it commits: one that has seen everything
/// before it sees the imported events within seconds, where its store polls every
/// [`RARE_POLLS`].
pub async fn an_import_wakes_followers(store: Arc<dyn EventStore>, import: Importer) {
    an_import_wakes_a_follower_on(Arc::clone(&store), store, import).await;
}

/// [`an_import_wakes_followers`], the follower on `followed`: `store` itself, or another
/// handle on its database that polls as rarely (another process, on a backend that
/// wakes those).
pub async fn an_import_wakes_a_follower_on(
    followed: Arc<dyn EventStore>,
    store: Arc<dyn EventStore>,
    import: Importer,
) {
    let mut follower = follow(followed, EventQuery::new(), Position::Start);
    // An append first, so that the follower has been woken (and the store's own
    // wake-ups at start, if any, are spent) before the import.
    store.append(vec![event("appended")]).await.unwrap();
    let woken = tokio::time::timeout(WOKEN, follower.next()).await;
    assert!(
        matches!(&woken, Ok(Some(Ok(e))) if e.id() == "appended"),
        "an append wakes the follower: {woken:?}"
    );
    let idle = tokio::time::timeout(Duration::from_secs(1), follower.next()).await;
    assert!(idle.is_err(), "nothing more: {idle:?}");
    import(vec![event("imported")]).await.unwrap();
    let woken = tokio::time::timeout(WOKEN, follower.next()).await;
    assert!(
        matches!(&woken, Ok(Some(Ok(e))) if e.id() == "imported"),
        "the import wakes the follower: {woken:?}"
    );
}

/// An import on a closed store is refused with [`Error::Closed`], as an append is.
pub async fn an_import_on_a_closed_store_is_refused(store: Arc<dyn EventStore>, import: Importer) {
    store.close().await.unwrap();
    let error = import(vec![event("late")])
        .await
        .expect_err("a closed store refuses an import");
    assert!(matches!(error, Error::Closed), "{error}");
}

/// Appends from another task, to a subject the import also writes and to one of their
/// own, while the import runs: they wait for it (or it for them), so every append
/// lands and so does the import, whole; every stream stays contiguous.
pub async fn import_beside_concurrent_appends_keeps_both(
    store: Arc<dyn EventStore>,
    import: Importer,
) {
    let done = Arc::new(AtomicBool::new(false));
    let (started, mut first) = tokio::sync::mpsc::channel(1);
    let appender = {
        let (store, done) = (Arc::clone(&store), Arc::clone(&done));
        tokio::spawn(async move {
            let mut n = 0;
            // At least a few appends after the import returns, so some queue behind it.
            while !done.load(Ordering::Acquire) || n < 20 {
                let subject = if n % 2 == 0 { "x" } else { "y" };
                store
                    .append(vec![on_subject(format!("app{n}"), subject)])
                    .await
                    .expect("an append beside the import");
                n += 1;
                let _ = started.try_send(());
            }
            n
        })
    };
    first.recv().await.expect("the appender started");
    let batch = events("imp", 20_000, &[Some("x"), Some("z")]);
    let imported = import(batch).await;
    done.store(true, Ordering::Release);
    let appended = appender.await.expect("the appender finished");
    assert_eq!(imported.expect("the import lands").count, 20_000);
    let stored = all(&*store).await;
    assert_streams_contiguous(&stored);
    let count = |prefix: &str| stored.iter().filter(|e| e.id().starts_with(prefix)).count();
    assert_eq!(count("app"), appended);
    assert_eq!(count("imp"), 20_000);
    let imported: Vec<&str> = stored
        .iter()
        .filter(|e| e.id().starts_with("imp"))
        .map(|e| e.id())
        .collect();
    assert!(
        imported
            .iter()
            .enumerate()
            .all(|(i, id)| *id == format!("imp{i}")),
        "imported events in iteration order"
    );
}
