//! The backend-agnostic relay suite (`eventstore_testkit::delivery`), each test in a
//! schema of its own: another handle is another store (its own pool and listener) on
//! the schema, as another process's would be.

mod common;

use std::time::Duration;

use eventstore_postgres::PostgresOptions;
use eventstore_testkit::delivery::Handle;

async fn fresh() -> Handle {
    let schema = common::Schema::new("dlv");
    let store = schema.open().await;
    Handle::new(store, schema.name.clone()).keep(schema)
}

/// Another store on the schema `location`; `lock_wait` is its connections'
/// `lock_timeout`.
async fn open(location: &str, lock_wait: Option<Duration>) -> Handle {
    let options = match lock_wait {
        None => common::Schema::options_for(location),
        Some(wait) => {
            let url = common::database_url();
            let separator = if url.contains('?') { '&' } else { '?' };
            let millis = wait.as_millis();
            let url = format!("{url}{separator}options=-c%20lock_timeout%3D{millis}");
            PostgresOptions::from_url(&url)
                .expect("a valid URL")
                .schema(location)
                .expect("a valid schema")
                .pool_size(10)
                .expect("a valid pool size")
        }
    };
    let store = options.open().await.expect("the store opens");
    Handle::new(store, location)
}

/// Locks the schema's lease table against writes on a connection of its own, and lets
/// it go after `hold`.
async fn hold_lease_lock(location: &str, hold: Duration) {
    let client = common::admin().await;
    client
        .batch_execute(&format!(
            "BEGIN; LOCK TABLE \"{location}\".\"events$leases\" IN EXCLUSIVE MODE"
        ))
        .await
        .expect("the lock");
    tokio::spawn(async move {
        tokio::time::sleep(hold).await;
        client
            .batch_execute("COMMIT")
            .await
            .expect("the lock released");
    });
}

eventstore_testkit::delivery_suite!(fresh, open, hold_lease_lock);
