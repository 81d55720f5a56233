//! A batch over `MAX_SUBJECT_LOCKS` distinct subjects is wide on every path, even when
//! two of its subjects share a `hashtext`: the subject-lock statement and the append
//! statements decide it from the same count, so no append takes the table's append
//! lock shared and then waits to take it exclusively (a lock upgrade, which deadlocks
//! against any other append doing the same).

mod common;

use eventstore_core::{AppendOptions, Event, EventStore};
use eventstore_postgres::PostgresEventStore;
use eventstore_postgres::statements::{LockKeys, MAX_SUBJECT_LOCKS, qualified};

fn event(id: &str, subject: &str) -> Event {
    Event::builder()
        .id(id)
        .source("/pg")
        .ty("pg.event")
        .subject(subject)
        .build()
        .unwrap()
}

/// Two distinct subjects with the same `hashtext`, found on the server (the hash is
/// the server's, and may differ between platforms).
async fn colliding_subjects(client: &tokio_postgres::Client) -> (String, String) {
    let row = client
        .query_one(
            "SELECT min(s), max(s) FROM (SELECT 'c' || i AS s FROM generate_series(1, 300000) i) x \
             GROUP BY hashtext(s) HAVING count(*) > 1 LIMIT 1",
            &[],
        )
        .await
        .expect("two subjects with the same hashtext");
    (row.get(0), row.get(1))
}

/// `MAX_SUBJECT_LOCKS + 1` distinct subjects, two of which share a hash: one more
/// subject than a batch locks one by one, but only `MAX_SUBJECT_LOCKS` hashes.
async fn wide_batch(client: &tokio_postgres::Client, prefix: &str) -> Vec<Event> {
    let (a, b) = colliding_subjects(client).await;
    let mut subjects = vec![a, b];
    subjects.extend((0..MAX_SUBJECT_LOCKS - 1).map(|i| format!("s{i}")));
    subjects
        .iter()
        .enumerate()
        .map(|(i, subject)| event(&format!("{prefix}{i}"), subject))
        .collect()
}

/// The advisory locks of the store's table held (`granted`) or awaited by the session
/// `pid`: `(exclusive, shared)`.
async fn locks_of(
    client: &tokio_postgres::Client,
    store: &PostgresEventStore,
    pid: i32,
    granted: bool,
) -> (i64, i64) {
    let class = LockKeys::new(&qualified(store.table())).subject;
    let row = client
        .query_one(
            "SELECT count(*) FILTER (WHERE mode = 'ExclusiveLock'), \
                    count(*) FILTER (WHERE mode = 'ShareLock') \
             FROM pg_locks WHERE locktype = 'advisory' AND pid = $1 AND granted = $2 \
                AND classid = ($3::int8 & 4294967295)::oid",
            &[&pid, &granted, &i64::from(class)],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

/// In a transaction the caller holds (`append_in`: the subject-lock statement, then
/// the full append statement), the batch takes the table's append lock exclusively and
/// no subject lock, as any batch over `MAX_SUBJECT_LOCKS` subjects does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_over_the_limit_with_colliding_hashes_is_wide_in_a_held_transaction() {
    let schema = common::Schema::new("collide_in");
    let store = schema.open().await;
    let mut client = common::admin().await;
    let batch = wide_batch(&client, "w").await;
    let tx = client.transaction().await.unwrap();
    store
        .append_in(&tx, batch, AppendOptions::new())
        .await
        .unwrap();
    let pid: i32 = tx
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    let admin = common::admin().await;
    // The append lock exclusively; nothing shared, no subject lock. (Before, counted
    // by hash, it was narrow: the append lock shared and 256 subject locks.)
    assert_eq!(locks_of(&admin, &store, pid, true).await, (1, 0));
    tx.commit().await.unwrap();
}

/// The store's own append with its locks first (as after a lost race on a stream
/// version: the subject-lock statement, then the plain append statement): while
/// another transaction holds the table's append lock shared, the wide batch waits for
/// the lock exclusively holding none of the table's locks, rather than holding it
/// shared (and every subject's lock) while it waits to take it exclusively.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_over_the_limit_with_colliding_hashes_waits_for_the_append_lock_holding_nothing() {
    let schema = common::Schema::new("collide");
    let store = schema.open().await;
    let admin = common::admin().await;
    let waiting_pids = async |store: &PostgresEventStore| -> Vec<i32> {
        let class = LockKeys::new(&qualified(store.table())).subject;
        let sql = "SELECT DISTINCT pid FROM pg_locks WHERE locktype = 'advisory' \
                   AND NOT granted AND classid = ($1::int8 & 4294967295)::oid";
        loop {
            let rows = admin.query(sql, &[&i64::from(class)]).await.unwrap();
            if !rows.is_empty() {
                return rows.iter().map(|r| r.get(0)).collect();
            }
            tokio::task::yield_now().await;
        }
    };

    // Make the store lose a race on a stream version, so that its next appends take
    // their subjects' locks first: a transaction holds subject `r`'s lock while the
    // store's append of `r` waits for it on a snapshot that its commit makes stale.
    let mut held = common::admin().await;
    let tx = held.transaction().await.unwrap();
    store
        .append_in(&tx, vec![event("r1", "r")], AppendOptions::new())
        .await
        .unwrap();
    let racer = tokio::spawn({
        let store = store.clone();
        async move { store.append(vec![event("r2", "r")]).await }
    });
    waiting_pids(&store).await;
    tx.commit().await.unwrap();
    racer.await.unwrap().expect("the raced append runs again");
    assert_eq!(store.stream_version("r").await.unwrap(), Some(2));

    // Another transaction appends elsewhere: it holds the table's append lock shared.
    let tx = held.transaction().await.unwrap();
    store
        .append_in(&tx, vec![event("x1", "x")], AppendOptions::new())
        .await
        .unwrap();
    let batch = wide_batch(&admin, "w").await;
    let wide = tokio::spawn({
        let store = store.clone();
        async move { store.append(batch).await }
    });
    let pids = waiting_pids(&store).await;
    assert_eq!(pids.len(), 1, "{pids:?}");
    assert_eq!(
        locks_of(&admin, &store, pids[0], false).await,
        (1, 0),
        "the wide batch waits for the append lock exclusively"
    );
    assert_eq!(
        locks_of(&admin, &store, pids[0], true).await,
        (0, 0),
        "the wide batch holds none of the table's locks while it waits"
    );
    tx.commit().await.unwrap();
    let appended = wide.await.unwrap().expect("the wide batch appends");
    assert_eq!(appended.appended.len(), MAX_SUBJECT_LOCKS + 1);
}
