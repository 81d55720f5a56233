//! Appends without expectations always succeed under contention: eight writers of
//! 100-event batches spread over 1,000 shared subjects (each batch locking ~95 of them),
//! every batch appended, each subject's versions 1..n without a gap or a repeat.

mod common;

use std::collections::HashMap;

use eventstore_core::{
    AppendOptions, Event, EventQuery, EventStore as _, ExpectedVersion, OnDuplicate,
};
use futures::TryStreamExt as _;

const WRITERS: usize = 8;
const BATCHES: usize = 40;
const BATCH: usize = 100;
const SUBJECTS: u64 = 1_000;

fn event(w: usize, b: usize, i: usize) -> Event {
    Event::builder()
        .id(format!("w{w}-b{b}-{i}"))
        .source("/contended")
        .ty("t")
        .subject(format!(
            "s{}",
            spread((w * 1_000_000 + b * 1_000 + i) as u64) % SUBJECTS
        ))
        .build()
        .expect("valid")
}

/// A bijective mix of the index (SplitMix64's finalizer): subjects in no order.
fn spread(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_batches_on_shared_subjects_all_append() {
    let schema = common::Schema::new("contended");
    let store = schema.open().await;
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for b in 0..BATCHES {
                    let batch = (0..BATCH).map(|i| event(w, b, i)).collect();
                    store
                        .append(batch)
                        .await
                        .expect("an append without expectations succeeds");
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("a writer finishes");
    }
    let events: Vec<_> = store
        .query(EventQuery::new())
        .try_collect()
        .await
        .expect("reads");
    assert_eq!(events.len(), WRITERS * BATCHES * BATCH);
    let mut versions: HashMap<String, Vec<i64>> = HashMap::new();
    for e in &events {
        versions
            .entry(e.subject().expect("a subject").to_owned())
            .or_default()
            .push(e.stream_version().expect("a version"));
    }
    for (subject, mut v) in versions {
        v.sort_unstable();
        let expected: Vec<i64> = (1..=v.len() as i64).collect();
        assert_eq!(v, expected, "versions of {subject}");
    }
}

fn on(subject: &str, id: &str) -> Event {
    Event::builder()
        .id(id)
        .source("/lock-first")
        .ty("t")
        .subject(subject)
        .build()
        .expect("valid")
}

/// Waits until some backend waits for the append lock of one of `subjects` (a two-key
/// advisory lock whose second key is the subject's hash; other tests' subjects differ).
async fn until_a_lock_is_awaited(admin: &tokio_postgres::Client, subjects: &[&str]) {
    for _ in 0..500 {
        let row = admin
            .query_one(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted \
                 AND objsubid = 2 AND objid IN (SELECT hashtext(s)::oid FROM unnest($1::text[]) s)",
                &[&subjects],
            )
            .await
            .expect("pg_locks reads");
        if row.get::<_, i64>(0) > 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("no append waited for the held subject lock");
}

/// An append that lost a race on a stream version makes the store take subjects' locks
/// before its statements for a while (in a transaction of its own, pipelined): on that
/// path too a stored duplicate, a failed expectation and numbering inside a batch behave
/// as on the optimistic one, and a refused batch writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_lost_race_appends_lock_first_with_the_same_semantics() {
    let schema = common::Schema::new("lock_first");
    let store = schema.open().await;
    let admin = common::admin().await;
    // Subject names unique to this run: the lock wait looked for is this test's.
    let (x, y) = (format!("x-{}", schema.name), format!("y-{}", schema.name));
    let (x, y) = (x.as_str(), y.as_str());
    let mut held = store.pool().get().await.expect("a connection");
    let tx = held.transaction().await.expect("a transaction");
    store
        .append_in(&*tx, vec![on(x, "held")], AppendOptions::new())
        .await
        .expect("the held append");
    let waiter = tokio::spawn({
        let (store, x) = (store.clone(), x.to_owned());
        async move { store.append(vec![on(&x, "waiter")]).await }
    });
    until_a_lock_is_awaited(&admin, &[x]).await;
    tx.commit().await.expect("commits");
    let waited = waiter.await.expect("joins").expect("appends");
    let appended = &waited.appended[0];
    assert_eq!(appended.stream_version, Some(2));
    // Its first statement took sequence 2 before it lost the race and rolled back.
    assert!(
        appended.sequence > 2,
        "the waiting append did not race (sequence {}): this test no longer reaches the \
         locked path",
        appended.sequence
    );

    let stored_duplicate = store
        .append(vec![on(y, "fresh"), on(x, "held")])
        .await
        .expect_err("a stored (source, id)");
    assert!(stored_duplicate.is_duplicate(), "{stored_duplicate}");
    let stale = store
        .append_with(
            vec![on(x, "stale")],
            AppendOptions::new().expect(x, ExpectedVersion::Exact(1)),
        )
        .await
        .expect_err("x is at version 2");
    assert!(stale.is_conflict(), "{stale}");
    let mixed = store
        .append(vec![on(x, "a"), on(y, "b"), on(x, "c")])
        .await
        .expect("appends");
    let versions: Vec<_> = mixed.appended.iter().map(|a| a.stream_version).collect();
    assert_eq!(versions, [Some(3), Some(1), Some(4)]);

    let ids: Vec<String> = store
        .query(EventQuery::new())
        .map_ok(|e| e.id().to_owned())
        .try_collect()
        .await
        .expect("reads");
    assert_eq!(ids, ["held", "waiter", "a", "b", "c"]);
}

/// A batch that checks a subject it does not write holds that subject's lock: a
/// concurrent batch writing it waits, and cannot pass a check of its own that the held
/// batch's events break (write skew). As on SQLite, where the second writer waits for
/// the first's transaction and then sees its events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checked_subject_is_locked_although_not_written() {
    let schema = common::Schema::new("write_skew");
    let store = schema.open().await;
    let admin = common::admin().await;
    let (x, y) = (format!("x-{}", schema.name), format!("y-{}", schema.name));
    let (x, y) = (x.as_str(), y.as_str());
    store
        .append(vec![on(x, "x1"), on(y, "y1")])
        .await
        .expect("the first events");
    let mut held = store.pool().get().await.expect("a connection");
    let tx = held.transaction().await.expect("a transaction");
    // Writes y, provided x is still at 1.
    store
        .append_in(
            &*tx,
            vec![on(y, "y2")],
            AppendOptions::new().expect(x, ExpectedVersion::Exact(1)),
        )
        .await
        .expect("the held append");
    // Writes x, provided y is still at 1: the held batch's y2 breaks that.
    let skewed = tokio::spawn({
        let (store, y, x) = (store.clone(), y.to_owned(), x.to_owned());
        async move {
            store
                .append_with(
                    vec![on(&x, "x2")],
                    AppendOptions::new().expect(&y, ExpectedVersion::Exact(1)),
                )
                .await
        }
    });
    // It waits for x or y, whichever it locks first (hash order).
    until_a_lock_is_awaited(&admin, &[x, y]).await;
    tx.commit().await.expect("commits");
    let refused = skewed.await.expect("joins").expect_err("y moved on");
    assert!(refused.is_conflict(), "{refused}");
    assert_eq!(store.stream_version(x).await.expect("reads"), Some(1));
    assert_eq!(store.stream_version(y).await.expect("reads"), Some(2));
}

