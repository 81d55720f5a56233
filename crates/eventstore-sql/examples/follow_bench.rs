#![allow(clippy::print_stdout)] // A benchmark prints its figures.

//! Followers' speed on either backend: replay and relay backlog drain against the
//! store's own streaming read of the same events, and the latency from an append's
//! commit to a live subscription and to a relay's sender (p50/p99).
//!
//! ```text
//! cargo run --release -p eventstore-sql --all-features --example follow_bench -- sqlite::memory: 200000
//! cargo run --release -p eventstore-sql --all-features --example follow_bench -- postgres://postgres@127.0.0.1/postgres 200000
//! ```
//!
//! On PostgreSQL it works in a schema of its own (`follow_bench_<pid>`), dropped at the end.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use eventstore_sql::outbox::OutboxRelay;
use eventstore_sql::replay::Replayer;
use eventstore_sql::{
    Event, EventQuery, EventStore, Position, SendError, Sender, SqliteEventStore, StoredEvent,
};
use futures::{StreamExt as _, TryStreamExt as _};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Counts what it is sent, and reports each event's arrival.
struct Counting(mpsc::UnboundedSender<(i64, Instant)>);

#[async_trait]
impl Sender for Counting {
    async fn send(&self, events: &[StoredEvent]) -> Result<(), SendError> {
        let now = Instant::now();
        for e in events {
            let _ = self.0.send((e.sequence(), now));
        }
        Ok(())
    }
}

fn event(i: usize) -> Event {
    Event::builder()
        .id(format!("e{i}"))
        .source("/bench")
        .ty(format!("type.{}", i % 20))
        .subject(format!("subject-{}", i % 1000))
        .correlationid(format!("c{}", i / 3))
        .json(&serde_json::json!({ "i": i, "payload": "x".repeat(240) }))
        .build()
        .expect("valid")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn open(
    url: &str,
) -> Result<(Arc<dyn EventStore>, Box<dyn std::any::Any>), Box<dyn std::error::Error>> {
    if url.starts_with("sqlite") {
        let store = SqliteEventStore::open_url(url).await?;
        let relay_store: Arc<dyn eventstore_sql::outbox::RelayStore> = Arc::new(store.clone());
        return Ok((Arc::new(store), Box::new(relay_store)));
    }
    let schema = format!("follow_bench_{}", std::process::id());
    let store = eventstore_sql::postgres::PostgresOptions::from_url(url)?
        .schema(&schema)?
        .open()
        .await?;
    let relay_store: Arc<dyn eventstore_sql::outbox::RelayStore> = Arc::new(store.clone());
    Ok((Arc::new(store), Box::new((relay_store, schema))))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| "sqlite::memory:".to_owned());
    let n: usize = args.next().map_or(Ok(100_000), |a| a.parse())?;
    let (store, keep) = open(&url).await?;
    let relay_store = keep
        .downcast_ref::<Arc<dyn eventstore_sql::outbox::RelayStore>>()
        .cloned()
        .or_else(|| {
            keep.downcast_ref::<(Arc<dyn eventstore_sql::outbox::RelayStore>, String)>()
                .map(|(s, _)| s.clone())
        })
        .expect("a relay store");

    for chunk in (0..n).collect::<Vec<_>>().chunks(5_000) {
        store
            .append(chunk.iter().map(|&i| event(i)).collect())
            .await?;
    }
    println!("{url}: {n} events loaded");

    // The store's own streaming read: the reference rate.
    let started = Instant::now();
    let read = store
        .query(EventQuery::new())
        .try_fold(0usize, |n, _| async move { Ok(n + 1) })
        .await?;
    let read_rate = read as f64 / started.elapsed().as_secs_f64();

    // Replay into a no-op handler.
    let started = Instant::now();
    let replayed = Replayer::new(Arc::clone(&store))
        .replay(EventQuery::new(), |_| async {
            Ok::<_, std::convert::Infallible>(())
        })
        .await?;
    let replay_rate = replayed.events as f64 / started.elapsed().as_secs_f64();

    // A relay draining the backlog into an in-memory sender.
    let (tx, mut rx) = mpsc::unbounded_channel();
    let shutdown = CancellationToken::new();
    let relay = OutboxRelay::new("bench", Arc::clone(&relay_store), Arc::new(Counting(tx)))
        .batch_size(1000);
    let started = Instant::now();
    let relay_task = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { relay.run(shutdown).await }
    });
    let mut drained = 0;
    while drained < n {
        rx.recv().await.expect("the relay runs");
        drained += 1;
    }
    let drain_rate = n as f64 / started.elapsed().as_secs_f64();

    // Latency: one event at a time, commit to subscription and to the relay's sender.
    let mut subscription = Replayer::new(Arc::clone(&store)).subscribe(
        Position::After(store.horizon().await?.head),
        EventQuery::new(),
    );
    let (mut to_subscriber, mut to_relay) = (Vec::new(), Vec::new());
    for i in 0..300 {
        let before = Instant::now();
        let appended = store.append(vec![event(n + i)]).await?;
        let committed = Instant::now();
        let sequence = appended.first_sequence().expect("one event");
        let seen = subscription.next().await.expect("live")?;
        assert_eq!(seen.sequence(), sequence);
        to_subscriber.push(Instant::now().duration_since(committed));
        let (delivered, at) = rx.recv().await.expect("the relay runs");
        assert_eq!(delivered, sequence);
        to_relay.push(at.saturating_duration_since(committed));
        let _ = before;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    shutdown.cancel();
    relay_task.await??;
    to_subscriber.sort();
    to_relay.sort();

    println!("\nworkload                                  rate / latency      vs the store's read");
    println!("streaming read (reference)                {read_rate:>10.0} ev/s");
    println!(
        "replay into a no-op handler               {replay_rate:>10.0} ev/s   {:.2}×  (target ≥ 0.8×)",
        replay_rate / read_rate
    );
    println!(
        "relay backlog drain, in-memory sender     {drain_rate:>10.0} ev/s   {:.2}×  (target ≥ 0.8×)",
        drain_rate / read_rate
    );
    println!(
        "commit → subscription     p50 {:>8.2?}  p99 {:>8.2?}",
        percentile(&to_subscriber, 0.5),
        percentile(&to_subscriber, 0.99)
    );
    println!(
        "commit → relay's sender   p50 {:>8.2?}  p99 {:>8.2?}",
        percentile(&to_relay, 0.5),
        percentile(&to_relay, 0.99)
    );

    if let Some((_, schema)) =
        keep.downcast_ref::<(Arc<dyn eventstore_sql::outbox::RelayStore>, String)>()
    {
        let (client, connection) = tokio_postgres_connect(&url).await?;
        tokio::spawn(connection);
        client
            .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
            .await?;
    }
    Ok(())
}

async fn tokio_postgres_connect(
    url: &str,
) -> Result<
    (
        eventstore_sql::postgres::tokio_postgres::Client,
        eventstore_sql::postgres::tokio_postgres::Connection<
            eventstore_sql::postgres::tokio_postgres::Socket,
            eventstore_sql::postgres::tokio_postgres::tls::NoTlsStream,
        >,
    ),
    Box<dyn std::error::Error>,
> {
    Ok(eventstore_sql::postgres::tokio_postgres::connect(
        url,
        eventstore_sql::postgres::tokio_postgres::NoTls,
    )
    .await?)
}
