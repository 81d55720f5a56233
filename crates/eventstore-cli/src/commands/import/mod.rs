//! `import`: CloudEvents JSON, batches, JSON Lines or conformance-vector files, from
//! files or stdin, in batches.
//!
//! Semantics: the input is cut into batches of `--batch-size` events (a batch never
//! spans two inputs). Each batch is validated whole before anything of it is written,
//! and written in one transaction (the backend's bulk import: binary `COPY` on
//! PostgreSQL, one prepared insert without savepoints on SQLite; with
//! `--on-duplicate skip`, an append that skips stored events): a batch with an invalid
//! event, or one the store refuses (a duplicate, a conflict), is not written at all, its
//! problems are reported with their line (or batch index, or conformance test id), and
//! the import goes on with the next batch, so one run reports every problem. At the end
//! it says how many events landed; the exit code is 3 if any batch was refused.

mod input;

use anyhow::{Context as _, Result};
use eventstore_sql::{AppendOptions, Event, OnDuplicate as Policy};
use tokio::sync::mpsc;

use crate::backend::Backend;
use crate::cli::{ImportArgs, OnDuplicate};
use crate::extension_types::ExtensionTypes;
use crate::failure::{INVALID, OK};
use crate::output::plural;
use crate::progress;

pub(crate) use input::Chunk;

/// What an import did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Summary {
    /// Events written.
    pub(crate) imported: u64,
    /// Events skipped as already stored (`--on-duplicate skip`).
    pub(crate) skipped: u64,
    /// Invalid events found.
    pub(crate) invalid: u64,
    /// Batches not written.
    pub(crate) refused_batches: u64,
    /// Events not written because their batch was refused.
    pub(crate) not_written: u64,
}

/// Runs the import and reports it.
pub(crate) async fn run(backend: &Backend, args: &ImportArgs) -> Result<u8> {
    let total = input_size(&args.files);
    let bar = progress::bar(total, progress::Unit::Bytes, !args.no_progress);
    let summary = import(backend, args, &bar).await?;
    bar.finish_and_clear();
    let Summary {
        imported,
        skipped,
        invalid,
        refused_batches,
        not_written,
    } = summary;
    let mut line = format!("imported {imported} event{}", plural(imported));
    if skipped > 0 {
        line.push_str(&format!(", skipped {skipped} already stored"));
    }
    if refused_batches > 0 {
        line.push_str(&format!(
            "; {refused_batches} batch{} refused ({invalid} invalid event{}, {not_written} \
             event{} not written)",
            if refused_batches == 1 { "" } else { "es" },
            plural(invalid),
            plural(not_written),
        ));
    }
    eprintln!("{line}");
    Ok(if refused_batches > 0 { INVALID } else { OK })
}

/// Reads `args`' inputs on a thread and writes their batches; returns what happened.
pub(crate) async fn import(
    backend: &Backend,
    args: &ImportArgs,
    bar: &indicatif::ProgressBar,
) -> Result<Summary> {
    // A malformed declaration is a usage error before any input is read.
    let json = ExtensionTypes::parse(&args.extension_types)?.json_format();
    // Every file must open before anything is written.
    for path in args.files.iter().filter(|p| p.as_os_str() != "-") {
        let file =
            std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        let kind = file
            .metadata()
            .with_context(|| format!("cannot read {}", path.display()))?
            .file_type();
        if !readable_kind(kind) {
            anyhow::bail!("cannot read {}: not a file", path.display());
        }
    }
    let (sender, mut chunks) = mpsc::channel::<Chunk>(2);
    let files = args.files.clone();
    let (format, batch_size) = (args.format, args.batch_size as usize);
    let reader =
        std::thread::spawn(move || input::read_all(&files, format, &json, batch_size, &sender));
    let writer = Writer::new(backend, args.on_duplicate);
    let mut summary = Summary::default();
    while let Some(chunk) = chunks.recv().await {
        let bytes = chunk.bytes;
        let outcome = writer.write(chunk, &mut summary).await;
        if let Err(error) = outcome {
            // Stop the reader (its sends fail once the receiver is gone) and report.
            drop(chunks);
            let _ = reader.join();
            return Err(error);
        }
        bar.inc(bytes);
        bar.set_message(format!("imported {} events", summary.imported));
    }
    reader
        .join()
        .map_err(|_| anyhow::anyhow!("the input reader panicked"))??;
    Ok(summary)
}

