//! `relay`: an outbox relay that prints what it delivers.
//!
//! Delivery is to stdout as JSON Lines, which a shell pipes anywhere (`| kcat -P …`).
//! Posting over HTTP is left out: it would add an HTTP client to every build of the tool.

use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Result;
use eventstore_sql::outbox::{OnFailure, OutboxRelay, RelayStats, RelayStore};
use eventstore_sql::time::OffsetDateTime;
use eventstore_sql::{JsonFormat, SendError, Sender, StoredEvent};
use tokio_util::sync::CancellationToken;

use crate::backend::Backend;
use crate::cli::RelayArgs;
use crate::failure::OK;
use crate::output::json_line;

/// A sender that writes each event as a line of CloudEvents JSON on stdout. It ends its
/// round (`round`) once one more batch could take it past `limit`, and the whole relay
/// (`shutdown`) when stdout fails.
struct PrintSender {
    delivered: AtomicU64,
    /// Events this round may deliver, if limited.
    limit: Option<u64>,
    /// The round's batch size.
    batch_size: u64,
    round: CancellationToken,
    shutdown: CancellationToken,
    /// Why stdout failed, for `run` to return.
    failure: Mutex<Option<std::io::Error>>,
}

impl PrintSender {
    fn write(&self, events: &[StoredEvent]) -> std::io::Result<()> {
        let format = JsonFormat::new();
        let mut out = std::io::stdout().lock();
        for event in events {
            writeln!(out, "{}", json_line(&format, event))?;
        }
        out.flush()
    }
}

#[async_trait::async_trait]
impl Sender for PrintSender {
    async fn send(&self, events: &[StoredEvent]) -> Result<(), SendError> {
        // The relay may hand over the next batch before it sees that the round is over
        // (the batch was read already): it is not ours to print. Not returning makes the
        // relay drop the send at shutdown, unsent and not checkpointed, where an error
        // would count as a failed attempt.
        if self.round.is_cancelled() {
            return std::future::pending().await;
        }
        if let Err(error) = self.write(events) {
            // Stdout can be neither retried nor skipped past (dead-lettering would lose
            // the events for good): stop the relay before it checkpoints this batch,
            // which the next run delivers again.
            *self.failure.lock().unwrap_or_else(PoisonError::into_inner) = Some(error);
            self.shutdown.cancel();
            return std::future::pending().await;
        }
        let total = self
            .delivered
            .fetch_add(events.len() as u64, Ordering::Relaxed)
            + events.len() as u64;
        if let Some(limit) = self.limit
            && limit.saturating_sub(total) < self.batch_size
        {
            self.round.cancel();
        }
        Ok(())
    }
}

/// Runs the relay until Ctrl-C, `--count` events, or stdout fails.
///
/// With `--count`, it runs in rounds: each with batches no larger than the events still
/// to deliver, ended once fewer than a batch remain, so that exactly `--count` events
/// are delivered and checkpointed.
pub(crate) async fn run(backend: &Backend, args: &RelayArgs) -> Result<u8> {
    let store: Arc<dyn RelayStore> = match backend {
        Backend::Sqlite(store) => Arc::new(store.clone()),
        Backend::Postgres(store) => Arc::new(store.clone()),
    };
    let filter = args.filters.query(OffsetDateTime::now_utc())?;
    let shutdown = CancellationToken::new();
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_signal.cancel();
        }
    });
    let mut total = RelayStats::default();
    loop {
        let remaining = args
            .count
            .map(|count| count.saturating_sub(total.delivered));
        if remaining == Some(0) || shutdown.is_cancelled() {
            break;
        }
        let batch_size = remaining.map_or(args.batch_size, |remaining| {
            args.batch_size
                .min(usize::try_from(remaining).unwrap_or(usize::MAX))
        });
        let batch_size = batch_size.max(1);
        let round = shutdown.child_token();
        let sender = Arc::new(PrintSender {
            delivered: AtomicU64::new(0),
            limit: remaining,
            batch_size: batch_size as u64,
            round: round.clone(),
            shutdown: shutdown.clone(),
            failure: Mutex::new(None),
        });
        let relay = OutboxRelay::new(&args.name, Arc::clone(&store), Arc::clone(&sender) as _)
            .filter(filter.clone())
            .batch_size(batch_size)?
            .on_failure(OnFailure::Stop);
        let stats = relay.run(round).await;
        let failure = sender
            .failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(error) = failure {
            return Err(anyhow::Error::from(error).context("writing to stdout"));
        }
        let stats = stats?;
        total.delivered += stats.delivered;
        total.failed_attempts += stats.failed_attempts;
        total.dead_lettered += stats.dead_lettered;
        // A round the sender did not end (it ends one only after a delivery) ended
        // with the relay itself.
        if args.count.is_none() || stats.delivered == 0 {
            break;
        }
    }
    eprintln!(
        "relay {:?} delivered {} events ({} failed attempts, {} dead-lettered)",
        args.name, total.delivered, total.failed_attempts, total.dead_lettered
    );
    Ok(OK)
}
