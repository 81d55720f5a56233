//! How to open a PostgreSQL event store.

use std::time::Duration;

use deadpool_postgres::Pool;
use eventstore_core::sql::TableName;
use eventstore_core::{Error, Limits, Result};

use crate::store::PostgresEventStore;
use crate::tls::TlsOptions;
use crate::url;

/// Where connections come from.
#[derive(Clone)]
pub(crate) enum Source {
    /// A configuration: the store builds its own pool.
    Config(Box<tokio_postgres::Config>),
    /// A pool the application already has.
    Pool(Pool),
}

/// Options for opening a [`PostgresEventStore`].
///
/// ```no_run
/// # async fn f() -> eventstore_core::Result<()> {
/// use eventstore_postgres::PostgresOptions;
/// let store = PostgresOptions::from_url("postgres://app@db.internal/app?sslmode=verify-full")?
///     .schema("events")?
///     .table("orders_events")?
///     .pool_size(16)?
///     .open()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
#[must_use]
pub struct PostgresOptions {
    pub(crate) source: Source,
    pub(crate) tls: TlsOptions,
    pub(crate) table: String,
    pub(crate) schema: String,
    pub(crate) pool_size: usize,
    pub(crate) wait_timeout: Option<Duration>,
    pub(crate) poll_interval: Duration,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) auto_migrate: bool,
    pub(crate) extensions_index: bool,
    pub(crate) limits: Limits,
    pub(crate) page_size: u64,
}

impl std::fmt::Debug for PostgresOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The configuration may hold a password: show only what identifies the store.
        f.debug_struct("PostgresOptions")
            .field("schema", &self.schema)
            .field("table", &self.table)
            .field("pool_size", &self.pool_size)
            .finish_non_exhaustive()
    }
}

impl PostgresOptions {
    /// The most connections a store's pool takes ([`pool_size`](Self::pool_size)).
    pub const MAX_POOL_SIZE: usize = 1024;

    /// How long opening one connection may take when neither the URL (or
    /// configuration) nor [`connect_timeout`](Self::connect_timeout) says.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

    /// Options from a URL: `postgres://user:password@host:port/database?sslmode=…`.
    ///
    /// `sslmode` is `disable`, `prefer` (the default: TLS when the server offers it,
    /// without verifying its certificate), `require` (TLS, certificate not verified),
    /// `verify-ca` (TLS, certificate chain verified) or `verify-full` (chain and host
    /// name verified). `sslrootcert` names a PEM file of trusted CA certificates
    /// (default: the Mozilla roots of `webpki-roots`).
    ///
    /// `connect_timeout` is in seconds: without it, opening a connection may take
    /// [`DEFAULT_CONNECT_TIMEOUT`](Self::DEFAULT_CONNECT_TIMEOUT); `0` (or less) waits
    /// for ever, as libpq documents it ([`get_connect_timeout`](Self::get_connect_timeout)
    /// is then `None`).
    ///
    /// The scheme is `postgres://` or `postgresql://`, in any case (`PostgreSQL://`: RFC
    /// 3986 §3.1 has schemes case-insensitive).
    pub fn from_url(url: &str) -> Result<Self> {
        let url = url::lower_case_scheme(url);
        let (url, tls) = TlsOptions::from_url(&url)?;
        let config: tokio_postgres::Config = url.parse().map_err(|e: tokio_postgres::Error| {
            // tokio-postgres says which option is wrong only in the error's source (which
            // names the option, never its value).
            let cause = std::error::Error::source(&e).map(|c| format!(": {c}"));
            Error::Config(format!(
                "invalid PostgreSQL URL: {e}{}",
                cause.unwrap_or_default()
            ))
        })?;
        // tokio-postgres parses a `connect_timeout` of zero or less and drops it, as if
        // the URL had none; libpq waits for ever then.
        let waits_for_ever =
            config.get_connect_timeout().is_none() && url::has_parameter(&url, "connect_timeout");
        let mut options = Self::from_config(config);
        if waits_for_ever {
            options.connect_timeout = None;
        }
        if let Some(tls) = tls {
            options.tls = tls;
        }
        Ok(options)
    }

