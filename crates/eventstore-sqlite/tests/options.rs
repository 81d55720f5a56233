//! SQLite-specific behaviour: opening, URLs, tables, migrations.

use eventstore_core::{Error, Event, EventQuery, EventStore};
use eventstore_sqlite::{SCHEMA_VERSION, SqliteEventStore, SqliteOptions};
use futures::TryStreamExt as _;

fn event(id: &str) -> Event {
    Event::builder()
        .id(id)
        .source("/t")
        .ty("t")
        .subject("s")
        .build()
        .unwrap()
}

async fn count(store: &SqliteEventStore) -> usize {
    store
        .query(EventQuery::new())
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let store = SqliteEventStore::open(&path).await.unwrap();
    store.append(vec![event("1"), event("2")]).await.unwrap();
    store.close().await.unwrap();
    drop(store);
    let store = SqliteEventStore::open(&path).await.unwrap();
    assert_eq!(count(&store).await, 2);
    assert_eq!(store.stream_version("s").await.unwrap(), Some(2));
}

/// As `EventStore::close` promises (and the PostgreSQL store's pool does), the store's
/// connections close with it, not when its last clone is dropped: the file is left
/// whole and alone, its write-ahead log removed by the last connection's close.
#[tokio::test]
async fn close_releases_the_file_while_the_store_is_still_held() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let store = SqliteEventStore::open(&path).await.unwrap();
    store.append(vec![event("1")]).await.unwrap();
    assert_eq!(count(&store).await, 1);
    assert!(store.get("/t", "1").await.unwrap().is_some());
    store.close().await.unwrap();
    assert!(!dir.path().join("events.db-wal").exists());
    assert!(matches!(store.get("/t", "1").await, Err(Error::Closed)));
    store.close().await.unwrap();
    let reopened = SqliteEventStore::open(&path).await.unwrap();
    assert_eq!(count(&reopened).await, 1);
    drop(store);
}

#[tokio::test]
async fn urls_name_files_or_memory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("url.db");
    let store = SqliteEventStore::open_url(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    store.append(vec![event("1")]).await.unwrap();
    assert!(path.exists());
    // Escapes are decoded: the file has a space in its name.
    let spaced = dir.path().join("my events.db");
    let url = format!("sqlite://{}", dir.path().join("my%20events.db").display());
    let store = SqliteEventStore::open_url(&url).await.unwrap();
    store.append(vec![event("1")]).await.unwrap();
    assert!(spaced.exists(), "{url} names {spaced:?}");
    let memory = SqliteEventStore::open_url("sqlite::memory:").await.unwrap();
    assert_eq!(count(&memory).await, 0);
    for bad in [
        "postgres://x",
        "sqlite://",
        "events.db",
        "sqlite://events.db?mode=ro",
        "sqlite:///tmp/events.db#x",
        "sqlite://bad%zzescape.db",
        "sqlite://cut%2",
    ] {
        assert!(
            matches!(SqliteOptions::from_url(bad), Err(Error::Config(_))),
            "{bad}"
        );
    }
    let missing_dir = dir.path().join("no/such/dir/x.db");
    let err = SqliteEventStore::open(&missing_dir).await.unwrap_err();
    assert!(
        matches!(err, Error::Config(ref m) if m.contains("cannot open")),
        "{err}"
    );
}