/// Writes chunks to the store.
struct Writer {
    backend: Backend,
    on_duplicate: OnDuplicate,
}

impl Writer {
    fn new(backend: &Backend, on_duplicate: OnDuplicate) -> Self {
        Self {
            backend: backend.clone(),
            on_duplicate,
        }
    }

    /// Writes `chunk` if it is valid and the store takes it; a database failure is an
    /// error, a refused batch is reported and counted.
    async fn write(&self, chunk: Chunk, summary: &mut Summary) -> Result<()> {
        let Chunk {
            input,
            start,
            events,
            problems,
            ..
        } = chunk;
        if !problems.is_empty() {
            for problem in &problems {
                let test = problem
                    .test_id
                    .as_ref()
                    .map(|id| format!(" [test {id}]"))
                    .unwrap_or_default();
                eprintln!("error: {input} {}{test}: {}", problem.place, problem.error);
            }
            summary.invalid += problems.len() as u64;
            summary.refused_batches += 1;
            summary.not_written += (events.len() + problems.len()) as u64;
            return Ok(());
        }
        let count = events.len() as u64;
        match self.store(events).await {
            Ok((written, skipped)) => {
                summary.imported += written;
                summary.skipped += skipped;
                Ok(())
            }
            // Refused whole, with nothing written: reported, and the import goes on. The
            // reader reports invalid events already; what the store can still refuse as
            // invalid is the batch itself (more events than an append takes, with
            // `--on-duplicate skip`).
            Err(error) if error.is_duplicate() || error.is_conflict() || error.is_invalid() => {
                // The way past a duplicate is a flag away: say so where it is met.
                let hint = if error.is_duplicate() && self.on_duplicate == OnDuplicate::Error {
                    " (import with `--on-duplicate skip` to skip events already stored)"
                } else {
                    ""
                };
                eprintln!("error: {input} batch from {start} refused: {error}{hint}");
                summary.refused_batches += 1;
                summary.not_written += count;
                Ok(())
            }
            Err(error) => Err(anyhow::Error::from(error))
                .with_context(|| format!("{input}: writing the batch from {start}")),
        }
    }

    /// Writes a valid batch; returns (written, skipped).
    async fn store(&self, events: Vec<Event>) -> eventstore_sql::Result<(u64, u64)> {
        match (&self.backend, self.on_duplicate) {
            (Backend::Postgres(store), OnDuplicate::Error) => {
                Ok((store.import(events).await?.count, 0))
            }
            (Backend::Sqlite(store), OnDuplicate::Error) => {
                Ok((store.import(events).await?.count, 0))
            }
            (backend, on_duplicate) => {
                let policy = match on_duplicate {
                    OnDuplicate::Error => Policy::Error,
                    OnDuplicate::Skip => Policy::Skip,
                };
                let result = backend
                    .store()
                    .append_with(events, AppendOptions::new().on_duplicate(policy))
                    .await?;
                Ok((result.appended.len() as u64, result.skipped.len() as u64))
            }
        }
    }
}

/// Whether a file of `kind` holds input: a regular file, or a pipe or terminal
/// (`/dev/stdin`, `<(zcat …)`). A directory opens, but is not read.
fn readable_kind(kind: std::fs::FileType) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if kind.is_fifo() || kind.is_char_device() {
            return true;
        }
    }
    kind.is_file()
}

/// The inputs' total size, when they are all files.
fn input_size(files: &[std::path::PathBuf]) -> Option<u64> {
    if files.is_empty() {
        return None;
    }
    files.iter().try_fold(0, |total, path| {
        let meta = std::fs::metadata(path).ok()?;
        meta.is_file().then(|| total + meta.len())
    })
}
