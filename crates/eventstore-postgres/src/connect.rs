//! Building the store's pool: the TLS connector its settings ask for.

use deadpool_postgres::{Manager, ManagerConfig, Pool, QueueMode, RecyclingMethod, Runtime};
#[cfg(not(feature = "tls"))]
use eventstore_core::Error;
use eventstore_core::Result;

use crate::error::db;
use crate::options::PostgresOptions;
use crate::tls::TlsMode;

/// Starts the LISTEN/NOTIFY connection (see [`crate::listen`]) with the options' TLS.
pub(crate) fn spawn_listener(
    mut config: tokio_postgres::Config,
    options: &PostgresOptions,
    channel: String,
    signal: &std::sync::Arc<eventstore_core::CommitSignal>,
) -> Result<()> {
    config.ssl_mode(options.tls.mode.ssl_mode());
    if let Some(timeout) = options.connect_timeout {
        config.connect_timeout(timeout);
    }
    if options.tls.mode == TlsMode::Disable {
        crate::listen::spawn(config, tokio_postgres::NoTls, channel, signal);
        return Ok(());
    }
    #[cfg(feature = "tls")]
    {
        let connector = crate::rustls::connector(&options.tls)?;
        crate::listen::spawn(config, connector, channel, signal);
        Ok(())
    }
    #[cfg(not(feature = "tls"))]
    match options.tls.mode {
        TlsMode::Prefer => {
            config.ssl_mode(tokio_postgres::config::SslMode::Disable);
            crate::listen::spawn(config, tokio_postgres::NoTls, channel, signal);
            Ok(())
        }
        mode => Err(Error::Config(format!(
            "sslmode {mode:?} needs the `tls` feature of eventstore-postgres (the `postgres` feature of \
             eventstore-sql)"
        ))),
    }
}

/// A pool for `config` with the options' size, time-outs and TLS.
pub(crate) fn pool(mut config: tokio_postgres::Config, options: &PostgresOptions) -> Result<Pool> {
    config.ssl_mode(options.tls.mode.ssl_mode());
    // The append statement is one large prepared statement whose custom plans cost
    // more to make (about 1.5 ms) than to run: generic plans tripled single-event
    // append rates in the benchmark. The store's own reads are keyed lookups and
    // range scans whose generic plans are the same, but for reads of events since a
    // time, which are planned with their values (`read::planned_with_values`).
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
    let manager = if options.tls.mode == TlsMode::Disable {
        Manager::from_config(config, tokio_postgres::NoTls, manager_config)
    } else {
        tls_manager(config, options, manager_config)?
    };
    Pool::builder(manager)
        .max_size(options.pool_size)
        // The most recently used connection first: its server process, caches and
        // prepared statements are warm. First-in-first-out (deadpool's default) sends
        // consecutive calls round all the idle connections in turn.
        .queue_mode(QueueMode::Lifo)
        .wait_timeout(options.wait_timeout)
        .create_timeout(options.connect_timeout)
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(db)
}

#[cfg(feature = "tls")]
fn tls_manager(
    config: tokio_postgres::Config,
    options: &PostgresOptions,
    manager_config: ManagerConfig,
) -> Result<Manager> {
    let connector = crate::rustls::connector(&options.tls)?;
    Ok(Manager::from_config(config, connector, manager_config))
}

#[cfg(not(feature = "tls"))]
fn tls_manager(
    config: tokio_postgres::Config,
    options: &PostgresOptions,
    manager_config: ManagerConfig,
) -> Result<Manager> {
    match options.tls.mode {
        // Without TLS support, "prefer" means plain TCP, as in a libpq built without
        // OpenSSL.
        TlsMode::Prefer => {
            let mut config = config;
            config.ssl_mode(tokio_postgres::config::SslMode::Disable);
            Ok(Manager::from_config(
                config,
                tokio_postgres::NoTls,
                manager_config,
            ))
        }
        mode => Err(Error::Config(format!(
            "sslmode {mode:?} needs the `tls` feature of eventstore-postgres (the `postgres` feature of \
             eventstore-sql)"
        ))),
    }
}