/// In a REPEATABLE READ transaction the snapshot is the transaction's, taken before the
/// subject locks: a version committed since is not seen, the insert meets it on the
/// stream-version index, and the append is a conflict that names the version taken
/// (not "no stream"). READ COMMITTED, PostgreSQL's default, sees it (docs/outbox.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_snapshot_is_a_conflict_naming_the_version_taken() {
    let schema = common::Schema::new("repeatable");
    let store = schema.open().await;
    let x = format!("x-{}", schema.name);
    let mut held = store.pool().get().await.expect("a connection");
    let tx = held
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .start()
        .await
        .expect("a transaction");
    tx.query_one("SELECT 1", &[])
        .await
        .expect("the snapshot is taken");
    store.append(vec![on(&x, "x1")]).await.expect("appends");
    let refused = store
        .append_in(&*tx, vec![on(&x, "x2")], AppendOptions::new())
        .await
        .expect_err("the snapshot is stale");
    let eventstore_core::Error::Conflict {
        subject, actual, ..
    } = refused
    else {
        panic!("{refused}");
    };
    assert_eq!((subject, actual), (x.clone(), Some(1)));
}

/// Waits until a backend running a statement on `schema`'s tables waits for a lock.
async fn until_a_statement_waits(admin: &tokio_postgres::Client, schema: &str) {
    for _ in 0..500 {
        let waiting: bool = admin
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_stat_activity \
                 WHERE wait_event_type = 'Lock' AND strpos(query, $1) > 0)",
                &[&schema],
            )
            .await
            .expect("pg_stat_activity reads")
            .get(0);
        if waiting {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("no statement on {schema} waited for a lock");
}

