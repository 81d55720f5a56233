#![allow(clippy::print_stdout)] // An example prints what it does.

//! A read model kept current live, then rebuilt from scratch with the same result: the
//! number of orders in each state, in a table of the store's own database, updated in
//! the same transaction as the projection's checkpoint (exactly once per event).
//!
//! ```text
//! cargo run -p eventstore-sql --features replay --example projection
//! ```

use std::sync::Arc;
use std::time::Duration;

use eventstore_sql::replay::{ProjectionRunner, TransactionalProjection};
use eventstore_sql::{
    AppendOptions, CancellationToken, Event, EventStore, SqliteEventStore, SqliteWork, StoredEvent,
    TransactionalStore,
};

/// Orders per state: `order.created` counts as "open", `order.shipped` moves one to
/// "shipped".
struct OrderCounts;

impl TransactionalProjection<SqliteEventStore> for OrderCounts {
    fn name(&self) -> &str {
        "order-counts"
    }

    fn apply(&self, event: &StoredEvent) -> SqliteWork<()> {
        let ty = event.ty().to_owned();
        Box::new(move |tx| {
            let bump = "INSERT INTO order_counts (state, n) VALUES (?1, ?2) \
                        ON CONFLICT (state) DO UPDATE SET n = n + excluded.n";
            match ty.as_str() {
                "order.created" => {
                    tx.execute(bump, ("open", 1))?;
                }
                "order.shipped" => {
                    tx.execute(bump, ("open", -1))?;
                    tx.execute(bump, ("shipped", 1))?;
                }
                _ => {}
            }
            Ok(((), vec![]))
        })
    }

    fn reset(&self) -> SqliteWork<()> {
        Box::new(|tx| {
            tx.execute("DELETE FROM order_counts", [])?;
            Ok(((), vec![]))
        })
    }
}

async fn read_model(store: &SqliteEventStore) -> Result<Vec<(String, i64)>, eventstore_sql::Error> {
    let read: SqliteWork<Vec<(String, i64)>> = Box::new(|tx| {
        let mut stmt = tx.prepare("SELECT state, n FROM order_counts ORDER BY state")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok((rows.collect::<Result<_, _>>()?, vec![]))
    });
    Ok(store.transact(read, AppendOptions::new()).await?.value)
}

fn event(order: u32, step: &str) -> Result<Event, eventstore_sql::ValidationError> {
    Event::builder()
        .id(format!("order-{order}-{step}"))
        .source("/shop/orders")
        .ty(format!("order.{step}"))
        .subject(format!("order-{order}"))
        .build()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("eventstore-projection-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let store = SqliteEventStore::open(dir.join("shop.db")).await?;
    let schema: SqliteWork<()> = Box::new(|tx| {
        tx.execute_batch("CREATE TABLE order_counts (state TEXT PRIMARY KEY, n INTEGER NOT NULL)")?;
        Ok(((), vec![]))
    });
    store.transact(schema, AppendOptions::new()).await?;

    // History before the projection exists.
    store
        .append(vec![
            event(1, "created")?,
            event(2, "created")?,
            event(1, "shipped")?,
        ])
        .await?;

    // The projection catches up, then follows live appends.
    let shutdown = CancellationToken::new();
    let runner = ProjectionRunner::new(Arc::new(store.clone())).with_transactional(OrderCounts);
    let live = tokio::spawn({
        let shutdown = shutdown.clone();
        let runner = ProjectionRunner::new(Arc::new(store.clone())).with_transactional(OrderCounts);
        async move { runner.run(shutdown).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    println!("caught up:        {:?}", read_model(&store).await?);
    store
        .append(vec![
            event(3, "created")?,
            event(2, "shipped")?,
            event(4, "created")?,
        ])
        .await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let live_state = read_model(&store).await?;
    println!("after live events: {live_state:?}");
    shutdown.cancel();
    live.await?;

    // Rebuilt from scratch: state reset and checkpoint forgotten atomically, replayed.
    let replayed = runner.rebuild("order-counts").await?;
    let rebuilt = read_model(&store).await?;
    println!("rebuilt from {replayed} events: {rebuilt:?}");
    assert_eq!(rebuilt, live_state, "a rebuild gives the live state");

    store.close().await?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
