//! The names of the objects beside a store's table (`<table>$<suffix>`): no two stores
//! in one schema share one, whatever their table names; a schema made by a build
//! before schema version 4 (`<table>_<suffix>`) is renamed when opened, its data kept;
//! and a table whose name such a schema's object still holds is refused, naming both.

mod common;

use eventstore_core::{CheckpointStore, Error, Event, EventQuery, EventStore};
use eventstore_postgres::PostgresEventStore;
use futures::TryStreamExt as _;

fn event(id: &str, subject: &str) -> Event {
    Event::builder()
        .id(id)
        .source("/pg")
        .ty("pg.event")
        .subject(subject)
        .build()
        .unwrap()
}

async fn open(schema: &common::Schema, table: &str) -> eventstore_core::Result<PostgresEventStore> {
    schema.options().table(table).unwrap().open().await
}

async fn ids(store: &PostgresEventStore) -> Vec<String> {
    store
        .query(EventQuery::new())
        .map_ok(|e| e.id().to_owned())
        .try_collect()
        .await
        .unwrap()
}

/// Tables whose names are another's with a suffix the store used for its objects'
/// names: `ev_subject`'s sequence was `ev`'s subject index (`ev_subject_sequence`),
/// `ev_dead_letters` was `ev`'s dead-letter table, `ev_time` its time index, `ev_pkey`
/// its primary key. Each is a store of its own beside `ev`, in either order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_whose_names_extend_another_s_live_side_by_side() {
    let schema = common::Schema::new("names");
    let others = [
        "ev_subject",
        "ev_type",
        "ev_dead_letters",
        "ev_time",
        "ev_pkey",
        "ev_checkpoints_pkey",
    ];
    // Some before `ev`, some after.
    let mut stores = Vec::new();
    for table in &others[..3] {
        stores.push((*table, open(&schema, table).await.expect(table)));
    }
    stores.push(("ev", open(&schema, "ev").await.expect("ev")));
    for table in &others[3..] {
        stores.push((*table, open(&schema, table).await.expect(table)));
    }
    for (i, (table, store)) in stores.iter().enumerate() {
        store
            .append(vec![event(&format!("{table}-1"), "s")])
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
        assert_eq!(store.stream_version("s").await.unwrap(), Some(1));
    }
}

/// Makes `table` in `schema` as a build at schema version 3 did: the shipped
/// migrations 1–3, their `{table_<suffix>}` names `<table>_<suffix>`, and the ledger.
async fn legacy_store(client: &tokio_postgres::Client, schema: &str, table: &str) {
    legacy_store_at(client, schema, table, 3).await;
}

/// Makes `table` in `schema` as a build at schema `version` (1 to 3) did.
async fn legacy_store_at(
    client: &tokio_postgres::Client,
    schema: &str,
    table: &str,
    version: usize,
) {
    let migrations = [
        include_str!("../migrations/0001_events.sql"),
        include_str!("../migrations/0002_coordination.sql"),
        include_str!("../migrations/0003_bytewise_text.sql"),
    ];
    let recorded: Vec<String> = (1..=version)
        .map(|v| format!("('{table}', {v}, 'version {v}')"))
        .collect();
    let mut sql = format!(
        "CREATE SCHEMA IF NOT EXISTS \"{schema}\";
         CREATE TABLE IF NOT EXISTS \"{schema}\".eventstore_migrations (
            table_name text NOT NULL, version bigint NOT NULL, description text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (table_name, version));
         INSERT INTO \"{schema}\".eventstore_migrations (table_name, version, description)
            VALUES {};",
        recorded.join(", ")
    );
    for migration in &migrations[..version] {
        let mut rendered = migration
            .replace(
                "{sequence_literal}",
                &format!("\"{schema}\".\"{table}_sequence\""),
            )
            .replace("{sequence}", &format!("\"{schema}\".\"{table}_sequence\""))
            .replace("{schema}", &format!("\"{schema}\""))
            .replace("{table}", &format!("\"{schema}\".\"{table}\""));
        while let Some(start) = rendered.find("{table_") {
            let end = start + rendered[start..].find('}').unwrap();
            let suffix = rendered[start + "{table_".len()..end].to_owned();
            rendered.replace_range(start..=end, &format!("\"{table}_{suffix}\""));
        }
        sql.push_str(&rendered);
        sql.push_str(";\n");
    }
    sql.push_str(&format!(
        "CREATE INDEX \"{table}_extensions\" ON \"{schema}\".\"{table}\" \
            USING gin (extensions jsonb_path_ops) WHERE extensions IS NOT NULL;
         INSERT INTO \"{schema}\".\"{table}\" (stream_version, recorded_at, id, source, type, subject)
            VALUES (1, now(), 'old-1', '/pg', 'pg.event', 's');
         INSERT INTO \"{schema}\".\"{table}_checkpoints\" (name, position) VALUES ('relay', 7);"
    ));
    client.batch_execute(&sql).await.unwrap();
}

