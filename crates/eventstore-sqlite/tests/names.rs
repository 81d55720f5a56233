//! The names of the objects beside a store's table (`<table>$<suffix>`): no two stores
//! in one file share one, whatever their table names; a file made by a build before
//! schema version 4 (`<table>_<suffix>`) is renamed when opened, its data kept; and a
//! table whose name such a file's object still holds is refused, naming both.

use std::path::Path;

use eventstore_core::{CheckpointStore, Error, Event, EventQuery, EventStore};
use eventstore_sqlite::{SqliteEventStore, SqliteOptions};
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

async fn open(path: &Path, table: &str) -> eventstore_core::Result<SqliteEventStore> {
    SqliteOptions::file(path)
        .table(table)
        .unwrap()
        .type_time_index(true)
        .open()
        .await
}

async fn ids(store: &SqliteEventStore) -> Vec<String> {
    store
        .query(EventQuery::new())
        .map_ok(|e| e.id().to_owned())
        .try_collect()
        .await
        .unwrap()
}

/// The file's objects: `(type, name)`, sorted.
fn objects(path: &Path) -> Vec<(String, String)> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut statement = conn
        .prepare("SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY 2")
        .unwrap();
    statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Tables whose names are another's with a suffix the store used for its objects'
/// names: `ev_time` was `ev`'s time index, `ev_dead_letters` its dead-letter table,
/// `ev_type`'s time index was `ev`'s `(type, time)` index (`ev_type_time`). Each is a
/// store of its own beside `ev`, in either order.
#[tokio::test]
async fn stores_whose_names_extend_another_s_live_side_by_side() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let mut stores = Vec::new();
    for table in [
        "ev_time",
        "ev",
        "ev_type",
        "ev_dead_letters",
        "ev_source_id",
    ] {
        stores.push((table, open(&path, table).await.expect(table)));
    }
    for (i, (table, store)) in stores.iter().enumerate() {
        store
            .append(vec![event(&format!("{table}-1"))])
            .await
            .unwrap();
        store.save_checkpoint("relay", i as i64 + 1).await.unwrap();
    }
    for (i, (table, store)) in stores.iter().enumerate() {
        assert_eq!(ids(store).await, [format!("{table}-1")], "{table}");
        assert_eq!(
            store.load_checkpoint("relay").await.unwrap(),
            Some(i as i64 + 1)
        );
    }
}

/// Makes `table` in the file at `path` as a build at schema version 3 did: the shipped
/// migrations 1–3, their `{table_<suffix>}` names `<table>_<suffix>`, the optional
/// `(type, time)` index, and the ledger; with one event and one checkpoint.
fn legacy_store(path: &Path, table: &str) {
    let migrations = [
        include_str!("../migrations/0001_events.sql"),
        include_str!("../migrations/0002_coordination.sql"),
        include_str!("../migrations/0003_snapshots.sql"),
        "CREATE INDEX {table_type_time} ON {table} (type, time) WHERE time IS NOT NULL",
    ];
    let mut sql = format!(
        "CREATE TABLE IF NOT EXISTS eventstore_migrations (
            table_name TEXT NOT NULL, version INTEGER NOT NULL, description TEXT NOT NULL,
            applied_at TEXT NOT NULL, PRIMARY KEY (table_name, version));
         INSERT INTO eventstore_migrations VALUES
            ('{table}', 1, 'one', ''), ('{table}', 2, 'two', ''), ('{table}', 3, 'three', '');"
    );
    for migration in migrations {
        let mut rendered = migration.replace("{table}", &format!("\"{table}\""));
        while let Some(start) = rendered.find("{table_") {
            let end = start + rendered[start..].find('}').unwrap();
            let suffix = rendered[start + "{table_".len()..end].to_owned();
            rendered.replace_range(start..=end, &format!("\"{table}_{suffix}\""));
        }
        sql.push_str(&rendered);
        sql.push_str(";\n");
    }
    sql.push_str(&format!(
        "INSERT INTO \"{table}\" (stream_version, recorded_at, id, source, type, subject)
            VALUES (1, '2026-01-01T00:00:00.000000000Z', 'old-1', '/t', 't', 's');
         INSERT INTO \"{table}_checkpoints\" VALUES ('relay', 7, '');"
    ));
    rusqlite::Connection::open(path)
        .unwrap()
        .execute_batch(&sql)
        .unwrap();
}