    /// Options from a tokio-postgres configuration. Its `ssl_mode` is honoured as
    /// `disable`, `prefer` or `require`; use [`tls`](Self::tls) to verify certificates.
    /// Its `connect_timeout` (a URL's `connect_timeout`) is the
    /// [`connect_timeout`](Self::connect_timeout).
    pub fn from_config(config: tokio_postgres::Config) -> Self {
        let tls = TlsOptions::from_mode(config.get_ssl_mode());
        let connect_timeout = config
            .get_connect_timeout()
            .copied()
            .or(Some(Self::DEFAULT_CONNECT_TIMEOUT));
        Self {
            source: Source::Config(Box::new(config)),
            tls,
            table: "events".to_owned(),
            schema: "public".to_owned(),
            pool_size: 16,
            wait_timeout: Some(Duration::from_secs(30)),
            poll_interval: Duration::from_millis(250),
            connect_timeout,
            auto_migrate: true,
            extensions_index: true,
            limits: Limits::default(),
            page_size: 1000,
        }
    }

    /// Options over a deadpool pool the application already has (its size, time-outs
    /// and TLS are the pool's).
    pub fn from_pool(pool: Pool) -> Self {
        let mut options = Self::from_config(tokio_postgres::Config::new());
        options.source = Source::Pool(pool);
        options
    }

    /// The event table's name (default `events`): validated as an identifier.
    pub fn table(mut self, name: &str) -> Result<Self> {
        TableName::new(name)?;
        self.table = name.to_owned();
        Ok(self)
    }

    /// The schema of the event table and the migration ledger (default `public`),
    /// created if missing: validated as an identifier.
    pub fn schema(mut self, name: &str) -> Result<Self> {
        TableName::default().in_schema(name)?;
        self.schema = name.to_owned();
        Ok(self)
    }

    /// The most connections the store's pool opens (default 16; at most
    /// [`MAX_POOL_SIZE`](Self::MAX_POOL_SIZE), as the pool sets room aside for every one
    /// up front). Each open read stream holds one until it ends.
    pub fn pool_size(mut self, size: usize) -> Result<Self> {
        if size == 0 {
            return Err(Error::Config("pool_size must be at least 1".to_owned()));
        }
        if size > Self::MAX_POOL_SIZE {
            return Err(Error::Config(format!(
                "pool_size must be at most {}, not {size}",
                Self::MAX_POOL_SIZE
            )));
        }
        self.pool_size = size;
        Ok(self)
    }

    /// How often followers look for events appended by other processes (default
    /// 250 ms). Appends through this store wake them at once. An interval under 1 ms is
    /// taken as 1 ms
    /// ([`CommitSignal::MIN_POLL_INTERVAL`](eventstore_core::CommitSignal::MIN_POLL_INTERVAL)).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// How long a call waits for a free pooled connection, when every one is busy,
    /// before failing with [`Error::Timeout`] (default 30 s; `None` waits for ever).
    /// Zero is refused with [`Error::Config`], as by SQLite's
    /// `SqliteOptions::reader_timeout`: a call would fail whenever the pool is busy
    /// rather than wait at all.
    pub fn wait_timeout(mut self, timeout: Option<Duration>) -> Result<Self> {
        self.wait_timeout = nonzero("wait_timeout", timeout)?;
        Ok(self)
    }

    /// How long opening one connection may take (the TCP connection and, as the pool
    /// opens them, the server's start-up exchange) before failing with
    /// [`Error::Timeout`] (default: the URL's `connect_timeout`, in seconds, where `0`
    /// waits for ever, else [`DEFAULT_CONNECT_TIMEOUT`](Self::DEFAULT_CONNECT_TIMEOUT);
    /// `None` waits for ever). Zero, which no connection could meet, is refused with
    /// [`Error::Config`]: `None` is how this method says what a URL's `0` says.
    pub fn connect_timeout(mut self, timeout: Option<Duration>) -> Result<Self> {
        self.connect_timeout = nonzero("connect_timeout", timeout)?;
        Ok(self)
    }

    /// How long opening one connection may take: the URL's or configuration's
    /// `connect_timeout`, else [`DEFAULT_CONNECT_TIMEOUT`](Self::DEFAULT_CONNECT_TIMEOUT),
    /// unless [`connect_timeout`](Self::connect_timeout) set another; `None` waits for
    /// ever (a URL's `connect_timeout=0`, or `connect_timeout(None)`).
    pub fn get_connect_timeout(&self) -> Option<Duration> {
        self.connect_timeout
    }

