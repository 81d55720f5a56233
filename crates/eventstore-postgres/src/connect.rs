//! Building the store's pool: the TLS connector its settings ask for.

use deadpool_postgres::{Manager, ManagerConfig, Pool, QueueMode, RecyclingMethod, Runtime};
#[cfg(not(feature = "tls"))]
use eventstore_core::Error;
use eventstore_core::Result;
use tokio_postgres::CancelToken;

use crate::error::db;
use crate::options::PostgresOptions;
use crate::tls::TlsMode;

/// How the store's connections are made: in plain text, or through rustls.
#[derive(Clone)]
pub(crate) enum Connector {
    /// No TLS (`sslmode=disable`, or `prefer` in a build without TLS support).
    Plain,
    /// TLS, verified as the options ask.
    #[cfg(feature = "tls")]
    Tls(tokio_postgres_rustls::MakeRustlsConnect),
}

impl Connector {
    /// The connector `options` ask for; `config`'s `sslmode` is set to match.
    pub(crate) fn new(
        config: &mut tokio_postgres::Config,
        options: &PostgresOptions,
    ) -> Result<Self> {
        config.ssl_mode(options.tls.mode.ssl_mode());
        if options.tls.mode == TlsMode::Disable {
            return Ok(Self::Plain);
        }
        #[cfg(feature = "tls")]
        {
            Ok(Self::Tls(crate::rustls::connector(&options.tls)?))
        }
        #[cfg(not(feature = "tls"))]
        match options.tls.mode {
            // Without TLS support, "prefer" means plain TCP, as in a libpq built without
            // OpenSSL.
            TlsMode::Prefer => {
                config.ssl_mode(tokio_postgres::config::SslMode::Disable);
                Ok(Self::Plain)
            }
            mode => Err(Error::Config(format!(
                "sslmode {mode:?} needs the `tls` feature of eventstore-postgres (the \
                 `postgres` feature of eventstore-sql)"
            ))),
        }
    }

    /// Asks the server to cancel what the connection of `token` is running (best
    /// effort: a failure to reach the server is ignored).
    pub(crate) async fn cancel(&self, token: CancelToken) {
        let _ = match self {
            Self::Plain => token.cancel_query(tokio_postgres::NoTls).await,
            #[cfg(feature = "tls")]
            Self::Tls(tls) => token.cancel_query(tls.clone()).await,
        };
    }
}

/// Starts the LISTEN/NOTIFY connection (see [`crate::listen`]) with the options' TLS.
pub(crate) fn spawn_listener(
    mut config: tokio_postgres::Config,
    options: &PostgresOptions,
    channel: String,
    signal: &std::sync::Arc<eventstore_core::CommitSignal>,
) -> Result<()> {
    let connector = Connector::new(&mut config, options)?;
    if let Some(timeout) = options.connect_timeout {
        config.connect_timeout(timeout);
    }
    match connector {
        Connector::Plain => crate::listen::spawn(config, tokio_postgres::NoTls, channel, signal),
        #[cfg(feature = "tls")]
        Connector::Tls(tls) => crate::listen::spawn(config, tls, channel, signal),
    }
    Ok(())
}

/// A pool for `config` with the options' size, time-outs and TLS, and its connector.
pub(crate) fn pool(
    mut config: tokio_postgres::Config,
    options: &PostgresOptions,
) -> Result<(Pool, Connector)> {
    let connector = Connector::new(&mut config, options)?;
    // The append statement is one large prepared statement whose custom plans cost
    // more to make (about 1.5 ms) than to run: generic plans tripled single-event
    // append rates in the benchmark. The store's own reads are keyed lookups and
    // range scans whose generic plans are the same, but for reads of events since a
    // time and reads filtered on an indexed attribute (a rare type is walked through the
    // whole table by the generic plan), which are planned with their values
    // (`read::planned_with_values`).
    let generic = "-c plan_cache_mode=force_generic_plan";
    let merged = match config.get_options() {
        Some(existing) if !existing.is_empty() => format!("{existing} {generic}"),
        _ => generic.to_owned(),
    };
    config.options(merged);
    if let Some(timeout) = options.connect_timeout {
        config.connect_timeout(timeout);
    }
    let manager_config = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    let manager = match &connector {
        Connector::Plain => Manager::from_config(config, tokio_postgres::NoTls, manager_config),
        #[cfg(feature = "tls")]
        Connector::Tls(tls) => Manager::from_config(config, tls.clone(), manager_config),
    };
    let pool = Pool::builder(manager)
        .max_size(options.pool_size)
        // The most recently used connection first: its server process, caches and
        // prepared statements are warm. First-in-first-out (deadpool's default) sends
        // consecutive calls round all the idle connections in turn.
        .queue_mode(QueueMode::Lifo)
        .wait_timeout(options.wait_timeout)
        .create_timeout(options.connect_timeout)
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(db)?;
    Ok((pool, connector))
}