/// The relations of `schema` (tables, indexes, sequences), by name.
async fn relations(client: &tokio_postgres::Client, schema: &str) -> Vec<String> {
    let rows = client
        .query(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'i', 'S') ORDER BY 1",
            &[&schema],
        )
        .await
        .unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}

/// A schema of version 3 gets the new names when this build opens it: every relation
/// of the store renamed, nothing rebuilt or lost (its event, its checkpoint, its
/// sequence's position, its optional index), and a store whose names its old ones held
/// can then be made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_3_schema_is_renamed_with_its_data() {
    let schema = common::Schema::new("legacy");
    let admin = common::admin().await;
    legacy_store(&admin, &schema.name, "ev").await;
    let before = relations(&admin, &schema.name).await;
    assert!(
        before.contains(&"ev_type_sequence".to_owned()),
        "{before:?}"
    );

    let store = open(&schema, "ev").await.expect("the old schema migrates");
    let after = relations(&admin, &schema.name).await;
    let mut expected: Vec<String> = [
        "ev",
        "ev$checkpoints",
        "ev$checkpoints_pkey",
        "ev$correlationid_sequence",
        "ev$dead_letters",
        "ev$dead_letters_id_seq",
        "ev$dead_letters_pkey",
        "ev$dead_letters_relay_idx",
        "ev$destination_sequence",
        "ev$extensions",
        "ev$leases",
        "ev$leases_pkey",
        "ev$pkey",
        "ev$sequence",
        "ev$snapshots",
        "ev$snapshots_pkey",
        "ev$source_id",
        "ev$subject_sequence",
        "ev$subject_version",
        "ev$time",
        "ev$topic_sequence",
        "ev$type_sequence",
        "eventstore_migrations",
        "eventstore_migrations_pkey",
    ]
    .map(str::to_owned)
    .to_vec();
    expected.sort();
    assert_eq!(after, expected);

    assert_eq!(ids(&store).await, ["old-1"]);
    assert_eq!(store.load_checkpoint("relay").await.unwrap(), Some(7));
    let appended = store.append(vec![event("new-1", "s")]).await.unwrap();
    assert_eq!(appended.appended[0].stream_version, Some(2));
    assert!(appended.appended[0].sequence > 1);
    let duplicate = store.append(vec![event("new-1", "t")]).await.unwrap_err();
    assert!(duplicate.is_duplicate(), "{duplicate}");

    // A store made by this build, as one made by the old one, has the same names.
    let fresh = open(&schema, "fresh").await.unwrap();
    fresh.append(vec![event("f", "s")]).await.unwrap();
    let fresh_names: Vec<String> = relations(&admin, &schema.name)
        .await
        .into_iter()
        .filter_map(|name| name.strip_prefix("fresh").map(str::to_owned))
        .collect();
    let ev_names: Vec<String> = after
        .iter()
        .filter_map(|name| name.strip_prefix("ev").map(str::to_owned))
        .filter(|name| !name.starts_with("entstore"))
        .collect();
    assert_eq!(fresh_names, ev_names);

    // `ev_type`'s table was `ev`'s old index's name.
    open(&schema, "ev_type_sequence")
        .await
        .expect("a store named as an old index was");
}

