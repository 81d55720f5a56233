//! `demo`: the whole mission in under a minute, on a fresh SQLite file (or the store
//! `--database-url` names, with ids unique to the run so that it can run again).

mod live;
mod shop;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use eventstore_sql::outbox::{OutboxRelay, TransactionalPublisher};
use eventstore_sql::replay::{ProjectionRunner, Replayer};
use eventstore_sql::time::OffsetDateTime;
use eventstore_sql::{AppendOptions, Event, EventQuery, EventStore, ExpectedVersion, StoredEvent};
use futures::TryStreamExt as _;
use tokio_util::sync::CancellationToken;

use self::live::{OrderStatus, Printer, applied, in_order};
use self::shop::{Order, Shop};
use crate::Context;
use crate::backend::{Backend, Target};
use crate::cli::Output;
use crate::commands::stats;
use crate::failure::OK;
use crate::output::print_events;

/// Runs the demo; `keep` keeps a fresh SQLite file instead of removing it.
pub(crate) async fn run(cx: &Context, keep: bool) -> Result<u8> {
    let started = Instant::now();
    let run = run_tag();
    let (target, scratch) = if cx.url_given {
        (cx.target.clone(), None)
    } else {
        let dir = std::env::temp_dir().join(format!("eventstore-demo-{run}"));
        let url = format!("sqlite://{}", dir.join("demo.db").display());
        (Target { url, table: None }, Some(dir))
    };
    outln!("eventstore-sql demo, run {run}")?;
    outln!("store: {}", target.display_url())?;
    // Created after the first lines: a closed pipe ends the demo before it leaves a file.
    if let Some(dir) = &scratch {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let backend = target
        .open(true)
        .await
        .with_context(|| format!("cannot open the store at {}", target.display_url()))?;
    let result = match &backend {
        Backend::Sqlite(store) => walk(store.clone(), &backend, &run).await,
        Backend::Postgres(store) => walk(store.clone(), &backend, &run).await,
    };
    backend.close().await?;
    // A fresh file goes even when the walk failed (a closed pipe, say), unless kept.
    if let Some(dir) = scratch.as_ref().filter(|_| !keep) {
        remove(dir);
    }
    result?;
    if scratch.is_some() && keep {
        outln!(
            "\nThe store is kept: eventstore --database-url {} query",
            target.url
        )?;
    }
    outln!("\ndone in {:.1} s", started.elapsed().as_secs_f64())?;
    Ok(OK)
}

fn remove(dir: &PathBuf) {
    if let Err(e) = std::fs::remove_dir_all(dir) {
        eprintln!("could not remove {}: {e}", dir.display());
    }
}

/// A short tag unique to this run: every id, subject and name of the run carries it.
fn run_tag() -> String {
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
    format!(
        "{:x}",
        (nanos as u64 ^ u64::from(std::process::id())) & 0xf_ffff
    )
}

fn heading(text: &str) -> std::io::Result<()> {
    outln!("\n== {text}")
}

/// Everything about one demo run's orders.
struct Run {
    source: String,
    tag: String,
    now: OffsetDateTime,
}

impl Run {
    fn subject(&self, order: u32) -> String {
        format!("order-{}-{order}", self.tag)
    }

    fn event(&self, order: u32, step: &str, minutes_ago: i64, data: serde_json::Value) -> Event {
        Event::builder()
            .id(format!("{}-{step}", self.subject(order)))
            .source(&self.source)
            .ty(format!("com.example.order.{step}"))
            .subject(self.subject(order))
            .time(self.now - Duration::from_secs(minutes_ago as u64 * 60))
            .json(&data)
            .build()
            .expect("the demo's events are valid")
    }

    fn ours(&self) -> EventQuery {
        EventQuery::new().source(&self.source)
    }
}

async fn walk<S: Shop>(store: S, backend: &Backend, tag: &str) -> Result<()> {
    let run = Run {
        source: format!("/shop/{tag}/orders"),
        tag: tag.to_owned(),
        // Whole seconds read better in the tables below.
        now: OffsetDateTime::now_utc().replace_nanosecond(0)?,
    };
    let events: Arc<dyn EventStore> = Arc::new(store.clone());
    let publisher = TransactionalPublisher::new(store.clone());
    publisher
        .publish_with_tx(store.create_orders_table())
        .await?;

    heading("1. An order service writes its row and its event in one transaction")?;
    for (order, total) in [(1, 25.0), (2, 99.5), (3, 12.0)] {
        place(&store, &publisher, &run, order, total).await?;
    }

    heading("2. A failed transaction leaves nothing behind")?;
    let refused = place(&store, &publisher, &run, 4, -5.0).await;
    outln!("  rolled back: {}", one_line(refused.err()))?;
    let rows = store
        .transact(
            store.order_rows(format!("{}-4", run.tag)),
            AppendOptions::new(),
        )
        .await?
        .value;
    let event = events
        .get(&run.source, &format!("{}-placed", run.subject(4)))
        .await?;
    outln!(
        "  order 4: {rows} rows in demo_orders, event stored: {}",
        if event.is_some() { "yes" } else { "no" }
    )?;
    let again = Event::builder()
        .id(format!("{}-placed-again", run.subject(1)))
        .source(&run.source)
        .ty("com.example.order.placed")
        .subject(run.subject(1))
        .build()?;
    let no_stream = AppendOptions::new().expect(run.subject(1), ExpectedVersion::NoStream);
    let twice = events.append_with(vec![again], no_stream).await;
    outln!(
        "  order 1 placed again, expecting a new stream: {}",
        one_line(twice.err().map(anyhow::Error::from))
    )?;

    heading("3. Orders move on: appends with expected stream versions")?;
    let paid =
        |order, total: f64| run.event(order, "paid", 90, serde_json::json!({ "amount": total }));
    let expect = |order, version| {
        AppendOptions::new().expect(run.subject(order), ExpectedVersion::Exact(version))
    };
    events
        .append_with(vec![paid(1, 25.0)], expect(1, 1))
        .await?;
    events
        .append_with(vec![paid(2, 99.5)], expect(2, 1))
        .await?;
    let shipped = run.event(1, "shipped", 10, serde_json::json!({ "carrier": "DHL" }));
    events.append_with(vec![shipped], expect(1, 2)).await?;
    outln!("  order 1 paid and shipped, order 2 paid")?;

    heading("4. Queries")?;
    outln!(
        "  by type: eventstore query --type com.example.order.paid --source {}",
        run.source
    )?;
    print_events(
        Output::Table,
        events.query(run.ours().ty("com.example.order.paid")),
    )
    .await?;
    outln!("  by subject: eventstore stream {}", run.subject(1))?;
    print_events(Output::Table, events.stream(&run.subject(1), 1)).await?;
    outln!(
        "  by time: eventstore query --since 1h --source {}",
        run.source
    )?;
    let hour_ago = run.now - Duration::from_secs(3600);
    print_events(Output::Table, events.query(run.ours().time_from(hour_ago))).await?;

    heading("5. A subject replayed into its state")?;
    replay(&events, &run.subject(1)).await?;

    heading("6. A projection catches up, then follows live appends")?;
    let (projection, state) = OrderStatus::new(format!("demo-status-{tag}"), run.ours());
    let shutdown = CancellationToken::new();
    let runner = ProjectionRunner::new(Arc::new(store.clone())).with(projection);
    let projecting = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { runner.run(shutdown).await }
    });
    let caught_up = applied(&state, 6).await?;
    outln!(
        "  caught up on {} events: {}",
        caught_up.applied,
        caught_up.summary()
    )?;
    place(&store, &publisher, &run, 5, 42.0).await?;
    let shipped = run.event(2, "shipped", 0, serde_json::json!({ "carrier": "UPS" }));
    events.append_with(vec![shipped], expect(2, 2)).await?;
    let live = applied(&state, 8).await?;
    outln!(
        "  after 2 live appends, {} events: {}",
        live.applied,
        live.summary()
    )?;
    shutdown.cancel();
    for report in projecting.await? {
        report.result?;
    }

    heading("7. The outbox relay delivers every event, in order")?;
    let ours: Vec<StoredEvent> = events.query(run.ours()).try_collect().await?;
    let shutdown = CancellationToken::new();
    let printer = Arc::new(Printer::new(ours.len(), shutdown.clone()));
    let relay = OutboxRelay::new(
        format!("demo-relay-{tag}"),
        Arc::new(store.clone()),
        printer.clone(),
    )
    .filter(run.ours())
    .batch_size(4)?;
    let stats = tokio::time::timeout(Duration::from_secs(20), relay.run(shutdown))
        .await
        .context("the relay did not deliver within 20 s")??;
    let delivered = printer.delivered();
    outln!(
        "  delivered {} events; in sequence order, each order's in version order: {}",
        stats.delivered,
        if in_order(&delivered) { "yes" } else { "NO" }
    )?;

    heading("8. Stats")?;
    let report = stats::collect(backend, 5).await?;
    stats::print(&report, backend, Output::Table)?;
    Ok(())
}

