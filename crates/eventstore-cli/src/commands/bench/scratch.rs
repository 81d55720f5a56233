//! Where a benchmark writes: a store of its own, removed afterwards, so that it never
//! touches the events of the store it was pointed at.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use eventstore_sql::{BackendKind, SqliteOptions};

use crate::Context;
use crate::backend::{Backend, Target};

/// A scratch store: a new SQLite file, or a new PostgreSQL schema.
pub(crate) struct Scratch {
    /// The scratch store's target.
    pub(crate) target: Target,
    /// The SQLite file, to remove afterwards.
    file: Option<PathBuf>,
    /// The PostgreSQL schema, to drop afterwards.
    schema: Option<String>,
}

impl Scratch {
    /// A scratch store beside the one `cx` names: on SQLite a new file in the same
    /// directory (the temporary directory when no URL was given or it names an in-memory
    /// database), on PostgreSQL a new schema in the same database.
    pub(crate) fn new(cx: &Context) -> Result<Self> {
        let unique = format!(
            "{}_{}",
            std::process::id(),
            eventstore_sql::time::OffsetDateTime::now_utc().unix_timestamp_nanos() % 1_000_000_000
        );
        let kind = if cx.url_given {
            cx.target.kind()?
        } else {
            BackendKind::Sqlite
        };
        match kind {
            BackendKind::Sqlite => {
                // The file the URL names, as the store reads it (percent-decoded); an
                // in-memory database has no directory to put a scratch file beside.
                let given = if cx.url_given {
                    SqliteOptions::from_url(&cx.target.url)?
                        .path()
                        .map(|path| path.parent().map(PathBuf::from).unwrap_or_default())
                } else {
                    None
                };
                let directory = given.unwrap_or_else(std::env::temp_dir);
                let file = directory.join(format!("eventstore-bench-{unique}.db"));
                Ok(Self {
                    target: Target {
                        url: sqlite_url(&file),
                        table: None,
                    },
                    file: Some(file),
                    schema: None,
                })
            }
            BackendKind::Postgres => {
                let schema = format!("eventstore_bench_{unique}");
                Ok(Self {
                    target: Target {
                        url: cx.target.url.clone(),
                        table: Some(format!("{schema}.events")),
                    },
                    file: None,
                    schema: Some(schema),
                })
            }
        }
    }

    /// The scratch store with the event table `table` (same schema or file).
    pub(crate) fn with_table(&self, table: &str) -> Target {
        Target {
            url: self.target.url.clone(),
            table: Some(match &self.schema {
                Some(schema) => format!("{schema}.{table}"),
                None => table.to_owned(),
            }),
        }
    }

    /// Where the scratch store is, for output.
    pub(crate) fn describe(&self) -> String {
        match (&self.file, &self.schema) {
            (Some(file), _) => format!("SQLite file {}", file.display()),
            (_, Some(schema)) => format!("PostgreSQL schema {schema}"),
            _ => self.target.display_url(),
        }
    }

    /// Removes the scratch store; `backend` is any store open on it.
    pub(crate) async fn remove(self, backend: &Backend) -> Result<()> {
        if let (Some(schema), Backend::Postgres(store)) = (&self.schema, backend) {
            let client = store.pool().get().await?;
            client
                .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
                .await
                .with_context(|| format!("cannot drop the scratch schema {schema}"))?;
        }
        backend.close().await?;
        if let Some(file) = &self.file {
            for suffix in ["", "-wal", "-shm"] {
                let mut path = file.clone().into_os_string();
                path.push(suffix);
                let _ = std::fs::remove_file(path);
            }
        }
        Ok(())
    }
}

/// A `sqlite://` URL naming `path`: the characters a URL path gives a meaning to (`%`
/// starts an escape, `?` and `#` end the path) are percent-encoded, so that the store
/// opens this file and no other.
fn sqlite_url(path: &Path) -> String {
    let mut url = String::from("sqlite://");
    for c in path.display().to_string().chars() {
        match c {
            '%' => url.push_str("%25"),
            '?' => url.push_str("%3F"),
            '#' => url.push_str("%23"),
            c => url.push(c),
        }
    }
    url
}