/// While a store of version 3 keeps its old names, a new store whose table would take
/// one of them is refused before anything is written, with a configuration error that
/// names the other store's object and its table; so is the migrations' ledger's name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_named_as_an_old_store_s_object_is_refused_naming_both() {
    let schema = common::Schema::new("taken");
    let admin = common::admin().await;
    legacy_store(&admin, &schema.name, "ev").await;
    let before = relations(&admin, &schema.name).await;

    let err = open(&schema, "ev_subject_sequence").await.unwrap_err();
    let Error::Config(message) = &err else {
        panic!("{err:?}");
    };
    assert!(message.contains("ev_subject_sequence"), "{message}");
    assert!(message.contains("an index of table"), "{message}");
    assert!(
        message.contains(&format!("{}.ev", schema.name)),
        "{message}"
    );
    let err = open(&schema, "ev_checkpoints").await.unwrap_err();
    assert!(
        matches!(&err, Error::Config(m) if m.contains("a table")),
        "{err:?}"
    );
    let err = open(&schema, "eventstore_migrations").await.unwrap_err();
    assert!(matches!(&err, Error::Config(_)), "{err:?}");
    assert_eq!(
        relations(&admin, &schema.name).await,
        before,
        "nothing written"
    );
    let recorded: i64 = admin
        .query_one(
            &format!(
                "SELECT count(*) FROM \"{}\".eventstore_migrations",
                schema.name
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(recorded, 3);
}

/// A store of version 1 makes its coordination tables under their old names
/// (`ev_leases`, …) when this build migrates it, before renaming them: a new store of
/// such a name, made first, would make that migration fail, and the older store could
/// never open again. It is refused, naming the older store, and can be made once that
/// store has been opened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_an_old_store_s_migration_would_make_is_refused_until_it_ran() {
    let schema = common::Schema::new("claimed");
    let admin = common::admin().await;
    legacy_store(&admin, &schema.name, "ev").await;
    admin
        .batch_execute(&format!(
            "DROP TABLE \"{s}\".\"ev_checkpoints\", \"{s}\".\"ev_leases\",
                 \"{s}\".\"ev_dead_letters\", \"{s}\".\"ev_snapshots\";
             DELETE FROM \"{s}\".eventstore_migrations WHERE table_name = 'ev' AND version > 1;",
            s = schema.name
        ))
        .await
        .unwrap();
    let before = relations(&admin, &schema.name).await;
    for table in ["ev_leases", "ev_dead_letters_relay_idx"] {
        let err = open(&schema, table).await.unwrap_err();
        let Error::Config(message) = &err else {
            panic!("{table}: {err:?}");
        };
        assert!(
            message.contains("the store of table \"ev\", at schema version 1"),
            "{table}: {message}"
        );
    }
    assert_eq!(
        relations(&admin, &schema.name).await,
        before,
        "nothing written"
    );

    let old = open(&schema, "ev")
        .await
        .expect("the version-1 schema migrates");
    assert_eq!(ids(&old).await, ["old-1"]);
    open(&schema, "ev_leases")
        .await
        .expect("the name is free once the old store is migrated");
}

/// A store of version 3 whose secondary indexes were dropped by hand (the time index,
/// the topic index, the dead letters' index, the optional one on `extensions`) still
/// migrates: the indexes it has are renamed, those it lacks stay missing (the
/// optional one is made again, as the options ask), and it reads and writes as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_3_schema_without_some_secondary_indexes_migrates() {
    let schema = common::Schema::new("dropped");
    let admin = common::admin().await;
    legacy_store(&admin, &schema.name, "ev").await;
    admin
        .batch_execute(&format!(
            "DROP INDEX \"{s}\".\"ev_time\", \"{s}\".\"ev_topic_sequence\",
                 \"{s}\".\"ev_dead_letters_relay_idx\", \"{s}\".\"ev_extensions\";",
            s = schema.name
        ))
        .await
        .unwrap();

    let store = open(&schema, "ev")
        .await
        .expect("a schema without secondary indexes migrates");
    let after = relations(&admin, &schema.name).await;
    for missing in ["ev$time", "ev$topic_sequence", "ev$dead_letters_relay_idx"] {
        assert!(!after.contains(&missing.to_owned()), "{missing}: {after:?}");
    }
    for renamed in [
        "ev$source_id",
        "ev$subject_version",
        "ev$type_sequence",
        "ev$extensions",
        "ev$pkey",
        "ev$sequence",
        "ev$dead_letters",
    ] {
        assert!(after.contains(&renamed.to_owned()), "{renamed}: {after:?}");
    }
    assert!(
        !after.iter().any(|name| name.starts_with("ev_")),
        "{after:?}"
    );
    assert_eq!(ids(&store).await, ["old-1"]);
    assert_eq!(store.load_checkpoint("relay").await.unwrap(), Some(7));
    store.append(vec![event("new-1", "s")]).await.unwrap();
    let duplicate = store.append(vec![event("new-1", "t")]).await.unwrap_err();
    assert!(duplicate.is_duplicate(), "{duplicate}");
}

