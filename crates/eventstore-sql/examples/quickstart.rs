#![allow(clippy::print_stdout)] // An example prints what it does.

//! The quickstart: an embedded store in a file, some orders' events, and the ways to
//! read them back.
//!
//! ```text
//! cargo run -p eventstore-sql --example quickstart
//! ```

use eventstore_sql::time::OffsetDateTime;
use eventstore_sql::{
    AppendOptions, Event, EventQuery, EventStore, ExpectedVersion, JsonFormat, Order,
    SqliteEventStore,
};
use futures::TryStreamExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path =
        std::env::temp_dir().join(format!("eventstore-quickstart-{}.db", std::process::id()));
    let store = SqliteEventStore::open(&path).await?;
    println!("opened {}", path.display());

    // Three orders, each a stream of events keyed by its subject.
    let mut batch = Vec::new();
    for order in 1..=3 {
        for (step, ty) in ["created", "paid", "shipped"]
            .iter()
            .enumerate()
            .take(order + 1)
        {
            batch.push(
                Event::builder()
                    .id(format!("order-{order}-{ty}"))
                    .source("/shop/orders")
                    .ty(format!("com.example.order.{ty}"))
                    .subject(format!("order-{order}"))
                    .time(OffsetDateTime::now_utc())
                    .correlationid(format!("checkout-{order}"))
                    .json(&serde_json::json!({ "order": order, "step": step }))
                    .build()?,
            );
        }
    }
    let result = store.append(batch).await?;
    println!(
        "appended {} events, sequences {:?}..={:?}",
        result.appended.len(),
        result.first_sequence(),
        result.last_sequence()
    );

    // Optimistic concurrency: append only if order-1 is still at version 2.
    let refund = Event::builder()
        .id("order-1-refunded")
        .source("/shop/orders")
        .ty("com.example.order.refunded")
        .subject("order-1")
        .build()?;
    let options = AppendOptions::new().expect("order-1", ExpectedVersion::Exact(2));
    store
        .append_with(vec![refund.clone()], options.clone())
        .await?;
    match store.append_with(vec![refund], options).await {
        Err(e) => println!("second refund refused: {e}"),
        Ok(_) => unreachable!("the expectation no longer holds"),
    }

    // A subject's stream, in version order.
    println!("\nstream order-1:");
    let mut stream = store.stream("order-1", 1);
    while let Some(event) = stream.try_next().await? {
        println!("  v{} {}", event.stream_version().unwrap_or(0), event.ty());
    }

    // Queries by any attribute; newest first.
    let paid: Vec<_> = store
        .query(
            EventQuery::new()
                .ty("com.example.order.paid")
                .order(Order::Descending),
        )
        .try_collect()
        .await?;
    println!(
        "\npaid orders: {:?}",
        paid.iter()
            .map(|e| e.subject().unwrap_or("-"))
            .collect::<Vec<_>>()
    );

    // One event by (source, id), written in the CloudEvents JSON format.
    if let Some(event) = store.get("/shop/orders", "order-3-shipped").await? {
        println!("\n{}", JsonFormat::new().write_event(event.event()));
    }

    store.close().await?;
    drop(store);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    Ok(())
}