/// Places an order through the publisher: its row and its `placed` event, together.
async fn place<S: Shop>(
    store: &S,
    publisher: &TransactionalPublisher<S>,
    run: &Run,
    order: u32,
    total: f64,
) -> Result<()> {
    let order_id = format!("{}-{order}", run.tag);
    let placed = run.event(order, "placed", 120, serde_json::json!({ "total": total }));
    let work = store.place_order(
        Order {
            id: order_id,
            total,
        },
        placed,
    );
    let options = AppendOptions::new().expect(run.subject(order), ExpectedVersion::NoStream);
    let done = publisher.publish_with_options(work, options).await?;
    let sequence = done.appended.first_sequence().unwrap_or_default();
    outln!("  order {order} ({total}): row + event #{sequence} committed together")?;
    Ok(())
}

/// Folds a subject's events into the order's state.
async fn replay(events: &Arc<dyn EventStore>, subject: &str) -> Result<()> {
    #[derive(Debug, Default)]
    struct State {
        status: String,
        total: f64,
        paid: f64,
        carrier: String,
        version: i64,
    }
    let state = Arc::new(Mutex::new(State::default()));
    let replayer = Replayer::new(Arc::clone(events));
    let stats = replayer
        .replay_subject(subject, |event| {
            let state = Arc::clone(&state);
            async move {
                let data: serde_json::Value = match event.data() {
                    Some(eventstore_sql::Data::Json(json)) => serde_json::from_str(json.as_str())?,
                    _ => serde_json::Value::Null,
                };
                let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
                state.status = event.ty().rsplit('.').next().unwrap_or_default().to_owned();
                state.total = data["total"].as_f64().unwrap_or(state.total);
                state.paid = data["amount"].as_f64().unwrap_or(state.paid);
                if let Some(carrier) = data["carrier"].as_str() {
                    state.carrier = carrier.to_owned();
                }
                state.version = event.stream_version().unwrap_or_default();
                Ok::<(), serde_json::Error>(())
            }
        })
        .await?;
    let state = state.lock().unwrap_or_else(PoisonError::into_inner);
    outln!(
        "  {subject} after {} events: status {}, total {}, paid {}, carrier {}, version {}",
        stats.events,
        state.status,
        state.total,
        state.paid,
        state.carrier,
        state.version
    )?;
    Ok(())
}

/// An expected failure, as one line.
fn one_line(error: Option<anyhow::Error>) -> String {
    error.map_or_else(
        || "unexpectedly accepted".to_owned(),
        |e| crate::failure::one_line(&e),
    )
}
