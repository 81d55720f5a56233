//! Server faults: the store's connections terminated by the server
//! (`pg_terminate_backend`) mid-append, mid-read and mid-subscription, and statements
//! past `statement_timeout` or `lock_timeout`. Errors are typed, the pool recovers, no
//! committed event is lost and followers and relays resume. `FAULT_REPEATS` sets how
//! many terminations each test injects. And a projection waits out its checkpoint's
//! statements timing out while another session locks their table.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use eventstore_core::{Event, EventQuery, EventStore, Position, StoredEvent, follow};
use eventstore_outbox::OutboxRelay;
use eventstore_postgres::{PostgresEventStore, PostgresOptions};
use eventstore_replay::{BoxError, Projection, ProjectionRunner};
use eventstore_testkit::sender::Recorder;
use futures::{StreamExt as _, TryStreamExt as _};
use tokio_util::sync::CancellationToken;

fn repeats(short: usize) -> usize {
    std::env::var("FAULT_REPEATS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(short)
}

/// The test database's URL with extra connection parameters.
fn url_with(params: &str) -> String {
    let url = common::database_url();
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{params}")
}

/// A store whose connections carry `application_name=<schema>`, so that the test can
/// find and terminate exactly them.
async fn open(schema: &common::Schema, params: &str) -> PostgresEventStore {
    let url = url_with(&format!("application_name={}{params}", schema.name));
    PostgresOptions::from_url(&url)
        .expect("a valid URL")
        .schema(&schema.name)
        .expect("a valid schema")
        .pool_size(POOL_SIZE)
        .expect("a valid pool size")
        .poll_interval(Duration::from_millis(50))
        .open()
        .await
        .expect("the store opens")
}

/// Terminates every server process of the store (its pool and its listener); returns
/// how many.
async fn terminate(schema: &common::Schema) -> i64 {
    common::admin()
        .await
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE application_name = $1 AND pid <> pg_backend_pid()",
            &[&schema.name],
        )
        .await
        .expect("terminate")
        .get(0)
}

fn batch(n: usize, size: usize) -> Vec<Event> {
    (0..size)
        .map(|i| {
            Event::builder()
                .id(format!("b{n}-{i}"))
                .source("/faults")
                .ty("fault.event")
                .subject(format!("s{}", n % 3))
                .build()
                .expect("valid")
        })
        .collect()
}

/// Runs `f` until it succeeds: each pooled connection the server terminated fails the
/// one operation that picks it up (typed), then the pool replaces it, so recovery takes
/// at most one failure per pooled connection.
async fn recovered<T, F: std::future::Future<Output = eventstore_core::Result<T>>>(
    f: impl Fn() -> F,
) -> T {
    for _ in 0..POOL_SIZE {
        match f().await {
            Ok(value) => return value,
            Err(e) => assert!(e.is_database(), "untyped: {e:?}"),
        }
    }
    f().await.expect("the pool recovered")
}

const POOL_SIZE: usize = 4;

async fn ids(store: &PostgresEventStore) -> Vec<String> {
    let events: Vec<StoredEvent> = recovered(|| store.query(EventQuery::new()).try_collect()).await;
    events.iter().map(|e| e.id().to_owned()).collect()
}

/// Appends that fail while their connections are terminated fail typed, are all or
/// nothing, and later appends succeed: the pool replaces the dead connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn appends_survive_terminated_connections() {
    let schema = common::Schema::new("fault_append");
    let store = open(&schema, "").await;
    let appender = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for n in 0..400 {
                let result = store.append(batch(n, 25)).await;
                if let Err(e) = &result {
                    assert!(e.is_database() || e.is_timeout(), "untyped: {e:?}");
                }
                outcomes.push(result.is_ok());
            }
            outcomes
        })
    };
    let mut terminated = 0;
    for _ in 0..repeats(8) {
        tokio::time::sleep(Duration::from_millis(15)).await;
        terminated += terminate(&schema).await;
    }
    let outcomes = appender.await.expect("the appender");
    let stored: HashSet<String> = ids(&store).await.into_iter().collect();
    let mut failed = 0;
    for (n, ok) in outcomes.iter().enumerate() {
        let present = (0..25)
            .filter(|i| stored.contains(&format!("b{n}-{i}")))
            .count();
        if *ok {
            assert_eq!(
                present, 25,
                "batch {n} was acknowledged but is not all stored"
            );
        } else {
            failed += 1;
            // The connection died around the commit: either way, all or nothing.
            assert!(
                present == 0 || present == 25,
                "batch {n}: {present} of 25 stored"
            );
        }
    }
    recovered(|| store.append(batch(1000, 5))).await;
    eprintln!("appends: {terminated} connections terminated, {failed} of 400 batches failed");
}

