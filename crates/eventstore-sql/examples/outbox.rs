#![allow(clippy::print_stdout)] // An example prints what it does.

//! The transactional outbox: an order service writes its own `orders` table and
//! publishes `order.created` in the same transaction; a relay delivers what committed.
//!
//! ```text
//! cargo run -p eventstore-sql --features outbox --example outbox
//! ```

use std::sync::Arc;
use std::time::Duration;

use eventstore_sql::outbox::{OutboxRelay, TransactionalPublisher};
use eventstore_sql::{
    CancellationToken, Event, EventStore, SendError, Sender, SqliteEventStore, SqliteWork,
    StoredEvent,
};

/// A sender that prints: stands in for a broker.
struct PrintingSender;

#[eventstore_sql::async_trait]
impl Sender for PrintingSender {
    async fn send(&self, events: &[StoredEvent]) -> Result<(), SendError> {
        for event in events {
            println!(
                "  relay delivered #{} {} ({})",
                event.sequence(),
                event.ty(),
                event.subject().unwrap_or("-")
            );
        }
        Ok(())
    }
}

/// The order service's transaction: its own row and the event, together.
fn place_order(order: u32, total: f64) -> SqliteWork<()> {
    Box::new(move |tx| {
        if total <= 0.0 {
            return Err(format!("order {order}: total must be positive").into());
        }
        tx.execute(
            "INSERT INTO orders (id, total) VALUES (?1, ?2)",
            (order, total),
        )?;
        let event = Event::builder()
            .id(format!("order-{order}-created"))
            .source("/shop/orders")
            .ty("com.example.order.created")
            .subject(format!("order-{order}"))
            .json(&serde_json::json!({ "order": order, "total": total }))
            .build()?;
        Ok(((), vec![event]))
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("eventstore-outbox-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let store = SqliteEventStore::open(dir.join("shop.db")).await?;
    let publisher = TransactionalPublisher::new(store.clone());
    let schema: SqliteWork<()> = Box::new(|tx| {
        tx.execute_batch("CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, total REAL)")?;
        Ok(((), vec![]))
    });
    publisher.publish_with_tx(schema).await?;

    // The relay runs beside the service, delivering as orders commit.
    let shutdown = CancellationToken::new();
    let relay = OutboxRelay::new("printer", Arc::new(store.clone()), Arc::new(PrintingSender));
    let relay_task = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { relay.run(shutdown).await }
    });

    for (order, total) in [(1, 25.0), (2, -5.0), (3, 99.5)] {
        match publisher.publish_with_tx(place_order(order, total)).await {
            Ok(_) => println!("order {order} committed with its event"),
            Err(e) => println!("order {order} rolled back, no row and no event: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    tokio::time::sleep(Duration::from_millis(300)).await;
    shutdown.cancel();
    let stats = relay_task.await??;
    println!("relay stopped after delivering {} events", stats.delivered);
    store.close().await?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
