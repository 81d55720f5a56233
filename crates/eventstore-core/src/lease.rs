//! Holding a lease while doing a job that must run in one process at a time (a relay, a
//! projection).

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::coordination::LeaseStore;
use crate::error::Result;

/// A lease on `key` held through a [`LeaseStore`]: taken when free (waiting while
/// another holder has it), renewed every third of its time to live, released at the end.
/// A holder that dies stops renewing, and the lease passes to another when it expires.
#[derive(Debug)]
pub struct Lease {
    key: String,
    holder: String,
    ttl: Duration,
    renewed: Instant,
}

impl Lease {
    /// A lease on `key` lasting `ttl` (at least 30 ms) per renewal, for a holder id
    /// unique across processes.
    pub fn new(key: impl Into<String>, ttl: Duration) -> Self {
        Self {
            key: key.into(),
            holder: unique_holder(),
            ttl: ttl.max(Duration::from_millis(30)),
            renewed: Instant::now(),
        }
    }

    /// The key the lease is held under.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Takes the lease if it is free (or already this holder's); one attempt.
    pub async fn try_acquire(&mut self, store: &dyn LeaseStore) -> Result<bool> {
        let held = store.try_lease(&self.key, &self.holder, self.ttl).await?;
        if held {
            self.renewed = Instant::now();
            tracing::debug!(key = %self.key, holder = %self.holder, "lease acquired");
        }
        Ok(held)
    }

    /// Waits until this holder has the lease; `false` if `shutdown` came first.
    pub async fn acquire(
        &mut self,
        store: &dyn LeaseStore,
        shutdown: &CancellationToken,
    ) -> Result<bool> {
        loop {
            if shutdown.is_cancelled() {
                return Ok(false);
            }
            if self.try_acquire(store).await? {
                return Ok(true);
            }
            tokio::select! {
                () = shutdown.cancelled() => return Ok(false),
                () = tokio::time::sleep(self.ttl / 3) => {}
            }
        }
    }

    /// How long until the lease is due for renewal.
    pub fn until_renewal(&self) -> Duration {
        (self.ttl / 3).saturating_sub(self.renewed.elapsed())
    }

    /// Renews the lease if it is due; `false` if it was lost to another holder.
    pub async fn renew_if_due(&mut self, store: &dyn LeaseStore) -> Result<bool> {
        if !self.until_renewal().is_zero() {
            return Ok(true);
        }
        let held = self.try_acquire(store).await?;
        if !held {
            tracing::warn!(key = %self.key, "lease lost");
        }
        Ok(held)
    }

    /// Gives the lease up so that another holder can take it at once (best effort: it
    /// expires anyway).
    pub async fn release(&self, store: &dyn LeaseStore) {
        if let Err(error) = store.release_lease(&self.key, &self.holder).await {
            tracing::warn!(key = %self.key, %error, "could not release lease");
        }
    }
}

/// A holder id unique across processes and leases: process id, time, and a counter.
fn unique_holder() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{}-{nanos:x}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