/// A read whose connection is terminated ends with a typed error (or completes, when
/// it had already read everything); the next read is complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_survive_terminated_connections() {
    let schema = common::Schema::new("fault_read");
    let store = open(&schema, "").await;
    // 16 MiB of events: the server is still sending when the connection dies.
    for n in 0..100 {
        let heavy = batch(n, 50).into_iter().map(|e| {
            e.into_builder()
                .binary(vec![0u8; 3400])
                .build()
                .expect("valid")
        });
        store.append(heavy.collect()).await.expect("seed");
    }
    let mut broken = 0;
    for _ in 0..repeats(8) {
        let mut stream = store.query(EventQuery::new());
        let mut read = 0;
        let mut outcome = Ok(());
        while let Some(event) = stream.next().await {
            match event {
                Ok(_) => read += 1,
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            }
            if read == 100 {
                terminate(&schema).await;
            }
        }
        match outcome {
            Ok(()) => assert_eq!(read, 5000, "a read that ends without error is complete"),
            Err(e) => {
                assert!(e.is_database(), "untyped: {e:?}");
                broken += 1;
            }
        }
        let versions = recovered(|| async {
            let stream = store.stream("s1", 1);
            stream
                .map_ok(|e| e.stream_version().unwrap_or(0))
                .try_collect::<Vec<i64>>()
                .await
        })
        .await;
        assert_eq!(versions, (1..=versions.len() as i64).collect::<Vec<_>>());
        assert_eq!(ids(&store).await.len(), 5000);
    }
    eprintln!("reads: {broken} broken by a terminated connection");
}

/// A projection that records the ids it handled.
#[derive(Clone, Default)]
struct Seen(Arc<std::sync::Mutex<HashSet<String>>>);

#[async_trait::async_trait]
impl Projection for Seen {
    fn name(&self) -> &str {
        "faults"
    }

    async fn handle(&self, event: &StoredEvent) -> Result<(), BoxError> {
        self.0.lock().unwrap().insert(event.id().to_owned());
        Ok(())
    }
}

/// A follower whose connections are terminated ends with a typed error; following again
/// from its last position misses and repeats nothing. A relay and a projection runner
/// keep delivering: they wait the failures out and resume from their checkpoints.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn followers_and_relays_resume_after_terminated_connections() {
    let schema = common::Schema::new("fault_follow");
    let store = open(&schema, "").await;
    let recorder = Arc::new(Recorder::default());
    let relay = OutboxRelay::new("faults", Arc::new(store.clone()), recorder.clone());
    let stop = CancellationToken::new();
    let relaying = tokio::spawn({
        let stop = stop.clone();
        async move { relay.run(stop).await }
    });
    let projected = Seen::default();
    let projecting = tokio::spawn({
        let (stop, runner) = (
            stop.clone(),
            ProjectionRunner::new(Arc::new(store.clone())).with(projected.clone()),
        );
        async move { runner.run(stop).await }
    });
    let shared: Arc<dyn EventStore> = Arc::new(store.clone());
    let mut seen: Vec<StoredEvent> = Vec::new();
    let mut resumed = 0;
    let rounds = repeats(8);
    let mut committed = 0;
    for round in 0..rounds {
        let from = seen
            .last()
            .map_or(Position::Start, |e| Position::After(e.sequence()));
        let mut follower = follow(Arc::clone(&shared), EventQuery::new(), from);
        // Appends retried until acknowledged: every batch ends up committed once.
        for attempt in 0.. {
            match store.append(batch(round, 20)).await {
                Ok(_) => break,
                Err(e) if e.is_database() && attempt < 5 => {
                    let stored = ids(&store).await;
                    if stored.contains(&format!("b{round}-0")) {
                        break; // The commit went through before the connection died.
                    }
                }
                Err(e) => panic!("append after a fault: {e:?}"),
            }
        }
        committed += 20;
        terminate(&schema).await;
        loop {
            let next = tokio::time::timeout(Duration::from_secs(10), follower.next()).await;
            match next.expect("the follower moves") {
                Some(Ok(event)) => {
                    seen.push(event);
                    if seen.len() == committed {
                        break;
                    }
                }
                Some(Err(e)) => {
                    assert!(e.is_database(), "untyped: {e:?}");
                    // Past an error it ends rather than skip what it could not read.
                    assert!(follower.next().await.is_none(), "the follower went on");
                    resumed += 1;
                    break;
                }
                None => panic!("the follower ended"),
            }
        }
    }
    // Catch up whatever a broken follower had not read yet. A pooled connection the
    // server terminated fails the one operation that next takes it (documented), so
    // the catch-up re-follows from its last event on such a typed error, at most once
    // per pooled connection.
    let mut broken_connections = 0;
    while seen.len() < committed {
        let from = seen
            .last()
            .map_or(Position::Start, |e| Position::After(e.sequence()));
        let mut follower = follow(Arc::clone(&shared), EventQuery::new(), from);
        while seen.len() < committed {
            let next = tokio::time::timeout(Duration::from_secs(10), follower.next()).await;
            match next.expect("catching up").expect("an event") {
                Ok(event) => seen.push(event),
                Err(e) => {
                    assert!(e.is_database(), "untyped: {e:?}");
                    broken_connections += 1;
                    assert!(
                        broken_connections <= POOL_SIZE,
                        "more faults than dead connections: {e:?}"
                    );
                    break;
                }
            }
        }
    }
    let sequences: Vec<i64> = seen.iter().map(StoredEvent::sequence).collect();
    assert!(
        sequences.windows(2).all(|w| w[0] < w[1]),
        "in order, once each"
    );
    assert_eq!(seen.len(), ids(&store).await.len(), "nothing missed");
    // Every event at least once: redeliveries after a terminated connection count in
    // what the recorder received, so wait for the distinct ids.
    for _ in 0..1200 {
        if recorder.ids().into_iter().collect::<HashSet<_>>().len() >= committed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for _ in 0..600 {
        if projected.0.lock().unwrap().len() == committed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    for report in projecting.await.expect("the projection task") {
        report.result.expect("the projection kept running");
    }
    assert_eq!(
        projected.0.lock().unwrap().len(),
        committed,
        "the projection handled every event"
    );
    relaying
        .await
        .expect("the relay task")
        .expect("the relay kept running");
    let relayed: HashSet<String> = recorder.ids().into_iter().collect();
    assert_eq!(relayed.len(), committed, "the relay delivered every event");
    eprintln!("follow: {rounds} terminations, the follower resumed {resumed} times");
}

/// A statement cancelled by `statement_timeout`, or a lock wait past `lock_timeout`, is
/// an [`Error::Timeout`](eventstore_core::Error::Timeout) and writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn statement_and_lock_timeouts_are_typed() {
    for (name, setting) in [
        ("statement", "statement_timeout%3D200"),
        ("lock", "lock_timeout%3D200"),
    ] {
        let schema = common::Schema::new("fault_timeout");
        let store = open(&schema, &format!("&options=-c%20{setting}")).await;
        store
            .append(batch(0, 3))
            .await
            .expect("an append before the lock");
        // Another session locks the table: the store's statements wait, then time out.
        let client = common::admin().await;
        client
            .batch_execute(&format!(
                "BEGIN; LOCK TABLE \"{}\".events IN ACCESS EXCLUSIVE MODE",
                schema.name
            ))
            .await
            .expect("the lock");
        let error = store.append(batch(1, 3)).await.expect_err("timed out");
        assert!(error.is_timeout(), "{name}: {error:?}");
        assert!(error.to_string().contains("timed out"), "{error}");
        let read: Result<Vec<StoredEvent>, _> = store.query(EventQuery::new()).try_collect().await;
        let error = read.expect_err("the read timed out too");
        assert!(error.is_timeout(), "{name}: {error:?}");
        client.batch_execute("ROLLBACK").await.expect("unlock");
        assert_eq!(
            ids(&store).await.len(),
            3,
            "{name}: the timed-out append wrote nothing"
        );
        store.append(batch(2, 3)).await.expect("appends work again");
    }
}

