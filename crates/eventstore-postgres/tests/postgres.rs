//! What only PostgreSQL has: concurrent migration, the schema version guard, lossless
//! JSON beside jsonb, TLS, and the horizon's lag (bulk import: tests/import.rs).

mod common;

use eventstore_core::{Data, Event, EventQuery, EventStore, Json};
use eventstore_postgres::{PostgresOptions, TlsMode, TlsOptions};
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
    let client = store.pool().get().await.unwrap();
    let ssl: bool = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(ssl, "the connection is encrypted");
    // The server's certificate is self-signed and not for 127.0.0.1: verify-full with
    // the default roots must refuse it.
    let refused = PostgresOptions::from_url(&url)
        .unwrap()
        .schema(&schema.name)
        .unwrap()
        .tls(TlsOptions::new(TlsMode::VerifyFull))
        .connect_timeout(Some(std::time::Duration::from_secs(5)))
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