/// Two writers that each hold an event of the other's batch deadlock on the
/// `(source, id)` index, and the server ends one of them (SQLSTATE 40P01). When that
/// is the store's own append, it rolled back whole and runs again, instead of failing
/// with a database error: it then waits for the other transaction, and skips both
/// events once that commits, as on SQLite, where the second writer waits for the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_the_server_ends_for_a_deadlock_runs_again() {
    let schema = common::Schema::new("deadlock");
    let store = schema.open().await;
    let admin = common::admin().await;
    // No subject: no subject lock orders the two writers.
    let unsubjected = |id: &str| {
        Event::builder()
            .id(id)
            .source("/deadlock")
            .ty("t")
            .build()
            .expect("valid")
    };
    let mut held = store.pool().get().await.expect("a connection");
    let tx = held.transaction().await.expect("a transaction");
    // This side looks for the deadlock long after the store's append does, so that the
    // server ends the store's append.
    tx.batch_execute("SET LOCAL deadlock_timeout = '60s'")
        .await
        .expect("the superuser sets it");
    store
        .append_in(&*tx, vec![unsubjected("x")], AppendOptions::new())
        .await
        .expect("x");
    let racer = tokio::spawn({
        let store = store.clone();
        let batch = vec![unsubjected("y"), unsubjected("x")];
        async move {
            store
                .append_with(batch, AppendOptions::new().on_duplicate(OnDuplicate::Skip))
                .await
        }
    });
    // The racer has inserted y and waits for x.
    until_a_statement_waits(&admin, &schema.name).await;
    store
        .append_in(&*tx, vec![unsubjected("y")], AppendOptions::new())
        .await
        .expect("y, once the server has ended the racer's statement");
    tx.commit().await.expect("commits");
    let raced = racer
        .await
        .expect("joins")
        .expect("the racer runs again and skips both");
    assert!(raced.appended.is_empty(), "{raced:?}");
    let skipped: Vec<usize> = raced.skipped.iter().map(|s| s.index).collect();
    assert_eq!(skipped, [0, 1]);
    let ids: Vec<String> = store
        .query(EventQuery::new())
        .map_ok(|e| e.id().to_owned())
        .try_collect()
        .await
        .expect("reads");
    assert_eq!(ids, ["x", "y"]);
}

/// `append_in` on a client outside a transaction block: each statement is a
/// transaction of its own, so the subject locks of its first statement are gone when
/// its append statement runs, which can lose the race for a stream version to a
/// concurrent writer. It runs again, as `append_with` does, instead of reporting a
/// conflict on a stream the caller never asked to check.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn append_in_outside_a_transaction_appends_under_contention() {
    const CLIENTS: usize = 4;
    const EACH: usize = 30;
    let schema = common::Schema::new("in_contended");
    let store = schema.open().await;
    let subject = format!("s-{}", schema.name);
    let writers: Vec<_> = (0..CLIENTS)
        .map(|w| {
            let (store, subject) = (store.clone(), subject.clone());
            tokio::spawn(async move {
                let client = store.pool().get().await.expect("a connection");
                for i in 0..EACH {
                    store
                        .append_in(
                            &**client,
                            vec![on(&subject, &format!("w{w}-{i}"))],
                            AppendOptions::new(),
                        )
                        .await?;
                }
                Ok::<_, eventstore_core::Error>(())
            })
        })
        .collect();
    for writer in writers {
        writer
            .await
            .expect("joins")
            .expect("every append without expectations appends");
    }
    let versions: Vec<Option<i64>> = store
        .stream(&subject, 1)
        .map_ok(|e| e.stream_version())
        .try_collect()
        .await
        .expect("reads");
    let expected: Vec<Option<i64>> = (1..=(CLIENTS * EACH) as i64).map(Some).collect();
    assert_eq!(versions, expected);
}

/// Where transactions default to SERIALIZABLE (a role's or database's
/// `default_transaction_isolation`), an append that waited for another writer's subject
/// lock fails its insert with a serialization failure (SQLSTATE 40001) rather than a
/// unique violation. It rolled back whole, and runs again, as after a lost race.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_ended_by_a_serialization_failure_runs_again() {
    let schema = common::Schema::new("serializable");
    let url = common::database_url();
    let sep = if url.contains('?') { '&' } else { '?' };
    let store = eventstore_postgres::PostgresOptions::from_url(&format!(
        "{url}{sep}options=-c%20default_transaction_isolation%3Dserializable"
    ))
    .expect("a valid URL")
    .schema(&schema.name)
    .expect("a valid schema")
    .open()
    .await
    .expect("opens");
    let admin = common::admin().await;
    let x = format!("x-{}", schema.name);
    let mut held = store.pool().get().await.expect("a connection");
    let tx = held.transaction().await.expect("a transaction");
    let isolation: String = tx
        .query_one("SHOW transaction_isolation", &[])
        .await
        .expect("shows")
        .get(0);
    assert_eq!(isolation, "serializable");
    store
        .append_in(&*tx, vec![on(&x, "held")], AppendOptions::new())
        .await
        .expect("the held append");
    let waiter = tokio::spawn({
        let (store, x) = (store.clone(), x.clone());
        async move { store.append(vec![on(&x, "waiter")]).await }
    });
    until_a_lock_is_awaited(&admin, &[&x]).await;
    tx.commit().await.expect("commits");
    let waited = waiter
        .await
        .expect("joins")
        .expect("the waiter runs again and appends");
    assert_eq!(waited.appended[0].stream_version, Some(2));
}