/// RFC 3986 §3.1: schemes are case-insensitive.
#[tokio::test]
async fn url_schemes_are_read_in_any_case() {
    let dir = tempfile::tempdir().unwrap();
    for scheme in ["SQLITE", "SQLite", "sQlItE"] {
        let path = dir.path().join(format!("{scheme}.db"));
        let url = format!("{scheme}://{}", path.display());
        let options = SqliteOptions::from_url(&url).unwrap();
        assert_eq!(options.path(), Some(path.as_path()), "{url}");
        let store = SqliteEventStore::open_url(&url).await.unwrap();
        store.append(vec![event("1")]).await.unwrap();
        assert!(path.exists(), "{url}");
        let memory = SqliteOptions::from_url(&format!("{scheme}::memory:")).unwrap();
        assert_eq!(memory.path(), None, "{scheme}::memory:");
    }
    // Only the scheme is read in any case: `sqlitex:` is another scheme.
    for bad in ["SQLITEX:events.db", "SQLITE", "SQLITE://events.db?mode=ro"] {
        assert!(
            matches!(SqliteOptions::from_url(bad), Err(Error::Config(_))),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn in_memory_stores_are_private() {
    let a = SqliteEventStore::open_in_memory().await.unwrap();
    let b = SqliteEventStore::open_in_memory().await.unwrap();
    a.append(vec![event("1")]).await.unwrap();
    assert_eq!(count(&a).await, 1);
    assert_eq!(count(&b).await, 0);
}

#[tokio::test]
async fn tables_in_one_file_are_independent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let orders = SqliteOptions::file(&path)
        .table("orders")
        .unwrap()
        .open()
        .await
        .unwrap();
    let users = SqliteOptions::file(&path)
        .table("users")
        .unwrap()
        .open()
        .await
        .unwrap();
    orders.append(vec![event("1"), event("2")]).await.unwrap();
    users.append(vec![event("1")]).await.unwrap();
    assert_eq!(count(&orders).await, 2);
    assert_eq!(count(&users).await, 1);
    assert_eq!(orders.table().as_str(), "orders");
    for bad in ["", "drop table", "x;--", "1abc", "a\"b"] {
        assert!(
            matches!(SqliteOptions::file(&path).table(bad), Err(Error::Config(_))),
            "{bad:?}"
        );
    }
}

/// A name SQLite keeps for itself is refused as configuration, as other invalid names
/// are, not when the store opens with an untyped database error.
#[test]
fn table_names_sqlite_reserves_are_refused() {
    for reserved in ["sqlite_events", "SQLite_Events"] {
        match SqliteOptions::in_memory().table(reserved) {
            Err(Error::Config(message)) => assert!(message.contains("reserves"), "{message}"),
            other => panic!("{reserved}: {other:?}"),
        }
    }
    assert!(SqliteOptions::in_memory().table("sqlite").is_ok());
}

#[tokio::test]
async fn migrations_are_explicit_when_asked_and_refuse_a_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let err = SqliteOptions::file(&path)
        .auto_migrate(false)
        .open()
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::SchemaOutdated { found: 0, .. }),
        "{err}"
    );
    assert!(err.is_schema_mismatch());

    let store = SqliteEventStore::open(&path).await.unwrap();
    assert_eq!(
        store.migrate().await.unwrap(),
        Vec::<i64>::new(),
        "already applied"
    );
    store.close().await.unwrap();
    SqliteOptions::file(&path)
        .auto_migrate(false)
        .open()
        .await
        .unwrap();

    // A later build recorded a newer version.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "INSERT INTO eventstore_migrations VALUES ('events', ?1, 'from the future', 'now')",
        [SCHEMA_VERSION + 1],
    )
    .unwrap();
    for auto in [true, false] {
        let err = SqliteOptions::file(&path)
            .auto_migrate(auto)
            .open()
            .await
            .unwrap_err();
        match err {
            Error::SchemaTooNew {
                found, supported, ..
            } => {
                assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
            }
            other => panic!("expected SchemaTooNew, got {other}"),
        }
    }
}

