//! Least privilege: an owner role migrates the schema; the store then runs as a role
//! granted only what it uses (see docs/reliability.md for the list and the reasons),
//! with `auto_migrate(false)`. Everything the store does works; changing or deleting
//! events and any DDL are refused by the server.
//!
//! Roles are cluster-wide: the test names them uniquely and drops them at the end.

mod common;

use std::sync::Arc;
use std::time::Duration;

use eventstore_core::{
    CheckpointStore, DeadLetterStore, Event, EventQuery, EventStore, Json, LeaseStore,
    SnapshotStore, StoredEvent,
};
use eventstore_postgres::{PostgresEventStore, PostgresOptions};
use futures::TryStreamExt as _;
use tokio_postgres::error::SqlState;

/// The grants the runtime role needs, once the owner has migrated: `{s}` is the schema.
const RUNTIME_GRANTS: &str = "
    GRANT USAGE ON SCHEMA {s} TO {app};
    GRANT SELECT, INSERT ON {s}.events TO {app};
    GRANT USAGE, SELECT ON SEQUENCE {s}.\"events$sequence\" TO {app};
    GRANT SELECT ON {s}.eventstore_migrations TO {app};
    GRANT SELECT, INSERT, UPDATE, DELETE ON {s}.\"events$checkpoints\", {s}.\"events$leases\" TO {app};
    GRANT SELECT, INSERT ON {s}.\"events$dead_letters\" TO {app};
    GRANT SELECT, INSERT, UPDATE ON {s}.\"events$snapshots\" TO {app};
";

/// The two roles and the schema, dropped (schema first) when this is dropped.
struct Roles {
    owner: String,
    app: String,
    schema: common::Schema,
}

impl Roles {
    async fn create() -> Self {
        let schema = common::Schema::new("priv");
        let roles = Self {
            owner: format!("{}_owner", schema.name),
            app: format!("{}_app", schema.name),
            schema,
        };
        common::admin()
            .await
            .batch_execute(&format!(
                "CREATE ROLE {owner} LOGIN; CREATE ROLE {app} LOGIN; \
                 CREATE SCHEMA {s} AUTHORIZATION {owner};",
                owner = roles.owner,
                app = roles.app,
                s = roles.schema.name,
            ))
            .await
            .expect("roles and schema");
        roles
    }

    /// Store options connecting as `role`.
    fn options(&self, role: &str) -> PostgresOptions {
        let mut config: tokio_postgres::Config =
            common::database_url().parse().expect("a valid URL");
        config.user(role);
        PostgresOptions::from_config(config)
            .schema(&self.schema.name)
            .expect("a valid schema")
    }

    /// Connects as `role` directly, for the statements the store must not be able to run.
    async fn connect(&self, role: &str) -> tokio_postgres::Client {
        let mut config: tokio_postgres::Config =
            common::database_url().parse().expect("a valid URL");
        config.user(role);
        let (client, connection) = config
            .connect(tokio_postgres::NoTls)
            .await
            .expect("a connection as the role");
        tokio::spawn(connection);
        client
    }
}

impl Drop for Roles {
    fn drop(&mut self) {
        common::cleanup(format!(
            "DROP SCHEMA IF EXISTS {s} CASCADE; DROP ROLE IF EXISTS {app}; \
             DROP ROLE IF EXISTS {owner};",
            s = self.schema.name,
            app = self.app,
            owner = self.owner
        ));
    }
}

fn event(id: &str) -> Event {
    Event::builder()
        .id(id)
        .source("/priv")
        .ty("priv.event")
        .subject("s")
        .build()
        .expect("valid")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_runs_with_select_and_insert_only() {
    let roles = Roles::create().await;
    roles
        .options(&roles.owner)
        .migrate()
        .await
        .expect("the owner migrates");
    let grants = RUNTIME_GRANTS
        .replace("{s}", &roles.schema.name)
        .replace("{app}", &roles.app);
    common::admin()
        .await
        .batch_execute(&grants)
        .await
        .expect("grants");

    // Before migrating, the runtime role could not have: it is not allowed DDL.
    let store: PostgresEventStore = roles
        .options(&roles.app)
        .auto_migrate(false)
        .open()
        .await
        .expect("the runtime role opens the migrated store");
    store
        .append(vec![event("1"), event("2")])
        .await
        .expect("append");
    let read: Vec<StoredEvent> = store
        .query(EventQuery::new())
        .try_collect()
        .await
        .expect("query");
    assert_eq!(read.len(), 2);
    assert_eq!(store.stream_version("s").await.expect("version"), Some(2));
    assert_eq!(store.horizon().await.expect("horizon").safe, 2);
    store.save_checkpoint("c", 2).await.expect("checkpoint");
    assert_eq!(store.load_checkpoint("c").await.expect("load"), Some(2));
    store.reset_checkpoint("c").await.expect("reset");
    assert!(
        store
            .try_lease("l", "me", Duration::from_secs(5))
            .await
            .expect("lease")
    );
    store.release_lease("l", "me").await.expect("release");
    store
        .dead_letter("r", &read[0], "broken")
        .await
        .expect("dead letter");
    assert_eq!(
        store.dead_letters("r").await.expect("dead letters").len(),
        1
    );
    let state = Json::from_string("{\"n\":2}".to_owned()).expect("json");
    store
        .save_snapshot("n", "s", 2, state.clone())
        .await
        .expect("snapshot");
    store
        .save_snapshot("n", "s", 2, state)
        .await
        .expect("snapshot again");
    assert!(store.load_snapshot("n", "s").await.expect("load").is_some());
    let shared: Arc<dyn EventStore> = Arc::new(store.clone());
    assert_eq!(
        shared
            .get("/priv", "1")
            .await
            .expect("get")
            .map(|e| e.sequence()),
        Some(1)
    );

    // What the role must not do, straight on a connection as the role.
    let app = roles.connect(&roles.app).await;
    let s = &roles.schema.name;
    for statement in [
        format!("UPDATE {s}.events SET type = 'x'"),
        format!("DELETE FROM {s}.events"),
        format!("TRUNCATE {s}.events"),
        format!("DROP TABLE {s}.events"),
        format!("ALTER TABLE {s}.events ADD COLUMN x int"),
        format!("CREATE TABLE {s}.x (a int)"),
        format!("CREATE INDEX ON {s}.events (id)"),
        format!("DELETE FROM {s}.eventstore_migrations"),
        format!("UPDATE {s}.\"events$dead_letters\" SET error = ''"),
        format!("SELECT setval('{s}.\"events$sequence\"', 1)"),
    ] {
        let error = app.batch_execute(&statement).await.expect_err(&statement);
        assert_eq!(
            error.code(),
            Some(&SqlState::INSUFFICIENT_PRIVILEGE),
            "{statement}: {error}"
        );
    }
    // A runtime store asked to migrate a newer schema would need DDL: opening with
    // auto_migrate on a current schema needs none, so it works too.
    drop(
        roles
            .options(&roles.app)
            .open()
            .await
            .expect("nothing to migrate"),
    );
    let count: i64 = app
        .query_one(&format!("SELECT count(*) FROM {s}.events"), &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(count, 2, "nothing was changed");
}
