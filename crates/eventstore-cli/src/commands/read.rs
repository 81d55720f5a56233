//! `query`, `export`, `get` and `stream`: bounded reads.

use std::io::Write as _;

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

/// `export`: the matching events as JSON Lines, to stdout or a file.
pub(crate) async fn export(backend: &Backend, args: &ExportArgs) -> Result<u8> {
    let mut events = backend.store().query(args.query.query()?);
    let mut out: Box<dyn std::io::Write> = match &args.out {
        Some(path) => Box::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = std::io::BufWriter::new(&mut out);
    let format = JsonFormat::new();
    let mut count = 0u64;
    while let Some(event) = events.try_next().await? {
        writeln!(out, "{}", json_line(&format, &event))?;
        count += 1;
    }
    out.flush()?;
    if let Some(path) = &args.out {
        eprintln!(
            "exported {count} event{} to {}",
            plural(count),
            path.display()
        );
    }
    Ok(OK)
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