/// The deployment step of `auto_migrate(false)`: the options migrate a file no store
/// has opened, then stores open it without migrating (`SqliteEventStore::migrate` needs
/// an open store, which such options cannot open on an unmigrated file).
#[tokio::test]
async fn options_migrate_a_file_before_stores_open_it_without_auto_migration() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deployed.db");
    let options = SqliteOptions::file(&path)
        .table("orders_events")
        .unwrap()
        .auto_migrate(false);
    let refused = options.clone().open().await.unwrap_err();
    assert!(
        matches!(refused, Error::SchemaOutdated { found: 0, .. }),
        "{refused}"
    );
    let every: Vec<i64> = (1..=SCHEMA_VERSION).collect();
    assert_eq!(options.migrate().await.unwrap(), every);
    assert_eq!(options.migrate().await.unwrap(), Vec::<i64>::new());
    let store = options.clone().open().await.unwrap();
    store.append(vec![event("1")]).await.unwrap();
    assert_eq!(count(&store).await, 1);
    store.close().await.unwrap();

    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "INSERT INTO eventstore_migrations VALUES ('orders_events', ?1, 'from the future', 'now')",
        [SCHEMA_VERSION + 1],
    )
    .unwrap();
    let newer = options.migrate().await.unwrap_err();
    assert!(matches!(newer, Error::SchemaTooNew { .. }), "{newer}");

    match SqliteOptions::in_memory().migrate().await {
        Err(Error::Config(message)) => assert!(message.contains("auto_migrate(true)"), "{message}"),
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stores_opening_a_new_file_at_once_migrate_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("race.db");
    let opens = (0..8).map(|_| SqliteEventStore::open(&path));
    let stores: Vec<_> = futures::future::try_join_all(opens).await.unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let applied: i64 = conn
        .query_row("SELECT COUNT(*) FROM eventstore_migrations", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(applied, SCHEMA_VERSION);
    // Every store writes to the same table, one stream.
    futures::future::try_join_all(
        stores
            .iter()
            .enumerate()
            .map(|(i, s)| s.append(vec![event(&i.to_string())])),
    )
    .await
    .unwrap();
    assert_eq!(stores[0].stream_version("s").await.unwrap(), Some(8));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_file_append_without_locking_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let a = SqliteEventStore::open(&path).await.unwrap();
    let b = SqliteEventStore::open(&path).await.unwrap();
    let writes = (0..200).map(|i| {
        let store = if i % 2 == 0 { &a } else { &b };
        store.append(vec![event(&format!("e{i}"))])
    });
    futures::future::try_join_all(writes).await.unwrap();
    let stream: Vec<_> = a.stream("s", 1).try_collect().await.unwrap();
    let versions: Vec<i64> = stream.iter().map(|e| e.stream_version().unwrap()).collect();
    assert_eq!(versions, (1..=200).collect::<Vec<_>>());
}

#[tokio::test]
async fn tuning_options_open_a_working_wal_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tuned.db");
    let store = SqliteOptions::file(&path)
        .wal_autocheckpoint(5000)
        .synchronous_full(true)
        .open()
        .await
        .unwrap();
    store.append(vec![event("1")]).await.unwrap();
    assert_eq!(count(&store).await, 1);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn reads_in_small_pages_return_everything() {
    let store = SqliteOptions::in_memory()
        .page_size(3)
        .unwrap()
        .open()
        .await
        .unwrap();
    let events: Vec<_> = (0..10).map(|i| event(&i.to_string())).collect();
    store.append(events).await.unwrap();
    let all: Vec<_> = store
        .query(EventQuery::new().offset(1).limit(8))
        .try_collect()
        .await
        .unwrap();
    let ids: Vec<_> = all.iter().map(|e| e.id()).collect();
    assert_eq!(ids, ["1", "2", "3", "4", "5", "6", "7", "8"]);
    let stream: Vec<_> = store.stream("s", 4).try_collect().await.unwrap();
    assert_eq!(stream.len(), 7);
    assert!(matches!(
        SqliteOptions::in_memory().page_size(0),
        Err(Error::Config(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_see_appends_from_another_store_on_the_file() {
    use eventstore_core::{Position, follow};
    use futures::StreamExt as _;
    use std::sync::Arc;
    use std::time::Duration;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let reader = SqliteOptions::file(&path)
        .poll_interval(Duration::from_millis(20))
        .open()
        .await
        .unwrap();
    let writer = SqliteEventStore::open(&path).await.unwrap();
    let mut follower = follow(Arc::new(reader), EventQuery::new(), Position::Start);
    writer.append(vec![event("from-elsewhere")]).await.unwrap();
    let next = tokio::time::timeout(Duration::from_secs(5), follower.next()).await;
    let event = next.expect("woken by polling").expect("an event").unwrap();
    assert_eq!(event.id(), "from-elsewhere");
}

#[tokio::test]
async fn configured_limits_are_enforced() {
    let store = SqliteOptions::in_memory()
        .limits(eventstore_testkit::suite::small_limits())
        .open()
        .await
        .unwrap();
    eventstore_testkit::suite::configured_limits_are_enforced(&store).await;
}

#[tokio::test]
async fn a_lock_held_past_the_busy_timeout_is_a_typed_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let store = SqliteOptions::file(&path)
        .busy_timeout(std::time::Duration::from_millis(100))
        .open()
        .await
        .unwrap();
    store.append(vec![event("1")]).await.unwrap();
    // Another process holds the write lock.
    let other = rusqlite::Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let error = store.append(vec![event("2")]).await.unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
    other.execute_batch("ROLLBACK").unwrap();
    store.append(vec![event("3")]).await.unwrap();
    assert_eq!(count(&store).await, 2, "the timed-out append wrote nothing");
}

#[tokio::test]
async fn an_oversized_batch_is_refused_without_waiting_for_the_write_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let store = SqliteOptions::file(&path)
        .busy_timeout(std::time::Duration::from_millis(100))
        .limits(eventstore_core::Limits::default().max_batch_events(1))
        .open()
        .await
        .unwrap();
    // Another process holds the write lock: a batch checked only once the writer has
    // it would time out instead.
    let other = rusqlite::Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let error = store
        .append(vec![event("1"), event("2")])
        .await
        .unwrap_err();
    assert!(error.is_invalid(), "{error:?}");
    other.execute_batch("ROLLBACK").unwrap();
    assert_eq!(count(&store).await, 0);
}

/// `Duration::MAX`, "wait for ever", is taken as the longest wait SQLite and the pool
/// can keep, not a panic.
#[tokio::test]
async fn the_longest_time_outs_open_a_working_store() {
    use std::time::Duration;

    let dir = tempfile::tempdir().unwrap();
    let busy = SqliteOptions::file(dir.path().join("busy.db")).busy_timeout(Duration::MAX);
    let reader = SqliteOptions::file(dir.path().join("reader.db"))
        .reader_timeout(Duration::MAX)
        .unwrap();
    for options in [busy, reader] {
        let store = options.open().await.unwrap();
        store.append(vec![event("1")]).await.unwrap();
        assert_eq!(count(&store).await, 1);
    }
}

/// Opening a file whose schema is up to date takes no write lock, so it neither waits
/// for another process's long write nor times out behind it.
#[tokio::test]
async fn a_store_opens_while_another_process_holds_the_write_lock() {
    use std::time::Duration;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let first = SqliteEventStore::open(&path).await.unwrap();
    first.append(vec![event("1")]).await.unwrap();
    // Another process holds the write lock through a long write (an import).
    let other = rusqlite::Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let opening = || SqliteOptions::file(&path).busy_timeout(Duration::from_millis(100));
    let second = opening().open().await.unwrap();
    assert_eq!(count(&second).await, 1, "it reads beside the writer");
    // An index still to create needs the lock, and waits for it.
    let error = opening().type_time_index(true).open().await.unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
    other.execute_batch("ROLLBACK").unwrap();
    opening().type_time_index(true).open().await.unwrap();
    assert!(type_time_index_exists(&path));
    second.append(vec![event("2")]).await.unwrap();
    assert_eq!(count(&first).await, 2);
}

fn type_time_index_exists(path: &std::path::Path) -> bool {
    rusqlite::Connection::open(path)
        .unwrap()
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'events$type_time'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .unwrap()
        == 1
}

#[tokio::test]
async fn the_type_time_index_is_made_only_when_asked_for_and_never_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("indexed.db");
    let store = SqliteEventStore::open(&path).await.unwrap();
    store.append(vec![event("1")]).await.unwrap();
    store.close().await.unwrap();
    assert!(!type_time_index_exists(&path), "not made by default");

    // Not made by a store that only checks the schema, until it migrates.
    let store = SqliteOptions::file(&path)
        .auto_migrate(false)
        .type_time_index(true)
        .open()
        .await
        .unwrap();
    assert!(!type_time_index_exists(&path));
    assert_eq!(store.migrate().await.unwrap(), Vec::<i64>::new());
    assert!(type_time_index_exists(&path), "made on an existing table");
    store.close().await.unwrap();

    // Asking again changes nothing; a store opened without it keeps it.
    for create in [true, false] {
        let store = SqliteOptions::file(&path)
            .type_time_index(create)
            .open()
            .await
            .unwrap();
        assert_eq!(count(&store).await, 1);
        store.close().await.unwrap();
        assert!(type_time_index_exists(&path));
    }
}

/// Whether this process maps `path` into memory (Linux's `/proc/self/maps`).
#[cfg(target_os = "linux")]
fn mapped(path: &std::path::Path) -> bool {
    let path = path.canonicalize().unwrap();
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .any(|line| line.ends_with(path.to_str().unwrap()))
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn the_file_is_read_through_a_memory_map_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [("plain.db", 0), ("mapped.db", 1 << 20)] {
        let path = dir.path().join(name);
        let store = SqliteOptions::file(&path)
            .mmap_size(bytes)
            .open()
            .await
            .unwrap();
        store.append(vec![event("1"), event("2")]).await.unwrap();
        assert_eq!(count(&store).await, 2);
        let event = store.get("/t", "2").await.unwrap().expect("the event");
        assert_eq!(event.stream_version(), Some(2));
        assert_eq!(mapped(&path), bytes > 0, "{name}");
        store.close().await.unwrap();
    }
}

/// Each store opened from in-memory options has a database of its own, also when the
/// options are cloned (the database's name was chosen with the options, so two stores
/// opened from one set shared it).
#[tokio::test]
async fn stores_opened_from_one_set_of_in_memory_options_are_apart() {
    let options = SqliteOptions::in_memory();
    let a = options.clone().open().await.unwrap();
    let b = options.open().await.unwrap();
    a.append(vec![event("only-in-a")]).await.unwrap();
    assert_eq!(count(&a).await, 1);
    assert_eq!(count(&b).await, 0);
}

#[test]
fn reader_counts_out_of_range_are_refused() {
    let options = || SqliteOptions::file("unused.db");
    for bad in [0, SqliteOptions::MAX_READERS + 1, u32::MAX] {
        assert!(
            matches!(options().readers(bad), Err(Error::Config(ref m)) if m.contains("readers")),
            "{bad}"
        );
    }
    assert!(options().readers(SqliteOptions::MAX_READERS).is_ok());
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_a_configuration_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "these are notes, not a SQLite database\n".repeat(50)).unwrap();
    let error = SqliteEventStore::open(&path).await.unwrap_err();
    assert!(
        matches!(error, Error::Config(ref m) if m.contains("notes.txt") && m.contains("not a SQLite database")),
        "{error:?}"
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "these are notes, not a SQLite database\n".repeat(50),
        "the file is left as it was"
    );
}
