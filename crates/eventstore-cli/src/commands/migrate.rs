//! `migrate`: create or upgrade the store's tables, and say what was done.

use anyhow::{Context as _, Result};
use eventstore_sql::{BackendKind, Error};

use crate::Context;
use crate::cli::Output;
use crate::failure::{OK, Unavailable, Usage};

/// Applies missing migrations and reports the versions applied: a line for people, or
/// with `-o json`/`-o jsonl` one JSON object (`url`, `table`, `applied`). Neither
/// backend opens a store for it.
pub(crate) async fn run(cx: &Context) -> Result<u8> {
    let target = &cx.target;
    let url = target.display_url();
    let applied = match target.kind()? {
        BackendKind::Postgres => target
            .postgres_options()?
            .migrate()
            .await
            .with_context(|| format!("cannot migrate {url}"))?,
        BackendKind::Sqlite => {
            let options = target.sqlite_options()?;
            if options.path().is_none() {
                return Err(Usage(format!(
                    "{url} is an in-memory database, new each time it opens and gone when \
                     the command ends: there is nothing to migrate (every other command \
                     creates its tables); give a file, sqlite://path/to/events.db"
                ))
                .into());
            }
            // The options are checked by now: what migrating refuses with a configuration
            // error is the file (a missing directory, no permission), as when opening.
            options
                .migrate()
                .await
                .map_err(|e| match e {
                    Error::Config(message) => Unavailable(message).into(),
                    e => anyhow::Error::from(e),
                })
                .with_context(|| format!("cannot migrate {url}"))?
        }
    };
    let table = target.table.as_deref().unwrap_or("events");
    if cx.output != Output::Table {
        let report = serde_json::json!({ "url": url, "table": table, "applied": applied });
        outln!("{report}")?;
    } else if applied.is_empty() {
        outln!("{url} table {table}: schema up to date")?;
    } else {
        let versions: Vec<String> = applied.iter().map(i64::to_string).collect();
        outln!(
            "{url} table {table}: applied migration{} {}",
            if applied.len() == 1 { "" } else { "s" },
            versions.join(", ")
        )?;
    }
    Ok(OK)
}
