//! What only PostgreSQL has: concurrent migration, the schema version guard, lossless
//! JSON beside jsonb, TLS, the horizon's lag, "since" reads planned with their values,
//! and the table lock of batches over many subjects (bulk import: tests/import.rs).

mod common;

use eventstore_core::{Data, Event, EventQuery, EventStore, Json};
use eventstore_postgres::{PostgresOptions, TlsMode, TlsOptions};
use futures::{StreamExt as _, TryStreamExt as _};

fn event(id: &str, subject: &str) -> Event {
    Event::builder()
        .id(id)
        .source("/pg")
        .ty("pg.event")
        .subject(subject)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_migrations_both_succeed_and_one_applies() {
    let schema = common::Schema::new("mig");
    let err = schema
        .options()
        .auto_migrate(false)
        .open()
        .await
        .unwrap_err();
    assert!(err.is_schema_mismatch(), "{err}");
    // Two option sets, so two pools: as two processes starting at once.
    let (a, b) = (schema.options(), schema.options());
    let (a, b) = tokio::join!(a.migrate(), b.migrate());
    let (a, b) = (a.expect("first migration"), b.expect("second migration"));
    let mut applied = [a, b];
    applied.sort();
    let all: Vec<i64> = (1..=eventstore_postgres::SCHEMA_VERSION).collect();
    assert_eq!(applied, [vec![], all]);
    let store = schema
        .options()
        .auto_migrate(false)
        .open()
        .await
        .expect("migrated");
    store.append(vec![event("1", "s")]).await.unwrap();
    assert!(schema.options().migrate().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_newer_than_the_code_is_refused() {
    let schema = common::Schema::new("new");
    let store = schema.open().await;
    let client = store.pool().get().await.unwrap();
    client
        .execute(
            &format!(
                "INSERT INTO \"{}\".eventstore_migrations (table_name, version, description) \
                 VALUES ('events', 99, 'from the future')",
                schema.name
            ),
            &[],
        )
        .await
        .unwrap();
    let err = schema.options().open().await.unwrap_err();
    assert!(
        matches!(err, eventstore_core::Error::SchemaTooNew { found: 99, .. }),
        "{err}"
    );
}

/// The event table's text columns and their collations, in column order.
async fn text_collations(client: &tokio_postgres::Client, schema: &str) -> Vec<(String, String)> {
    client
        .query(
            "SELECT a.attname::text, c.collname::text FROM pg_attribute a \
             JOIN pg_collation c ON c.oid = a.attcollation \
             WHERE a.attrelid = to_regclass($1) AND a.atttypid = 'text'::regtype \
             AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            &[&format!("\"{schema}\".events")],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_at_schema_version_2_upgrades_in_place_with_its_events() {
    let schema = common::Schema::new("upgrade");
    let store = schema.open().await;
    let admin = common::admin().await;
    // Subjects that differ only in case or accents, and ids that sort differently by
    // bytes and by most locales: every unique index is rebuilt over them. Appended
    // before the schema goes back to version 2: a store names its objects as its build
    // does.
    let subjects = ["Order-1", "order-1", "ordér-1", "ORDER-1"];
    let mut events = Vec::new();
    for (s, subject) in subjects.iter().enumerate() {
        for v in 0..3 {
            let e = event(&format!("{}-{v}", ["a", "B", "é", "_"][s]), subject);
            let e = e
                .into_builder()
                .correlationid(format!("Corr-{s}"))
                .topic(format!("Topic-{s}"))
                .build()
                .unwrap();
            events.push(e);
        }
    }
    store.append(events.clone()).await.unwrap();
    drop(store);
    // Back to what version 2 made: the text columns under the database's collation (all
    // but `time`), the names before version 4, and no record of version 3 or later.
    let columns = [
        "id",
        "source",
        "specversion",
        "type",
        "subject",
        "datacontenttype",
        "dataschema",
        "correlationid",
        "topic",
        "destination",
        "data_kind",
    ];
    let revert: Vec<String> = columns
        .iter()
        .map(|c| format!("ALTER COLUMN {c} TYPE text COLLATE \"default\""))
        .collect();
    admin
        .batch_execute(&format!(
            "ALTER TABLE \"{s}\".events {}; \
             DELETE FROM \"{s}\".eventstore_migrations WHERE version >= 3",
            revert.join(", "),
            s = schema.name
        ))
        .await
        .unwrap();
    common::to_legacy_names(&admin, &schema.name, "events").await;
    assert!(
        text_collations(&admin, &schema.name)
            .await
            .iter()
            .any(|(_, collation)| collation == "default")
    );

    assert_eq!(schema.options().migrate().await.unwrap(), vec![3, 4]);
    let collations = text_collations(&admin, &schema.name).await;
    assert_eq!(collations.len(), columns.len() + 1, "{collations:?}");
    assert!(
        collations.iter().all(|(_, collation)| collation == "C"),
        "{collations:?}"
    );

    let store = schema.options().auto_migrate(false).open().await.unwrap();
    let read: Vec<_> = store.query(EventQuery::new()).try_collect().await.unwrap();
    let read: Vec<&Event> = read.iter().map(|r| r.event()).collect();
    assert_eq!(read, events.iter().collect::<Vec<_>>());
    for (s, subject) in subjects.iter().enumerate() {
        let stream: Vec<_> = store.stream(subject, 1).try_collect().await.unwrap();
        let versions: Vec<i64> = stream.iter().map(|r| r.stream_version().unwrap()).collect();
        assert_eq!(versions, [1, 2, 3], "{subject}");
        let by_topic: Vec<_> = store
            .query(EventQuery::new().topic(format!("Topic-{s}")))
            .try_collect()
            .await
            .unwrap();
        assert_eq!(by_topic.len(), 3, "{subject}");
    }
    // The rebuilt unique indexes still refuse what they refused.
    let err = store.append(vec![events[4].clone()]).await.unwrap_err();
    assert!(err.is_duplicate(), "{err}");
    store.append(vec![event("next", "order-1")]).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_that_jsonb_would_change_round_trips_exactly() {
    let schema = common::Schema::new("json");
    let store = schema.open().await;
    let texts = [
        r#"{"nul":"a\u0000b"}"#,
        r#"[1e2, -0, 2.5E-3]"#,
        r#"{"b":1,"a":{"z":[true,null]}}"#,
    ];
    let events: Vec<Event> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            event(&i.to_string(), "json")
                .into_builder()
                .data(Data::Json(Json::from_string((*t).to_owned()).unwrap()))
                .build()
                .unwrap()
        })
        .collect();
    store.append(events.clone()).await.unwrap();
    let read: Vec<_> = store.stream("json", 1).try_collect().await.unwrap();
    for (e, r) in events.iter().zip(&read) {
        assert_eq!(r.event(), e);
    }
    // Exactly as written where jsonb would change the meaning.
    assert_eq!(
        read[0].data().unwrap().as_json().unwrap().as_str(),
        texts[0]
    );
    assert_eq!(
        read[1].data().unwrap().as_json().unwrap().as_str(),
        texts[1]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_horizon_lags_while_an_append_is_held_open() {
    let schema = common::Schema::new("lag");
    let store = schema.open().await;
    store.append(vec![event("1", "s")]).await.unwrap();
    let mut client = store.pool().get().await.unwrap();
    let tx = client.transaction().await.unwrap();
    store
        .append_in(&*tx, vec![event("2", "s")], Default::default())
        .await
        .unwrap();
    store.append(vec![event("3", "t")]).await.unwrap();
    let horizon = store.horizon().await.unwrap();
    assert_eq!((horizon.head, horizon.safe, horizon.lag()), (3, 1, 2));
    // A follower stops at the horizon; a plain query does not wait for it.
    let followed: Vec<_> = store
        .query(EventQuery::new().after(0))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(followed.len(), 1);
    let plain: Vec<_> = store.query(EventQuery::new()).try_collect().await.unwrap();
    assert_eq!(plain.len(), 2);
    tx.commit().await.unwrap();
    let horizon = store.horizon().await.unwrap();
    assert_eq!(horizon.lag(), 0);
    let followed: Vec<_> = store
        .query(EventQuery::new().after(0))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(followed.len(), 3);
}

/// Keyset pages (`after` with a limit) are first read up to the highest horizon the
/// store already knows, without computing one; a page that comes back short goes on up
/// to a fresh horizon, so an event committed since is still read, and one held back by
/// an open append is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyset_pages_past_the_known_horizon_continue_up_to_a_fresh_one() {
    let schema = common::Schema::new("known");
    let store = schema.open().await;
    let sequences = |events: Vec<eventstore_core::StoredEvent>| -> Vec<i64> {
        events.iter().map(|e| e.sequence()).collect()
    };
    let page = |after: i64, limit: u64| {
        store
            .query(EventQuery::new().after(after).limit(limit))
            .try_collect::<Vec<_>>()
    };
    let ids = |range: std::ops::Range<i32>, subject: &str| -> Vec<Event> {
        range.map(|i| event(&i.to_string(), subject)).collect()
    };
    store.append(ids(1..11, "a")).await.unwrap();
    assert_eq!(store.horizon().await.unwrap().safe, 10);
    store.append(ids(11..16, "b")).await.unwrap();
    // The store knows horizon 10; events 11..=15 committed since.
    assert_eq!(sequences(page(0, 5).await.unwrap()), [1, 2, 3, 4, 5]);
    assert_eq!(sequences(page(8, 5).await.unwrap()), [9, 10, 11, 12, 13]);
    assert_eq!(sequences(page(0, 100).await.unwrap()).len(), 15);
    assert_eq!(
        sequences(
            store
                .query(EventQuery::new().after(8).max_sequence(10).limit(5))
                .try_collect()
                .await
                .unwrap()
        ),
        [9, 10]
    );

    let mut client = store.pool().get().await.unwrap();
    let tx = client.transaction().await.unwrap();
    store
        .append_in(&*tx, ids(16..17, "c"), Default::default())
        .await
        .unwrap();
    store.append(ids(17..18, "d")).await.unwrap();
    assert_eq!(sequences(page(14, 10).await.unwrap()), [15]);
    tx.commit().await.unwrap();
    assert_eq!(sequences(page(14, 10).await.unwrap()), [15, 16, 17]);
    // A horizon, once seen, does not go back.
    let horizon = store.horizon().await.unwrap();
    assert_eq!((horizon.head, horizon.safe), (17, 17));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_require_connects_and_verify_full_checks_the_certificate() {
    let schema = common::Schema::new("tls");
    let url = common::database_url();
    let sep = if url.contains('?') { '&' } else { '?' };
    let store = PostgresOptions::from_url(&format!("{url}{sep}sslmode=require"))
        .unwrap()
        .schema(&schema.name)
        .unwrap()
        .open()
        .await
        .expect("sslmode=require connects");
    assert!(encrypted(&store).await, "the connection is encrypted");
    // The server's certificate is self-signed and not for 127.0.0.1: verify-full with
    // the default roots must refuse it.
    let refused = PostgresOptions::from_url(&url)
        .unwrap()
        .schema(&schema.name)
        .unwrap()
        .tls(TlsOptions::new(TlsMode::VerifyFull))
        .connect_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap()
        .open()
        .await;
    assert!(refused.is_err(), "an unverifiable certificate is refused");
}

#[tokio::test]
async fn configured_limits_are_enforced() {
    let schema = common::Schema::new("limits");
    let store = schema
        .options()
        .limits(eventstore_testkit::suite::small_limits())
        .open()
        .await
        .unwrap();
    eventstore_testkit::suite::configured_limits_are_enforced(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_since_read_runs_in_a_transaction_that_ends_even_when_its_stream_is_dropped() {
    let schema = common::Schema::new("since");
    // One connection: every call below reuses the one the read ran on.
    let store = schema.options().pool_size(1).unwrap().open().await.unwrap();
    let start = eventstore_core::time::OffsetDateTime::UNIX_EPOCH;
    let at = |s: i64| start + eventstore_core::time::Duration::seconds(s);
    let events = (0..50).map(|i| {
        Event::builder()
            .id(i.to_string())
            .source("/pg")
            .ty("pg.event")
            .time(at(i))
            .build()
            .unwrap()
    });
    store.append(events.collect()).await.unwrap();
    let since = |from: i64| EventQuery::new().time_from(at(from));

    let all: Vec<_> = store.query(since(10)).try_collect().await.unwrap();
    let ids: Vec<_> = all.iter().map(|e| e.event().id().to_owned()).collect();
    let expected: Vec<_> = (10..50).map(|i| i.to_string()).collect();
    assert_eq!(ids, expected);
    let limited: Vec<_> = store.query(since(45).limit(3)).try_collect().await.unwrap();
    assert_eq!(limited.len(), 3);
    assert_eq!(limited[0].event().id(), "45");

    // Dropped after one event: its `COMMIT` was sent with it, so the connection goes
    // back outside the read-only transaction and without its setting.
    let mut stream = store.query(since(0));
    assert!(stream.next().await.unwrap().is_ok());
    drop(stream);
    store
        .append(vec![event("after", "s")])
        .await
        .expect("an append on the read's connection is not in a read-only transaction");
    let client = store.pool().get().await.unwrap();
    let mode: String = client
        .query_one("SHOW plan_cache_mode", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(mode, "force_generic_plan");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn since_reads_are_exact_whether_or_not_the_time_probe_holds_their_range() {
    // More events than the probe scans (10,000): a start near the beginning falls back
    // to the walk, a start near the end is read from its first match, and both must
    // return exactly the events a plain reading of the filter gives.
    let schema = common::Schema::new("since_probe");
    let store = schema.options().open().await.unwrap();
    let start = eventstore_core::time::OffsetDateTime::UNIX_EPOCH;
    let at = |ms: i64| start + eventstore_core::time::Duration::milliseconds(ms);
    const EVENTS: i64 = 10_200;
    for batch in 0..EVENTS / 1_000 + 1 {
        let events = (batch * 1_000..((batch + 1) * 1_000).min(EVENTS)).map(|i| {
            Event::builder()
                .id(i.to_string())
                .source("/pg")
                .ty("pg.event")
                // Out of order by a little, as clocks of several writers are: event i
                // has time i ms, but every tenth is 5 ms late.
                .time(at(if i % 10 == 0 { i + 5 } else { i }))
                .build()
                .unwrap()
        });
        store.append(events.collect()).await.unwrap();
    }
    let time_of = |i: i64| if i % 10 == 0 { i + 5 } else { i };
    for from in [100, 10_100, 10_195, 20_000] {
        let query = EventQuery::new().time_from(at(from)).limit(50);
        let got: Vec<_> = store.query(query).try_collect().await.unwrap();
        let got: Vec<_> = got.iter().map(|e| e.event().id().to_owned()).collect();
        let expected: Vec<_> = (0..EVENTS)
            .filter(|&i| time_of(i) >= from)
            .take(50)
            .map(|i| i.to_string())
            .collect();
        assert_eq!(got, expected, "since {from} ms");
    }
}

/// A batch locks each of its subjects, up to `MAX_SUBJECT_LOCKS`; a wider one takes the
/// table's append lock exclusively instead, so that no batch the store accepts can
/// overflow the server's lock table (about 6,400 locks by default, shared by every
/// session). Counted in the caller's transaction, which holds them until it ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wide_batch_takes_one_table_lock_instead_of_one_per_subject() {
    use eventstore_core::AppendOptions;
    use eventstore_postgres::statements::MAX_SUBJECT_LOCKS;

    let schema = common::Schema::new("wide");
    let store = schema.open().await;
    let mut client = common::admin().await;
    let locks = "SELECT count(*) FILTER (WHERE mode = 'ExclusiveLock'), \
                 count(*) FILTER (WHERE mode = 'ShareLock') \
                 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()";
    let held = async |tx: &tokio_postgres::Transaction<'_>| {
        let row = tx.query_one(locks, &[]).await.unwrap();
        (row.get::<_, i64>(0), row.get::<_, i64>(1))
    };
    let batch = |prefix: &str, subjects: usize| -> Vec<Event> {
        (0..subjects)
            .map(|i| event(&format!("{prefix}{i}"), &format!("s{i}")))
            .collect()
    };

    let tx = client.transaction().await.unwrap();
    store
        .append_in(
            &tx,
            batch("narrow", MAX_SUBJECT_LOCKS),
            AppendOptions::new(),
        )
        .await
        .unwrap();
    // Each subject exclusively; the table's append lock and the horizon shared.
    assert_eq!(held(&tx).await, (MAX_SUBJECT_LOCKS as i64, 2));
    tx.rollback().await.unwrap();

    let tx = client.transaction().await.unwrap();
    store
        .append_in(
            &tx,
            batch("wide", MAX_SUBJECT_LOCKS + 1),
            AppendOptions::new(),
        )
        .await
        .unwrap();
    // The table's append lock exclusively, the horizon shared.
    assert_eq!(held(&tx).await, (1, 1));
    // A narrow batch on another subject waits for the wide one's transaction.
    let waiting = tokio::spawn({
        let store = store.clone();
        async move { store.append(vec![event("later", "elsewhere")]).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "a narrow append waits for a wide one"
    );
    tx.commit().await.unwrap();
    waiting.await.unwrap().unwrap();
    let last = format!("s{MAX_SUBJECT_LOCKS}");
    assert_eq!(store.stream_version(&last).await.unwrap(), Some(1));
}

/// `migrate()` on a store opened without migrating creates the extensions' index when
/// its options ask for it (the default) and the table lacks it, as opening with
/// migrations does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_creates_the_extensions_index_the_options_ask_for() {
    let schema = common::Schema::new("ext_index");
    let admin = common::admin().await;
    let index = format!("\"{}\".\"events$extensions\"", schema.name);
    let exists = async || -> bool {
        admin
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&index])
            .await
            .unwrap()
            .get(0)
    };
    schema
        .options()
        .extensions_index(false)
        .open()
        .await
        .unwrap();
    assert!(!exists().await, "left out when asked");
    let store = schema.options().auto_migrate(false).open().await.unwrap();
    assert_eq!(store.migrate().await.unwrap(), Vec::<i64>::new());
    assert!(exists().await, "created by migrate()");
}

/// A key=value connection string's own `sslmode` is kept (it was overwritten with the
/// default, `prefer`: `sslmode=require` could then connect in plain text).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_in_a_key_value_connection_string_is_kept() {
    let schema = common::Schema::new("tls_kv");
    let config: tokio_postgres::Config = common::database_url().parse().unwrap();
    let host = match &config.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(host) => host.clone(),
        #[allow(unreachable_patterns)]
        other => panic!("a TCP host is needed, not {other:?}"),
    };
    let key_value = format!(
        "host={host} port={} user={} dbname={} sslmode=disable",
        config.get_ports().first().copied().unwrap_or(5432),
        config.get_user().unwrap_or("postgres"),
        config.get_dbname().unwrap_or("postgres"),
    );
    let store = PostgresOptions::from_url(&key_value)
        .unwrap()
        .schema(&schema.name)
        .unwrap()
        .open()
        .await
        .unwrap();
    assert!(
        !encrypted(&store).await,
        "sslmode=disable is a plain connection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follower_reads_come_in_pages_of_the_configured_size() {
    let schema = common::Schema::new("pagesize");
    let store = schema.options().page_size(3).unwrap().open().await.unwrap();
    let events: Vec<_> = (0..10).map(|i| event(&i.to_string(), "s")).collect();
    store.append(events).await.unwrap();
    let horizon = store.horizon().await.unwrap().safe;
    // A page of 3 rows at a time, from an offset and up to a limit that are not page
    // boundaries.
    let read: Vec<_> = store
        .query(EventQuery::new().within_horizon(horizon).offset(1).limit(8))
        .try_collect()
        .await
        .unwrap();
    let ids: Vec<_> = read.iter().map(|e| e.id()).collect();
    assert_eq!(ids, ["1", "2", "3", "4", "5", "6", "7", "8"]);
    assert!(matches!(
        schema.options().page_size(0),
        Err(eventstore_core::Error::Config(_))
    ));
}

/// Whether a connection of the store's pool is encrypted.
async fn encrypted(store: &eventstore_postgres::PostgresEventStore) -> bool {
    let client = store.pool().get().await.unwrap();
    client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

/// Waits until the server backend `pid` waits for a lock another transaction holds, or
/// until `task`, which runs on it, has finished (then its result tells why).
async fn wait_for_lock<T>(
    admin: &tokio_postgres::Client,
    pid: i32,
    task: &tokio::task::JoinHandle<T>,
) {
    for _ in 0..1000 {
        let waiting: bool = admin
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_stat_activity \
                 WHERE pid = $1 AND wait_event_type = 'Lock')",
                &[&pid],
            )
            .await
            .unwrap()
            .get(0);
        if waiting || task.is_finished() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("backend {pid} never waited for a lock");
}

/// `append_in` with `OnDuplicate::Skip` skips events that concurrent transactions
/// commit while the append waits for them (the unique index makes it wait), in the
/// caller's transaction (rolled back to a savepoint and run again) and on a client
/// outside a transaction, as `append_with` does; the rest is appended, with gap-free
/// stream versions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_in_skips_a_duplicate_committed_meanwhile() {
    use eventstore_core::{AppendOptions, OnDuplicate};

    let schema = common::Schema::new("skip_race");
    let store = schema.open().await;
    let admin = common::admin().await;
    store.append(vec![event("first", "s")]).await.unwrap();
    for (in_transaction, version) in [(true, 2), (false, 3)] {
        // No subject: nothing to lock, so the append waits on the unique index instead.
        let unsubjected = |id: String| {
            Event::builder()
                .id(id)
                .source("/pg")
                .ty("pg.event")
                .build()
                .unwrap()
        };
        let once = unsubjected(format!("once-{in_transaction}"));
        let twice = unsubjected(format!("twice-{in_transaction}"));
        // Two other transactions each hold one of the batch's events: the append skips
        // both, whichever order they commit in.
        let mut holder = store.pool().get().await.unwrap();
        let first = holder.transaction().await.unwrap();
        store
            .append_in(&*first, vec![once.clone()], AppendOptions::new())
            .await
            .unwrap();
        let mut holder2 = store.pool().get().await.unwrap();
        let first2 = holder2.transaction().await.unwrap();
        store
            .append_in(&*first2, vec![twice.clone()], AppendOptions::new())
            .await
            .unwrap();
        let mut client = store.pool().get().await.unwrap();
        let pid: i32 = client
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .unwrap()
            .get(0);
        let second = tokio::spawn({
            let store = store.clone();
            let batch = vec![once, twice, event(&format!("other-{in_transaction}"), "s")];
            let options = AppendOptions::new().on_duplicate(OnDuplicate::Skip);
            async move {
                if !in_transaction {
                    return store.append_in(&**client, batch, options).await;
                }
                let tx = client.transaction().await.unwrap();
                let done = store.append_in(&*tx, batch, options).await;
                if done.is_ok() {
                    tx.commit().await.unwrap();
                }
                done
            }
        });
        wait_for_lock(&admin, pid, &second).await;
        first.commit().await.unwrap();
        wait_for_lock(&admin, pid, &second).await;
        first2.commit().await.unwrap();
        let done = second
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("in a transaction: {in_transaction}: {e}"));
        let skipped: Vec<usize> = done.skipped.iter().map(|s| s.index).collect();
        assert_eq!(skipped, [0, 1]);
        assert_eq!(done.appended.len(), 1);
        assert_eq!(done.appended[0].stream_version, Some(version));
        assert_eq!(store.stream_version("s").await.unwrap(), Some(version));
    }
    let stored: Vec<_> = store.query(EventQuery::new()).try_collect().await.unwrap();
    let ids: Vec<&str> = stored.iter().map(|e| e.id()).collect();
    assert_eq!(
        ids,
        [
            "first",
            "once-true",
            "twice-true",
            "other-true",
            "once-false",
            "twice-false",
            "other-false"
        ]
    );
}

/// `sslmode` and `sslrootcert` in a URL are percent-decoded, as tokio-postgres decodes
/// the rest of its query and as libpq decodes them: a root certificate file whose path
/// holds a space is looked for at that path, not at its escaped spelling.
#[tokio::test]
async fn sslmode_and_sslrootcert_in_a_url_are_percent_decoded() {
    let dir = std::env::temp_dir().join(format!("eventstore certs {}", std::process::id()));
    let file = dir.join("ca.pem");
    let decoded = file.to_str().expect("a UTF-8 temporary directory");
    let encoded = decoded.replace('%', "%25").replace(' ', "%20");
    let refused = PostgresOptions::from_url(&format!(
        "postgres://127.0.0.1/db?sslmode=verify%2Dca&sslrootcert={encoded}"
    ))
    .expect("verify%2Dca is verify-ca")
    .open()
    .await
    .expect_err("there is no such file");
    let message = refused.to_string();
    assert!(
        message.contains(&format!("cannot read {decoded}:")),
        "{message}"
    );
}

/// The event table's indexes are those docs/schema.md lists ("Indexes and why each
/// exists"): nine B-trees, all but the primary key composite or partial, and the
/// optional GIN index on `extensions`, which `extensions_index(false)` leaves out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_tables_indexes_are_the_documented_ones() {
    let expected = [
        "events$correlationid_sequence (correlationid, sequence) WHERE (correlationid IS NOT NULL)",
        "events$destination_sequence (destination, sequence) WHERE (destination IS NOT NULL)",
        "events$extensions gin (extensions jsonb_path_ops) WHERE (extensions IS NOT NULL)",
        "events$pkey UNIQUE (sequence)",
        "events$source_id UNIQUE (source, id)",
        "events$subject_sequence (subject, sequence) WHERE (subject IS NOT NULL)",
        "events$subject_version UNIQUE (subject, stream_version) WHERE (subject IS NOT NULL)",
        "events$time (\"time\") WHERE (\"time\" IS NOT NULL)",
        "events$topic_sequence (topic, sequence) WHERE (topic IS NOT NULL)",
        "events$type_sequence (type, sequence)",
    ];
    for gin in [true, false] {
        let schema = common::Schema::new("indexes");
        let store = schema.options().extensions_index(gin).open().await.unwrap();
        let rows = common::admin()
            .await
            .query(
                "SELECT indexname, indexdef FROM pg_indexes \
                 WHERE schemaname = $1 AND tablename = 'events' ORDER BY indexname",
                &[&schema.name],
            )
            .await
            .unwrap();
        // `CREATE [UNIQUE] INDEX name ON schema.events USING method (columns) [WHERE …]`,
        // kept as `name [UNIQUE] [method] (columns) [WHERE …]`, B-tree unnamed.
        let found: Vec<String> = rows
            .iter()
            .map(|row| {
                let (name, definition): (String, String) = (row.get(0), row.get(1));
                let unique = if definition.starts_with("CREATE UNIQUE") {
                    " UNIQUE"
                } else {
                    ""
                };
                let using = definition.split(" USING ").nth(1).unwrap_or_default();
                let using = using.strip_prefix("btree ").unwrap_or(using);
                format!("{name}{unique} {using}")
            })
            .collect();
        let wanted: Vec<&str> = expected
            .iter()
            .copied()
            .filter(|index| gin || !index.contains(" gin "))
            .collect();
        assert_eq!(found, wanted, "extensions_index({gin})");
        store.close().await.unwrap();
    }
}