/// A file of version 3 gets the new names when this build opens it: every object of
/// the store renamed or made again under its new name (the optional `(type, time)`
/// index too), nothing lost.
#[tokio::test]
async fn a_version_3_file_is_renamed_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    legacy_store(&path, "ev");
    let store = SqliteOptions::file(&path)
        .table("ev")
        .unwrap()
        .open()
        .await
        .expect("the old file migrates");
    let names: Vec<String> = objects(&path).into_iter().map(|(_, name)| name).collect();
    let mut expected: Vec<String> = [
        "ev",
        "ev$checkpoints",
        "ev$correlationid_sequence",
        "ev$dead_letters",
        "ev$dead_letters_relay",
        "ev$leases",
        "ev$snapshots",
        "ev$source_id",
        "ev$subject_sequence",
        "ev$subject_version",
        "ev$time",
        "ev$type_sequence",
        "ev$type_time",
        "eventstore_migrations",
    ]
    .map(str::to_owned)
    .to_vec();
    expected.sort();
    assert_eq!(names, expected);
    assert_eq!(ids(&store).await, ["old-1"]);
    assert_eq!(store.load_checkpoint("relay").await.unwrap(), Some(7));
    let appended = store.append(vec![event("new-1")]).await.unwrap();
    assert_eq!(appended.appended[0].stream_version, Some(2));
    assert!(
        store
            .append(vec![event("new-1")])
            .await
            .unwrap_err()
            .is_duplicate()
    );
    // `ev_time`'s table was `ev`'s old index's name.
    open(&path, "ev_time")
        .await
        .expect("a store named as an old index was");
}

/// While a store of version 3 keeps its old names, a new store whose table would take
/// one of them is refused before anything is written, with a configuration error that
/// names the other store's object and its table; so is the migrations' ledger's name.
#[tokio::test]
async fn a_table_named_as_an_old_store_s_object_is_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    legacy_store(&path, "ev");
    let before = objects(&path);
    for (table, taken) in [
        ("ev_time", "the index \"ev_time\" of table \"ev\""),
        ("EV_TYPE_TIME", "the index \"ev_type_time\" of table \"ev\""),
        ("ev_leases", "the table \"ev_leases\""),
        ("eventstore_migrations", "the table"),
    ] {
        let err = open(&path, table).await.unwrap_err();
        let Error::Config(message) = &err else {
            panic!("{table}: {err:?}");
        };
        assert!(message.contains(taken), "{table}: {message}");
    }
    assert_eq!(objects(&path), before, "nothing written");
}

/// A store of a version before 3 makes its snapshot table under its old name
/// (`ev_snapshots`) when this build migrates it, before renaming it: a new store of
/// that name, made first, would make that migration fail, and the older store could
/// never open again. It is refused, naming the older store, and can be made once that
/// store has been opened.
#[tokio::test]
async fn a_table_an_old_store_s_migration_would_make_is_refused_until_it_ran() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    legacy_store(&path, "ev");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(
            "DROP TABLE \"ev_snapshots\";
             DELETE FROM eventstore_migrations WHERE table_name = 'ev' AND version = 3;",
        )
        .unwrap();
    let before = objects(&path);
    for table in ["ev_snapshots", "EV_SNAPSHOTS"] {
        let err = open(&path, table).await.unwrap_err();
        let Error::Config(message) = &err else {
            panic!("{table}: {err:?}");
        };
        assert!(
            message.contains("the store of table \"ev\", at schema version 2"),
            "{table}: {message}"
        );
    }
    assert_eq!(objects(&path), before, "nothing written");

    let old = open(&path, "ev")
        .await
        .expect("the version-2 file migrates");
    assert_eq!(ids(&old).await, ["old-1"]);
    assert_eq!(old.load_checkpoint("relay").await.unwrap(), Some(7));
    open(&path, "ev_snapshots")
        .await
        .expect("the name is free once the old store is migrated");
}

