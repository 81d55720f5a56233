//! Opening the store a URL names, as the concrete backend: bulk import, stats and the
//! demo need what only the backend itself offers; everything else uses the
//! backend-neutral `EventStore`.

use std::sync::Arc;

use crate::failure::Unavailable;

use eventstore_sql::{
    BackendKind, Error, EventStore, PostgresEventStore, PostgresOptions, Result, SqliteEventStore,
    SqliteOptions, redact_url,
};

/// WAL pages between checkpoints during a bulk load (SQLite's default is 1000).
const BULK_WAL_AUTOCHECKPOINT: u32 = 100_000;

/// Where the store is: its URL and the event table's name.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// `sqlite://…` or `postgres://…`.
    pub(crate) url: String,
    /// `table`, or `schema.table` on PostgreSQL; `None` for the default.
    pub(crate) table: Option<String>,
}

/// An open store, by backend.
#[derive(Clone)]
pub(crate) enum Backend {
    /// SQLite.
    Sqlite(SqliteEventStore),
    /// PostgreSQL.
    Postgres(PostgresEventStore),
}

impl Target {
    /// The backend the URL names (its scheme in any case), or a configuration error
    /// naming the scheme: the facade's reading, which `eventstore_sql::connect` uses too.
    pub(crate) fn kind(&self) -> Result<BackendKind> {
        BackendKind::from_url(&self.url)
    }

    /// SQLite options for this target.
    pub(crate) fn sqlite_options(&self) -> Result<SqliteOptions> {
        let options = SqliteOptions::from_url(&self.url)?;
        match self.table.as_deref() {
            None => Ok(options),
            Some(table) if table.contains('.') => Err(Error::Config(format!(
                "table {table:?}: SQLite tables take no schema; give a plain name"
            ))),
            Some(table) => options.table(table),
        }
    }

    /// PostgreSQL options for this target.
    pub(crate) fn postgres_options(&self) -> Result<PostgresOptions> {
        let options = PostgresOptions::from_url(&self.url)?;
        match self.table.as_deref() {
            None => Ok(options),
            Some(table) => match table.split_once('.') {
                Some((schema, table)) => options.schema(schema)?.table(table),
                None => options.table(table),
            },
        }
    }

    /// Opens the store, applying missing migrations when `auto_migrate`. A bad URL or
    /// table name is a configuration error (`Error::Config`, a usage error); a SQLite
    /// file that cannot be opened is [`Unavailable`], a runtime failure as an
    /// unreachable server is.
    pub(crate) async fn open(&self, auto_migrate: bool) -> anyhow::Result<Backend> {
        self.open_with(auto_migrate, |options| options).await
    }

    /// Opens the store for a bulk load. On SQLite the write-ahead log is checkpointed
    /// less often: each checkpoint copies the pages of the batches committed since, with
    /// an fsync, and at the default interval (1000 pages) an import of 5000-event
    /// batches spent half its time there.
    pub(crate) async fn open_bulk(&self) -> anyhow::Result<Backend> {
        self.open_with(true, |options| {
            options.wal_autocheckpoint(BULK_WAL_AUTOCHECKPOINT)
        })
        .await
    }

    async fn open_with(
        &self,
        auto_migrate: bool,
        sqlite: impl FnOnce(SqliteOptions) -> SqliteOptions,
    ) -> anyhow::Result<Backend> {
        Ok(match self.kind()? {
            // The options are checked by now: what opening refuses is the file (a
            // missing directory, no permission), not the configuration.
            BackendKind::Sqlite => Backend::Sqlite(
                sqlite(self.sqlite_options()?)
                    .auto_migrate(auto_migrate)
                    .open()
                    .await
                    .map_err(|e| match e {
                        Error::Config(message) => Unavailable(message).into(),
                        e => anyhow::Error::from(e),
                    })?,
            ),
            BackendKind::Postgres => Backend::Postgres(
                self.postgres_options()?
                    .auto_migrate(auto_migrate)
                    .open()
                    .await?,
            ),
        })
    }

    /// The URL without its password, for messages.
    pub(crate) fn display_url(&self) -> String {
        redact_url(&self.url)
    }
}

impl Backend {
    /// The store behind the backend-neutral trait.
    pub(crate) fn store(&self) -> Arc<dyn EventStore> {
        match self {
            Self::Sqlite(store) => Arc::new(store.clone()),
            Self::Postgres(store) => Arc::new(store.clone()),
        }
    }

    /// The backend's name, for output.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "SQLite",
            Self::Postgres(_) => "PostgreSQL",
        }
    }

    /// The quoted, qualified event table.
    pub(crate) fn table(&self) -> String {
        match self {
            Self::Sqlite(store) => store.table().quoted(),
            Self::Postgres(store) => store.table().quoted(),
        }
    }

    /// Closes the store, releasing its connections.
    pub(crate) async fn close(&self) -> Result<()> {
        self.store().close().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_qualified_tables_are_for_postgres_only() {
        let target = |url: &str| Target {
            url: url.to_owned(),
            table: Some("audit.events".to_owned()),
        };
        assert!(target("sqlite://x.db").sqlite_options().is_err());
        assert!(target("postgres://u@h/db").postgres_options().is_ok());
        let bad = Target {
            url: "postgres://u@h/db".to_owned(),
            table: Some("a.b-c".to_owned()),
        };
        assert!(bad.postgres_options().is_err());
        assert!(
            Target {
                url: "mysql://h".to_owned(),
                table: None
            }
            .kind()
            .is_err()
        );
    }
}
