//! Waking followers across processes: LISTEN/NOTIFY on a dedicated connection.
//!
//! deadpool drives its connections itself and drops their notifications, so the store
//! keeps one connection of its own (opened with the pool's settings and TLS) that
//! LISTENs on the table's channel, and also NOTIFYs it after this process's commits
//! (coalesced: one notification per burst of commits). A notification from another
//! process wakes this process's followers. When the connection drops (a server restart,
//! `pg_terminate_backend`), it reconnects with back-off (starting over once it listens
//! again); meanwhile followers poll. Once it listens again it announces this process's
//! commits made while it was down and wakes this process's followers, so that neither
//! side waits for its next poll for what the other committed during the gap.

use std::sync::{Arc, Weak};
use std::time::Duration;

use eventstore_core::CommitSignal;
use futures::StreamExt as _;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::{AsyncMessage, Socket};

/// Runs the listener until the store is closed or dropped.
pub(crate) async fn run<T>(
    config: tokio_postgres::Config,
    tls: T,
    channel: String,
    signal: Weak<CommitSignal>,
) where
    T: MakeTlsConnect<Socket> + Clone + Send + Sync + 'static,
    T::Stream: Send + 'static,
    T::TlsConnect: Send,
    <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
{
    let mut backoff = FIRST_BACKOFF;
    // This process's commits, across sessions: those made while no session listens are
    // announced by the next one.
    let Some(mut local) = signal.upgrade().map(|alive| alive.local_commits()) else {
        return;
    };
    loop {
        let Some(alive) = signal.upgrade() else {
            return;
        };
        if alive.is_closed() {
            return;
        }
        drop(alive);
        match session(
            &config,
            tls.clone(),
            &channel,
            &signal,
            &mut local,
            &mut backoff,
        )
        .await
        {
            Ok(()) => return,
            Err(error) => {
                tracing::warn!(%channel, %error, "LISTEN connection lost; reconnecting");
                if let Some(alive) = signal.upgrade() {
                    // Whatever was committed meanwhile, followers look now.
                    alive.wake();
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// The first pause before reconnecting, and the one after a session that listened.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// One connection's life: `Ok` when the store went away, `Err` when the connection did.
async fn session<T>(
    config: &tokio_postgres::Config,
    tls: T,
    channel: &str,
    signal: &Weak<CommitSignal>,
    local: &mut tokio::sync::watch::Receiver<u64>,
    backoff: &mut Duration,
) -> Result<(), String>
where
    T: MakeTlsConnect<Socket> + Send + 'static,
    T::Stream: Send + 'static,
    T::TlsConnect: Send,
    <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
{
    let (client, mut connection) = config.connect(tls).await.map_err(|e| e.to_string())?;
    let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
    // Our own notifications come back to us; they are told apart by the sender's pid.
    let mut own_pid = 0;
    let row = while_polling(
        client.query_one("SELECT pg_backend_pid()", &[]),
        &mut messages,
        own_pid,
        signal,
    )
    .await?;
    own_pid = row.get(0);
    while_polling(
        client.batch_execute(&format!("LISTEN {channel}")),
        &mut messages,
        own_pid,
        signal,
    )
    .await?;
    let notify = format!("NOTIFY {channel}");
    tracing::debug!(%channel, "listening");
    *backoff = FIRST_BACKOFF;
    // What was committed while no session listened: this process's commits are
    // announced, and this process's followers look for the others'.
    if local.has_changed().unwrap_or(false) {
        local.borrow_and_update();
        while_polling(
            client.batch_execute(&notify),
            &mut messages,
            own_pid,
            signal,
        )
        .await?;
    }
    if let Some(alive) = signal.upgrade() {
        alive.wake();
    }
    loop {
        let Some(alive) = signal.upgrade() else {
            return Ok(());
        };
        if alive.is_closed() {
            return Ok(());
        }
        drop(alive);
        tokio::select! {
            changed = local.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
                local.borrow_and_update();
                while_polling(client.batch_execute(&notify), &mut messages, own_pid, signal).await?;
            }
            message = messages.next() => handle(message, own_pid, signal)?,
        }
    }
}

/// Runs a request of the client while polling the connection's messages, which the
/// request needs to make progress.
async fn while_polling<F, O, S>(
    request: F,
    messages: &mut S,
    own_pid: i32,
    signal: &Weak<CommitSignal>,
) -> Result<O, String>
where
    F: std::future::Future<Output = Result<O, tokio_postgres::Error>>,
    S: futures::Stream<Item = Result<AsyncMessage, tokio_postgres::Error>> + Unpin,
{
    tokio::pin!(request);
    loop {
        tokio::select! {
            result = &mut request => return result.map_err(|e| e.to_string()),
            message = messages.next() => handle(message, own_pid, signal)?,
        }
    }
}

/// Acts on one message of the connection: another process's notification wakes the
/// followers; the end of the connection is an error.
fn handle(
    message: Option<Result<AsyncMessage, tokio_postgres::Error>>,
    own_pid: i32,
    signal: &Weak<CommitSignal>,
) -> Result<(), String> {
    match message {
        Some(Ok(AsyncMessage::Notification(n))) if n.process_id() != own_pid => {
            if let Some(alive) = signal.upgrade() {
                alive.wake();
            }
            Ok(())
        }
        Some(Ok(_)) => Ok(()),
        Some(Err(error)) => Err(error.to_string()),
        None => Err("the server closed the connection".to_owned()),
    }
}

/// Starts the listener for a store opened from a configuration.
pub(crate) fn spawn<T>(
    config: tokio_postgres::Config,
    tls: T,
    channel: String,
    signal: &Arc<CommitSignal>,
) where
    T: MakeTlsConnect<Socket> + Clone + Send + Sync + 'static,
    T::Stream: Send + 'static,
    T::TlsConnect: Send,
    <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
{
    tokio::spawn(run(config, tls, channel, Arc::downgrade(signal)));
}