/// A projection waits out its checkpoint's statements timing out (`statement_timeout`
/// 200 ms) while another session locks the checkpoint table for a second: the replay
/// suite's test, SQLite's outage being its write lock held
/// (`eventstore-replay/tests/sqlite_faults.rs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_store_outage_while_applying_is_waited_out() {
    let schema = common::Schema::new("fault_apply");
    let store = open(&schema, "&options=-c%20statement_timeout%3D200").await;
    let lock = format!(
        "BEGIN; LOCK TABLE {} IN EXCLUSIVE MODE",
        store.table().companion_qualified("checkpoints")
    );
    let outage = move || {
        let lock = lock.clone();
        let (locked, taken) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let client = common::admin().await;
            client.batch_execute(&lock).await.expect("the lock");
            locked.send(()).expect("the handler waits");
            tokio::time::sleep(Duration::from_secs(1)).await;
            client.batch_execute("ROLLBACK").await.expect("unlock");
        });
        Box::pin(async move { taken.await.expect("the lock is taken") })
            as futures::future::BoxFuture<'static, ()>
    };
    eventstore_testkit::replay::a_store_outage_while_applying_is_waited_out(
        Arc::new(store),
        Box::new(outage),
    )
    .await;
}

/// A call that waits for a pooled connection past `wait_timeout`, every connection held
/// by open reads, is an [`Error::Timeout`](eventstore_core::Error::Timeout) and writes
/// nothing; once a read ends, its connection serves the next call.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pool_wait_past_its_timeout_is_typed() {
    let schema = common::Schema::new("fault_pool_wait");
    let store = schema
        .options()
        .pool_size(1)
        .expect("a valid pool size")
        .wait_timeout(Some(Duration::from_millis(50)))
        .expect("a valid wait time-out")
        .open()
        .await
        .expect("the store opens");
    store.append(batch(0, 3)).await.expect("the first batch");
    // The read holds the pool's only connection until it ends.
    let mut read = store.query(EventQuery::new());
    read.next()
        .await
        .expect("an event")
        .expect("the read starts");
    let error = store.append(batch(1, 3)).await.expect_err("no connection");
    assert!(error.is_timeout(), "{error:?}");
    let error = store
        .get("/faults", "b0-0")
        .await
        .expect_err("no connection");
    assert!(error.is_timeout(), "{error:?}");
    drop(read);
    assert_eq!(
        ids(&store).await.len(),
        3,
        "the timed-out append wrote nothing"
    );
    store.append(batch(2, 3)).await.expect("appends work again");
}
