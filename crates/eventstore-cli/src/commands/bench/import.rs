//! `bench --import N`: `import` of N JSON Lines events, progress bar on, against the
//! backend's raw bulk load of the same events into a table of the same schema.

use std::collections::HashMap;
use std::io::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use eventstore_sql::JsonFormat;

use super::raw::{self, Row};
use super::{Measured, Scratch, event};
use crate::backend::Backend;
use crate::cli::{BenchArgs, ImportArgs, InputFormat, OnDuplicate};
use crate::commands::import;
use crate::progress::{self, Unit};

/// Generates the events, imports them, loads them raw; returns both measurements and
/// the ratio.
pub(crate) async fn run(
    scratch: &Scratch,
    count: u64,
    args: &BenchArgs,
) -> Result<(Vec<Measured>, Option<String>)> {
    let show_progress = !args.no_progress;
    let batch_size = args.import_batch_size;
    let file = std::env::temp_dir().join(format!("eventstore-bench-{}.jsonl", std::process::id()));
    let rows = generate(&file, count, show_progress)?;
    let measured = measure(
        scratch,
        &file,
        &rows,
        count,
        batch_size,
        args.rounds,
        show_progress,
    )
    .await;
    let _ = std::fs::remove_file(&file);
    let rows = measured?;
    let ratio = rows[0].rate() / rows[1].rate();
    Ok((
        rows,
        Some(format!(
            "import / raw bulk load = {ratio:.2}x (best of {} rounds, batch size {batch_size}, \
             progress bar {})",
            args.rounds,
            if show_progress { "on" } else { "off" }
        )),
    ))
}

/// Writes the JSON Lines file and returns the raw side's rows.
fn generate(file: &std::path::Path, count: u64, show_progress: bool) -> Result<Vec<Row>> {
    let bar = progress::bar(Some(count), Unit::Events, show_progress);
    bar.set_message("generating");
    let out =
        std::fs::File::create(file).with_context(|| format!("cannot create {}", file.display()))?;
    let mut out = std::io::BufWriter::new(out);
    let format = JsonFormat::new();
    let mut versions = HashMap::new();
    let mut rows = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    for n in 0..count {
        let event = event(n);
        writeln!(out, "{}", format.write_event(&event))?;
        rows.push(Row::new(&event, &mut versions));
        if n % 10_000 == 0 {
            bar.set_position(n);
        }
    }
    out.flush()?;
    bar.finish_and_clear();
    Ok(rows)
}

/// Best of `rounds`: each round imports into a new table and loads raw into another,
/// after a checkpoint, so that neither phase pays for the other's writes.
async fn measure(
    scratch: &Scratch,
    file: &std::path::Path,
    rows: &[Row],
    count: u64,
    batch_size: u32,
    rounds: u32,
    show_progress: bool,
) -> Result<Vec<Measured>> {
    let args = ImportArgs {
        files: vec![file.to_owned()],
        format: InputFormat::Jsonl,
        batch_size,
        on_duplicate: OnDuplicate::Error,
        extension_types: Vec::new(),
        no_progress: !show_progress,
    };
    let size = std::fs::metadata(file)?.len();
    let (mut best_import, mut best_raw) = (Duration::MAX, Duration::MAX);
    let mut postgres = false;
    for round in 1..=rounds {
        let backend = scratch
            .with_table(&format!("import_{round}"))
            .open_bulk()
            .await?;
        postgres = matches!(backend, Backend::Postgres(_));
        checkpoint(scratch, &backend, count).await?;
        let bar = progress::bar(Some(size), Unit::Bytes, show_progress);
        let started = Instant::now();
        let summary = import::import(&backend, &args, &bar).await?;
        best_import = best_import.min(started.elapsed());
        bar.finish_and_clear();
        backend.close().await?;
        anyhow::ensure!(
            summary.imported == count,
            "import wrote {} of {count} events",
            summary.imported
        );

        // The raw table gets the same schema through the store's own migrations.
        let table = format!("raw_{round}");
        let backend = scratch.with_table(&table).open(true).await?;
        checkpoint(scratch, &backend, count).await?;
        let started = Instant::now();
        match &backend {
            Backend::Sqlite(_) => {
                let path = scratch.target.url.trim_start_matches("sqlite://");
                // The blocking load borrows the rows: scoped, on a thread of its own.
                std::thread::scope(|s| {
                    s.spawn(|| raw::sqlite(std::path::Path::new(path), &table, rows))
                        .join()
                        .map_err(|_| anyhow::anyhow!("the raw load panicked"))?
                })?;
            }
            Backend::Postgres(store) => raw::postgres(store, &store.table().quoted(), rows).await?,
        }
        best_raw = best_raw.min(started.elapsed());
        backend.close().await?;
    }
    Ok(vec![
        Measured {
            what: "eventstore import (JSON Lines file)".to_owned(),
            events: count,
            elapsed: best_import,
        },
        Measured {
            what: if postgres {
                "raw binary COPY (events in memory)".to_owned()
            } else {
                "raw inserts, one transaction (events in memory)".to_owned()
            },
            events: count,
            elapsed: best_raw,
        },
    ])
}

/// Flushes what earlier phases wrote, so the next phase does not pay for it: a
/// `CHECKPOINT` on PostgreSQL (skipped when not permitted), a WAL checkpoint on SQLite.
/// Smoke-sized runs skip it: a server-wide checkpoint is not theirs to cause.
async fn checkpoint(scratch: &Scratch, backend: &Backend, count: u64) -> Result<()> {
    if count < 100_000 {
        return Ok(());
    }
    match backend {
        Backend::Postgres(store) => {
            let client = store.pool().get().await?;
            if let Err(e) = client.batch_execute("CHECKPOINT").await {
                eprintln!("(no CHECKPOINT before the phase: {e})");
            }
        }
        Backend::Sqlite(_) => {
            let path = scratch.target.url.trim_start_matches("sqlite://");
            let conn = rusqlite::Connection::open(path)?;
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        }
    }
    Ok(())
}
