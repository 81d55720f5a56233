//! `relay`: an outbox relay that prints what it delivers.
//!
//! Delivery is to stdout as JSON Lines, which a shell pipes anywhere (`| kcat -P …`).
//! Posting over HTTP is left out: it would add an HTTP client to every build of the tool.

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Result;
use eventstore_sql::outbox::{OutboxRelay, RelayStore};
use eventstore_sql::time::OffsetDateTime;
use eventstore_sql::{JsonFormat, SendError, Sender, StoredEvent};
use tokio_util::sync::CancellationToken;

use crate::backend::Backend;
use crate::cli::RelayArgs;
use crate::failure::OK;

/// A sender that writes each event as a line of CloudEvents JSON on stdout, and stops the
/// relay once it has delivered `limit` events.
pub(crate) struct PrintSender {
    delivered: AtomicU64,
    limit: Option<u64>,
    stop: CancellationToken,
}

impl PrintSender {
    /// A sender that cancels `stop` after `limit` events, if given.
    pub(crate) fn new(limit: Option<u64>, stop: CancellationToken) -> Self {
        Self {
            delivered: AtomicU64::new(0),
            limit,
            stop,
        }
    }
}

#[async_trait::async_trait]
impl Sender for PrintSender {
    async fn send(&self, events: &[StoredEvent]) -> Result<(), SendError> {
        let format = JsonFormat::new();
        let mut out = std::io::stdout().lock();
        for event in events {
            writeln!(out, "{}", format.write_event(event)).map_err(SendError::from)?;
        }
        out.flush().map_err(SendError::from)?;
        let total = self
            .delivered
            .fetch_add(events.len() as u64, Ordering::Relaxed)
            + events.len() as u64;
        if self.limit.is_some_and(|limit| total >= limit) {
            self.stop.cancel();
        }
        Ok(())
    }
}

/// Runs the relay until Ctrl-C or `--count` events.
pub(crate) async fn run(backend: &Backend, args: &RelayArgs) -> Result<u8> {
    let store: Arc<dyn RelayStore> = match backend {
        Backend::Sqlite(store) => Arc::new(store.clone()),
        Backend::Postgres(store) => Arc::new(store.clone()),
    };
    let shutdown = CancellationToken::new();
    let sender = Arc::new(PrintSender::new(args.count, shutdown.clone()));
    let relay = OutboxRelay::new(&args.name, store, sender)
        .filter(args.filters.query(OffsetDateTime::now_utc())?)
        .batch_size(args.batch_size.max(1));
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_signal.cancel();
        }
    });
    let stats = relay.run(shutdown).await?;
    eprintln!(
        "relay {:?} delivered {} events ({} failed attempts, {} dead-lettered)",
        args.name, stats.delivered, stats.failed_attempts, stats.dead_lettered
    );
    Ok(OK)
}
