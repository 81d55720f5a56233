//! `migrate`: create or upgrade the store's tables, and say what was done.

use anyhow::{Context as _, Result};
use eventstore_sql::Error;

use crate::Context;
use crate::backend::Kind;
use crate::failure::OK;

/// Applies missing migrations and reports the versions applied.
pub(crate) async fn run(cx: &Context) -> Result<u8> {
    let target = &cx.target;
    let url = target.display_url();
    let applied = match target.kind()? {
        // PostgreSQL migrates without opening a store, and says which versions it applied.
        Kind::Postgres => target
            .postgres_options()?
            .migrate()
            .await
            .with_context(|| format!("cannot migrate {url}"))?,
        // SQLite migrates when it opens: see first whether anything is missing.
        Kind::Sqlite => match target.open(false).await {
            Ok(backend) => {
                backend.close().await?;
                Vec::new()
            }
            Err(e) => {
                let Some(&Error::SchemaOutdated { found, .. }) = e.downcast_ref() else {
                    return Err(e.context(format!("cannot open {url}")));
                };
                let backend = target
                    .open(true)
                    .await
                    .with_context(|| format!("cannot migrate {url}"))?;
                backend.close().await?;
                (found + 1..=eventstore_sql::sqlite::SCHEMA_VERSION).collect()
            }
        },
    };
    let table = target.table.as_deref().unwrap_or("events");
    if applied.is_empty() {
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
