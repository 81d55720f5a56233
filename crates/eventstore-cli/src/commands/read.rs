//! `query`, `export`, `get` and `stream`: bounded reads.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use eventstore_sql::time::OffsetDateTime;
use eventstore_sql::{EventQuery, JsonFormat};
use futures::TryStreamExt as _;

use crate::Context;
use crate::backend::Backend;
use crate::cli::{ExportArgs, Output, QueryArgs};
use crate::failure::{INVALID, OK};
use crate::output::{json_line, plural, print_event, print_events};

impl QueryArgs {
    /// The query the flags describe.
    fn query(&self) -> Result<EventQuery> {
        Ok(self
            .paging
            .apply(self.filters.query(OffsetDateTime::now_utc())?))
    }
}

/// `query`: the matching events, printed.
pub(crate) async fn query(backend: &Backend, cx: &Context, args: &QueryArgs) -> Result<u8> {
    print_events(cx.output, backend.store().query(args.query()?)).await?;
    Ok(OK)
}

/// `export`: the matching events as JSON Lines, to stdout or a file. A file is written
/// under a temporary name beside it and renamed into place once every event is in it,
/// so an export that fails partway (a lost connection, a corrupt row, a full disk)
/// leaves no partial file behind, and a file already there stays as it was.
pub(crate) async fn export(backend: &Backend, args: &ExportArgs) -> Result<u8> {
    let mut events = backend.store().query(args.query.query()?);
    let format = JsonFormat::new();
    let mut count = 0u64;
    let Some(path) = &args.out else {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        while let Some(event) = events.try_next().await? {
            writeln!(out, "{}", json_line(&format, &event))?;
        }
        out.flush()?;
        return Ok(OK);
    };
    let (partial, file) = Partial::create(path)?;
    let mut out = std::io::BufWriter::new(file);
    while let Some(event) = events.try_next().await? {
        writeln!(out, "{}", json_line(&format, &event))?;
        count += 1;
    }
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    partial.commit()?;
    eprintln!(
        "exported {count} event{} to {}",
        plural(count),
        path.display()
    );
    Ok(OK)
}

/// A file being written under a temporary name beside its destination
/// (`.<name>.<pid>.partial`): [`commit`](Self::commit) renames it into place; dropped
/// before that, it is removed.
struct Partial {
    temporary: PathBuf,
    destination: PathBuf,
    committed: bool,
}

impl Partial {
    /// The partial file of `destination`, created empty, and the file to write to.
    fn create(destination: &Path) -> Result<(Self, std::fs::File)> {
        let name = destination
            .file_name()
            .with_context(|| format!("--out {}: not a file name", destination.display()))?;
        let mut temporary_name = std::ffi::OsString::from(".");
        temporary_name.push(name);
        temporary_name.push(format!(".{}.partial", std::process::id()));
        let partial = Self {
            temporary: destination.with_file_name(temporary_name),
            destination: destination.to_owned(),
            committed: false,
        };
        let file = std::fs::File::create(&partial.temporary)
            .with_context(|| format!("cannot create {}", destination.display()))?;
        Ok((partial, file))
    }

    /// Renames the file into place.
    fn commit(mut self) -> Result<()> {
        std::fs::rename(&self.temporary, &self.destination)
            .with_context(|| format!("cannot write {}", self.destination.display()))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.temporary);
        }
    }
}

/// `get`: one event by `(source, id)`; exit code 3 when there is none.
pub(crate) async fn get(backend: &Backend, cx: &Context, source: &str, id: &str) -> Result<u8> {
    match backend.store().get(source, id).await? {
        Some(event) => {
            print_event(cx.output, &event)?;
            Ok(OK)
        }
        None => {
            eprintln!("error: no event with source {source:?} and id {id:?}");
            Ok(INVALID)
        }
    }
}

/// `stream`: a subject's events from a stream version on.
pub(crate) async fn stream(
    backend: &Backend,
    cx: &Context,
    subject: &str,
    from: i64,
) -> Result<u8> {
    let events = backend.store().stream(subject, from);
    if cx.output == Output::Table {
        let version = backend.store().stream_version(subject).await?;
        print_events(cx.output, events).await?;
        outln!(
            "subject {subject:?} is at version {}",
            version.map_or_else(|| "none (no events)".to_owned(), |v| v.to_string())
        )?;
    } else {
        print_events(cx.output, events).await?;
    }
    Ok(OK)
}