/// A store of version 3 that lacks one of the unique constraints the store's
/// guarantees rest on (`(source, id)`, `(subject, stream_version)`) is not migrated:
/// opening it fails with `Error::MissingConstraint`, naming the constraint and the
/// statement that makes it again, and writes nothing; once it is made, the store opens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_3_schema_without_a_unique_constraint_is_refused_until_restored() {
    for (suffix, drop) in [
        (
            "source_id",
            "ALTER TABLE \"{s}\".\"ev\" DROP CONSTRAINT \"ev_source_id\"",
        ),
        (
            "subject_version",
            "DROP INDEX \"{s}\".\"ev_subject_version\"",
        ),
    ] {
        let schema = common::Schema::new("unique");
        let admin = common::admin().await;
        legacy_store(&admin, &schema.name, "ev").await;
        admin
            .batch_execute(&drop.replace("{s}", &schema.name))
            .await
            .unwrap();
        let before = relations(&admin, &schema.name).await;

        let err = open(&schema, "ev").await.unwrap_err();
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
        assert_eq!(table, &format!("{}.ev", schema.name));
        assert!(
            constraint.contains(&format!("\"ev_{suffix}\"")),
            "{constraint}"
        );
        assert_eq!(
            relations(&admin, &schema.name).await,
            before,
            "nothing written"
        );
        let recorded: i64 = admin
            .query_one(
                &format!(
                    "SELECT max(version) FROM \"{}\".eventstore_migrations",
                    schema.name
                ),
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(recorded, 3);

        admin.batch_execute(restore).await.expect(restore);
        let store = open(&schema, "ev").await.expect("restored, it migrates");
        let relations = relations(&admin, &schema.name).await;
        assert!(relations.contains(&format!("ev${suffix}")), "{relations:?}");
        let duplicate = store.append(vec![event("old-1", "t")]).await.unwrap_err();
        assert!(duplicate.is_duplicate(), "{duplicate}");
    }
}

/// What an application adds to a store of version 2 (a column, an index, a trigger
/// with a condition, a view over the event table) does not stop this build from
/// migrating it. PostgreSQL refuses to change the collation of a column a view, a
/// rule, a policy or a trigger's condition uses, so migration 3 leaves those columns
/// as they were (they only compare slower) and makes the others bytewise; the view,
/// the trigger and the index keep working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_2_schema_with_the_application_s_objects_migrates() {
    let schema = common::Schema::new("userobj");
    let admin = common::admin().await;
    legacy_store_at(&admin, &schema.name, "ev", 2).await;
    admin
        .batch_execute(&format!(
            "ALTER TABLE \"{s}\".ev ADD COLUMN tenant text;
             CREATE INDEX ev_by_tenant ON \"{s}\".ev (tenant, type);
             CREATE FUNCTION \"{s}\".set_tenant() RETURNS trigger LANGUAGE plpgsql AS
                 $f$ BEGIN NEW.tenant := 'acme'; RETURN NEW; END $f$;
             CREATE TRIGGER ev_tenant BEFORE INSERT ON \"{s}\".ev FOR EACH ROW
                 WHEN (NEW.source <> '') EXECUTE FUNCTION \"{s}\".set_tenant();
             CREATE VIEW \"{s}\".by_subject AS SELECT subject, type, tenant FROM \"{s}\".ev;",
            s = schema.name
        ))
        .await
        .unwrap();

    let store = open(&schema, "ev")
        .await
        .expect("a schema with the application's objects migrates");
    store.append(vec![event("new-1", "s")]).await.unwrap();
    assert_eq!(ids(&store).await, ["old-1", "new-1"]);
    let rows = admin
        .query(
            &format!(
                "SELECT tenant FROM \"{}\".by_subject WHERE subject = 's' AND tenant IS NOT NULL",
                schema.name
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "the trigger ran and the view reads it");
    let collations: Vec<(String, Option<String>)> = admin
        .query(
            "SELECT a.attname::text, c.collname::text FROM pg_attribute a \
             LEFT JOIN pg_collation c ON c.oid = a.attcollation \
             WHERE a.attrelid = $1::text::regclass AND a.attname IN ('id', 'type', 'subject', 'source')
             ORDER BY 1",
            &[&format!("\"{}\".ev", schema.name)],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let c = |name: &str| {
        collations
            .iter()
            .find(|(n, _)| n == name)
            .unwrap()
            .1
            .clone()
    };
    assert_eq!(c("id").as_deref(), Some("C"), "{collations:?}");
    assert_ne!(
        c("type").as_deref(),
        Some("C"),
        "kept for the view: {collations:?}"
    );
    assert_ne!(
        c("source").as_deref(),
        Some("C"),
        "kept for the trigger: {collations:?}"
    );
    assert!(
        relations(&admin, &schema.name)
            .await
            .contains(&"ev_by_tenant".to_owned())
    );
}