/// A file of version 3 whose secondary indexes were dropped by hand (the time index,
/// the dead letters' index, the optional `(type, time)` one) still migrates: the
/// indexes it has are made again under their new names, those it lacks stay missing,
/// and it reads and writes as before.
#[tokio::test]
async fn a_version_3_file_without_some_secondary_indexes_migrates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    legacy_store(&path, "ev");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(
            "DROP INDEX \"ev_time\"; DROP INDEX \"ev_dead_letters_relay\";
             DROP INDEX \"ev_type_time\";",
        )
        .unwrap();
    let store = SqliteOptions::file(&path)
        .table("ev")
        .unwrap()
        .open()
        .await
        .expect("a file without secondary indexes migrates");
    let names: Vec<String> = objects(&path).into_iter().map(|(_, name)| name).collect();
    let mut expected: Vec<String> = [
        "ev",
        "ev$checkpoints",
        "ev$correlationid_sequence",
        "ev$dead_letters",
        "ev$leases",
        "ev$snapshots",
        "ev$source_id",
        "ev$subject_sequence",
        "ev$subject_version",
        "ev$type_sequence",
        "eventstore_migrations",
    ]
    .map(str::to_owned)
    .to_vec();
    expected.sort();
    assert_eq!(names, expected);
    assert_eq!(ids(&store).await, ["old-1"]);
    assert_eq!(store.load_checkpoint("relay").await.unwrap(), Some(7));
    store.append(vec![event("new-1")]).await.unwrap();
    assert!(
        store
            .append(vec![event("new-1")])
            .await
            .unwrap_err()
            .is_duplicate()
    );
}

/// A file of version 3 that lacks one of the unique indexes the store's guarantees
/// rest on (`(source, id)`, `(subject, stream_version)`) is not migrated: opening it
/// fails with `Error::MissingConstraint`, naming the index and the statement that
/// makes it again, and writes nothing; once it is made, the store opens.
#[tokio::test]
async fn a_version_3_file_without_a_unique_index_is_refused_until_restored() {
    for suffix in ["source_id", "subject_version"] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.db");
        legacy_store(&path, "ev");
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch(&format!("DROP INDEX \"ev_{suffix}\""))
            .unwrap();
        let before = objects(&path);

        let err = open(&path, "ev").await.unwrap_err();
        assert!(err.is_schema_mismatch(), "{err}");
        let Error::MissingConstraint {
            table,
            constraint,
            restore,
            ..
        } = &err
        else {
            panic!("{suffix}: {err:?}");
        };
        assert_eq!(table, "ev");
        assert!(
            err.to_string().contains(restore.as_str()),
            "the message gives the statement: {err}"
        );
        assert!(
            constraint.contains(&format!("\"ev_{suffix}\"")),
            "{constraint}"
        );
        assert_eq!(objects(&path), before, "nothing written");

        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch(restore)
            .expect(restore);
        let store = open(&path, "ev").await.expect("restored, it migrates");
        assert!(
            objects(&path)
                .iter()
                .any(|(_, name)| name == &format!("ev${suffix}")),
            "{suffix}"
        );
        assert!(
            store
                .append(vec![event("old-1")])
                .await
                .unwrap_err()
                .is_duplicate()
        );
    }
}

/// What an application adds to a file of version 3 (a column and an index on the event
/// table, a trigger, views over the event table and a coordination table) does not stop
/// this build from migrating it, and keeps working: SQLite's `ALTER TABLE … RENAME`
/// rewrites the view that names the renamed table.
#[tokio::test]
async fn a_version_3_file_with_the_application_s_objects_migrates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    legacy_store(&path, "ev");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "ALTER TABLE ev ADD COLUMN tenant TEXT;
         CREATE INDEX ev_by_tenant ON ev (tenant, type);
         CREATE TRIGGER ev_tenant AFTER INSERT ON ev WHEN NEW.source <> ''
             BEGIN UPDATE ev SET tenant = 'acme' WHERE sequence = NEW.sequence; END;
         CREATE VIEW by_subject AS SELECT subject, type, tenant FROM ev;
         CREATE VIEW positions AS SELECT name, position FROM ev_checkpoints;",
    )
    .unwrap();
    let store = open(&path, "ev")
        .await
        .expect("a file with the application's objects migrates");
    store.append(vec![event("new-1")]).await.unwrap();
    assert_eq!(ids(&store).await, ["old-1", "new-1"]);
    let tenants: i64 = conn
        .query_row(
            "SELECT count(*) FROM by_subject WHERE tenant = 'acme'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(tenants, 1, "the trigger ran and the view reads it");
    let position: i64 = conn
        .query_row(
            "SELECT position FROM positions WHERE name = 'relay'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(position, 7);
    assert!(
        objects(&path)
            .iter()
            .any(|(_, name)| name == "ev_by_tenant")
    );
}