    /// The TLS settings, replacing those the URL or configuration gave.
    pub fn tls(mut self, tls: TlsOptions) -> Self {
        self.tls = tls;
        self
    }

    /// Whether opening applies missing migrations (default `true`). When `false`, open
    /// fails with [`Error::SchemaOutdated`] until [`migrate`](Self::migrate) runs.
    pub fn auto_migrate(mut self, auto_migrate: bool) -> Self {
        self.auto_migrate = auto_migrate;
        self
    }

    /// Whether migrating creates the GIN index on `extensions` (default `true`).
    /// Without it, extension filters scan the rows the other filters leave; with it,
    /// each append with extensions also updates the index (see docs/schema.md for the
    /// measured cost). An existing index is never dropped.
    pub fn extensions_index(mut self, create: bool) -> Self {
        self.extensions_index = create;
        self
    }

    /// How many rows a read bounded by the caller's horizon
    /// ([`EventQuery::within_horizon`](eventstore_core::EventQuery::within_horizon), how
    /// followers and projection rebuilds read) fetches per page (default 1000): such a
    /// read holds about two pages of events in memory, and a pooled connection only
    /// while it fetches a page. Other reads are streamed on one connection as the
    /// consumer takes their rows.
    pub fn page_size(mut self, rows: u64) -> Result<Self> {
        if rows == 0 {
            return Err(Error::Config("page_size must be at least 1".to_owned()));
        }
        self.page_size = rows;
        Ok(self)
    }

    /// The largest event and batch an append accepts (default [`Limits::default`]).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The validated, schema-qualified table.
    pub(crate) fn table_name(&self) -> Result<TableName> {
        TableName::new(self.table.clone())?.in_schema(self.schema.clone())
    }

    /// Applies the migrations the table lacks, without opening a store (for a
    /// deployment step before stores open with `auto_migrate(false)`), and returns the
    /// versions applied: empty when another process applied them first.
    pub async fn migrate(&self) -> Result<Vec<i64>> {
        PostgresEventStore::migrate_with(self).await
    }

    /// Opens the store: builds the pool (unless given one) and migrates.
    pub async fn open(self) -> Result<PostgresEventStore> {
        PostgresEventStore::open_with(self).await
    }
}

/// `timeout`, unless it is zero: refused with [`Error::Config`] naming `option`.
fn nonzero(option: &str, timeout: Option<Duration>) -> Result<Option<Duration>> {
    if timeout.is_some_and(|t| t.is_zero()) {
        return Err(Error::Config(format!(
            "{option} must be longer than zero (None waits for ever)"
        )));
    }
    Ok(timeout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_sizes_out_of_range_are_refused() {
        let options = || PostgresOptions::from_url("postgres://localhost/db").unwrap();
        for bad in [0, PostgresOptions::MAX_POOL_SIZE + 1, usize::MAX] {
            assert!(
                matches!(options().pool_size(bad), Err(Error::Config(ref m)) if m.contains("pool_size")),
                "{bad}"
            );
        }
        assert!(options().pool_size(PostgresOptions::MAX_POOL_SIZE).is_ok());
    }

    #[test]
    fn zero_time_outs_are_refused_naming_the_option() {
        let options = || PostgresOptions::from_url("postgres://localhost/db").unwrap();
        let refused = options().wait_timeout(Some(Duration::ZERO)).unwrap_err();
        assert!(
            matches!(&refused, Error::Config(m) if m.starts_with("wait_timeout must be longer than zero")),
            "{refused}"
        );
        let refused = options().connect_timeout(Some(Duration::ZERO)).unwrap_err();
        assert!(
            matches!(&refused, Error::Config(m) if m.starts_with("connect_timeout must be longer than zero")),
            "{refused}"
        );
        let kept = options()
            .wait_timeout(Some(Duration::from_nanos(1)))
            .and_then(|o| o.connect_timeout(None))
            .unwrap();
        assert_eq!(kept.wait_timeout, Some(Duration::from_nanos(1)));
        assert_eq!(kept.connect_timeout, None);
    }
}
