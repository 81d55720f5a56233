//! The backend-agnostic replay suite, each test in a schema of its own; and what only
//! PostgreSQL has: notifications waking followers in other processes.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventstore_core::{Event, EventQuery, EventStore, Position, StoredEvent};
use eventstore_postgres::{PostgresEventStore, PostgresOptions, PostgresWork};
use eventstore_replay::Replayer;
use eventstore_testkit::replay::ReplayFixture;
use futures::StreamExt as _;

use common::Schema;

/// A store in a schema of its own, dropped with the fixture.
struct Postgres {
    store: Arc<PostgresEventStore>,
    schema: Schema,
}

async fn fresh() -> Postgres {
    let schema = Schema::new("rs");
    let store = Arc::new(schema.open().await);
    Postgres { store, schema }
}

/// The table of counts, beside the store's table in its schema.
fn counts_table(store: &PostgresEventStore) -> String {
    store.table().derived_qualified("counts")
}

/// Work running `sql` with `ty` as its parameter, or none.
fn execute(sql: String, ty: Option<String>) -> PostgresWork<()> {
    Box::new(move |tx| {
        Box::pin(async move {
            match ty {
                Some(ty) => tx.execute(&sql, &[&ty]).await?,
                None => tx.execute(&sql, &[]).await?,
            };
            Ok(((), vec![]))
        })
    })
}

impl ReplayFixture for Postgres {
    type Store = PostgresEventStore;

    fn store(&self) -> &Arc<PostgresEventStore> {
        &self.store
    }

    fn location(&self) -> String {
        self.schema.name.clone()
    }

    async fn open(location: &str) -> PostgresEventStore {
        Schema::options_for(location)
            .open()
            .await
            .expect("the store opens")
    }

    fn create_counts(store: &PostgresEventStore) -> PostgresWork<()> {
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS {} (type text PRIMARY KEY, n bigint NOT NULL)",
            counts_table(store)
        );
        execute(sql, None)
    }

    fn count(store: &PostgresEventStore, ty: String) -> PostgresWork<()> {
        let sql = format!(
            "INSERT INTO {} AS c (type, n) VALUES ($1, 1) \
             ON CONFLICT (type) DO UPDATE SET n = c.n + 1",
            counts_table(store)
        );
        execute(sql, Some(ty))
    }

    fn clear_counts(store: &PostgresEventStore) -> PostgresWork<()> {
        execute(format!("DELETE FROM {}", counts_table(store)), None)
    }

    fn read_counts(store: &PostgresEventStore) -> PostgresWork<BTreeMap<String, i64>> {
        let sql = format!("SELECT type, n FROM {}", counts_table(store));
        Box::new(move |tx| {
            Box::pin(async move {
                let rows = tx.query(&sql, &[]).await?;
                Ok((rows.iter().map(|r| (r.get(0), r.get(1))).collect(), vec![]))
            })
        })
    }

    /// In a transaction on a pooled connection of the store's, which holds the
    /// event's sequence value meanwhile (the store's followers wait for it).
    async fn append_held_open(&self, event: Event, hold: Duration, commit: bool) {
        common::append_held_open(&self.store, event, hold, commit).await;
    }
}

eventstore_testkit::replay_suite!(fresh);

fn event(id: String, ty: &str, subject: String) -> Event {
    Event::builder()
        .id(id)
        .source("/shop")
        .ty(ty)
        .subject(subject)
        .build()
        .unwrap()
}

async fn next(stream: &mut eventstore_core::EventStream, within: Duration) -> StoredEvent {
    tokio::time::timeout(within, stream.next())
        .await
        .expect("in time")
        .expect("not ended")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn notifications_wake_followers_in_other_processes_and_survive_a_killed_listener() {
    let schema = Schema::new("rp_listen");
    // The stores' connections carry the schema's name as their `application_name`, so
    // that the listeners killed below are this test's only, not those of other tests
    // running meanwhile.
    let url = common::database_url();
    let separator = if url.contains('?') { '&' } else { '?' };
    let named = format!("{url}{separator}application_name={}", schema.name);
    // Polling so slow that only a notification can explain a prompt wake-up.
    let slow = || {
        PostgresOptions::from_url(&named)
            .unwrap()
            .schema(&schema.name)
            .unwrap()
            .poll_interval(Duration::from_secs(60))
    };
    let reader = slow().open().await.unwrap();
    let writer = slow().open().await.unwrap();
    let head = reader.horizon().await.unwrap().head;
    let mut follower =
        Replayer::new(Arc::new(reader.clone())).subscribe(Position::After(head), EventQuery::new());
    tokio::time::sleep(Duration::from_millis(200)).await; // the listener is up
    let started = Instant::now();
    writer
        .append(vec![event("1".into(), "t", "s".into())])
        .await
        .unwrap();
    assert_eq!(next(&mut follower, Duration::from_secs(5)).await.id(), "1");
    assert!(started.elapsed() < Duration::from_secs(5));

    // Kill this test's LISTEN connections: the reader's listener reconnects and catches
    // up with what was appended meanwhile.
    let admin = common::admin().await;
    let killed: i64 = admin
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE application_name = $1 AND query LIKE 'LISTEN eventstore_%'",
            &[&schema.name],
        )
        .await
        .unwrap()
        .get(0);
    assert!(killed >= 1, "the listeners were found");
    writer
        .append(vec![event("2".into(), "t", "s".into())])
        .await
        .unwrap();
    assert_eq!(next(&mut follower, Duration::from_secs(10)).await.id(), "2");
    tokio::time::sleep(Duration::from_millis(500)).await;
    writer
        .append(vec![event("3".into(), "t", "s".into())])
        .await
        .unwrap();
    assert_eq!(next(&mut follower, Duration::from_secs(5)).await.id(), "3");
}
