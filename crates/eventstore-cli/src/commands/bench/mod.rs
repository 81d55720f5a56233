//! `bench`: append and read throughput on a scratch store, or (`--import N`) the import
//! of N JSON Lines events against the backend's raw bulk load.

mod import;
mod raw;
mod scratch;

use std::time::{Duration, Instant};

use anyhow::Result;
use comfy_table::Table;
use eventstore_sql::{Event, EventQuery};
use futures::TryStreamExt as _;

use crate::Context;
use crate::cli::BenchArgs;
use crate::failure::OK;
use crate::progress::{self, Unit};

pub(crate) use scratch::Scratch;

/// One measured operation.
pub(crate) struct Measured {
    /// What was measured.
    pub(crate) what: String,
    /// How many events it handled.
    pub(crate) events: u64,
    /// How long it took.
    pub(crate) elapsed: Duration,
}

impl Measured {
    /// Events per second.
    pub(crate) fn rate(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Runs the benchmark `args` asks for.
pub(crate) async fn run(cx: &Context, args: &BenchArgs) -> Result<u8> {
    let scratch = Scratch::new(cx)?;
    eprintln!("benchmarking on a scratch store: {}", scratch.describe());
    let backend = scratch.target.open(true).await?;
    let result = match args.import {
        Some(events) => import::run(&scratch, events, args).await,
        None => throughput(&backend, args).await,
    };
    scratch.remove(&backend).await?;
    let (rows, note) = result?;
    print(backend.name(), &rows, note.as_deref())?;
    Ok(OK)
}

/// The `n`-th synthetic event: 100 subjects, a few types, a small JSON payload.
pub(crate) fn event(n: u64) -> Event {
    let types = ["created", "paid", "shipped", "delivered"];
    Event::builder()
        .id(format!("bench-{n}"))
        .source("/bench")
        .ty(format!("com.example.order.{}", types[(n % 4) as usize]))
        .subject(format!("order-{}", n % 100))
        .time(eventstore_sql::time::OffsetDateTime::UNIX_EPOCH + Duration::from_secs(n))
        .json(&serde_json::json!({ "n": n, "amount": (n % 1000) as f64 / 10.0 }))
        .build()
        .expect("a valid synthetic event")
}

async fn throughput(
    backend: &crate::backend::Backend,
    args: &BenchArgs,
) -> Result<(Vec<Measured>, Option<String>)> {
    let store = backend.store();
    let total = args.events;
    let batch = u64::from(args.batch_size);
    let mut rows = Vec::new();

    let bar = progress::bar(Some(total), Unit::Events, !args.no_progress);
    bar.set_message(format!("append, batches of {batch}"));
    let started = Instant::now();
    let mut n = 0;
    while n < total {
        let events: Vec<Event> = (n..total.min(n + batch)).map(event).collect();
        n += events.len() as u64;
        store.append(events).await?;
        bar.set_position(n);
    }
    bar.finish_and_clear();
    rows.push(Measured {
        what: format!("append, batches of {batch}"),
        events: total,
        elapsed: started.elapsed(),
    });

    let singles = total.min(1000);
    let bar = progress::bar(Some(singles), Unit::Events, !args.no_progress);
    bar.set_message("append, one event per call");
    let started = Instant::now();
    for n in total..total + singles {
        store.append(vec![event(n)]).await?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    rows.push(Measured {
        what: "append, one event per call".to_owned(),
        events: singles,
        elapsed: started.elapsed(),
    });

    let bar = progress::bar(Some(total + singles), Unit::Events, !args.no_progress);
    bar.set_message("read all (query)");
    let started = Instant::now();
    let mut events = store.query(EventQuery::new());
    let mut read = 0;
    while events.try_next().await?.is_some() {
        read += 1;
        if read % 1000 == 0 {
            bar.set_position(read);
        }
    }
    bar.finish_and_clear();
    rows.push(Measured {
        what: "read all (query)".to_owned(),
        events: read,
        elapsed: started.elapsed(),
    });

    let started = Instant::now();
    let subject: Vec<_> = store.stream("order-7", 1).try_collect().await?;
    rows.push(Measured {
        what: "read one subject (stream)".to_owned(),
        events: subject.len() as u64,
        elapsed: started.elapsed(),
    });
    Ok((rows, None))
}

fn print(backend: &str, rows: &[Measured], note: Option<&str>) -> std::io::Result<()> {
    let mut table = Table::new();
    table.set_header([backend, "events", "seconds", "events/s"]);
    for row in rows {
        table.add_row([
            row.what.clone(),
            row.events.to_string(),
            format!("{:.3}", row.elapsed.as_secs_f64()),
            format!("{:.0}", row.rate()),
        ]);
    }
    outln!("{table}")?;
    if let Some(note) = note {
        outln!("{note}")?;
    }
    Ok(())
}
