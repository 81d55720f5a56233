//! Holding a lease while doing a job that must run in one process at a time (a relay
//! delivering, a projection applying): taken when free, renewed on time while the job
//! runs, and the job dropped before the lease could have passed to another holder.

use std::future::Future;
use std::time::Duration;

use tokio::time::{Instant, sleep, sleep_until};
use tokio_util::sync::CancellationToken;

use crate::coordination::{LeaseStore, MAX_LEASE_TTL};
use crate::error::{Error, Result};

/// The shortest time to live a lease is given (30 ms): renewed every third of it, a
/// shorter lease would be lost to a late timer or one slow round trip.
pub const MIN_LEASE_TTL: Duration = Duration::from_millis(30);

/// Why a job run under a lease ([`Lease::keep_while`]) was dropped before it finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupted {
    /// The shutdown token was cancelled.
    ShutDown,
    /// The lease went to another holder, or could not be renewed before its deadline.
    LeaseLost,
}

/// A lease on `key` held through a [`LeaseStore`]: taken when free (waiting while
/// another holder has it), renewed every third of its time to live while a job runs
/// under it ([`keep_while`](Self::keep_while)), released at the end. A holder that dies
/// stops renewing, and the lease passes to another when it expires.
#[derive(Debug)]
pub struct Lease {
    key: String,
    holder: String,
    ttl: Duration,
    /// When the store was asked for the lease, for the grant it holds now: the store
    /// keeps it until at least `ttl` after this instant. `None` while not held.
    granted: Option<Instant>,
}

impl Lease {
    /// A lease on `key` lasting `ttl` per renewal, for a holder id unique across
    /// processes. A `ttl` under [`MIN_LEASE_TTL`] is raised to it and one over
    /// [`MAX_LEASE_TTL`] lowered to it; a builder taking a lease's time to live from
    /// its caller refuses the shorter ones ([`check_ttl`](Self::check_ttl)).
    pub fn new(key: impl Into<String>, ttl: Duration) -> Self {
        Self {
            key: key.into(),
            holder: unique_holder(),
            ttl: ttl.clamp(MIN_LEASE_TTL, MAX_LEASE_TTL),
            granted: None,
        }
    }

    /// Refuses a time to live under [`MIN_LEASE_TTL`] with [`Error::Config`] naming
    /// `option` (the builder method that was given it, such as `lease_ttl`) and the
    /// value. One over [`MAX_LEASE_TTL`] is taken, and the lease held for
    /// `MAX_LEASE_TTL`.
    pub fn check_ttl(option: &str, ttl: Duration) -> Result<()> {
        if ttl < MIN_LEASE_TTL {
            return Err(Error::Config(format!(
                "{option} must be at least {MIN_LEASE_TTL:?}, not {ttl:?}: the lease is \
                 renewed every third of it, and a shorter one would lapse between renewals"
            )));
        }
        Ok(())
    }

    /// The key the lease is held under.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Takes (or renews) the lease if it is free or already this holder's; one attempt.
    pub async fn try_acquire(&mut self, store: &dyn LeaseStore) -> Result<bool> {
        let asked = Instant::now();
        let held = store.try_lease(&self.key, &self.holder, self.ttl).await;
        self.granted = match held {
            Ok(true) => Some(asked),
            _ => None,
        };
        if let Ok(true) = held {
            tracing::debug!(key = %self.key, holder = %self.holder, "lease acquired");
        }
        held
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
                () = sleep(self.ttl / 3) => {}
            }
        }
    }

    /// Gives the lease up (best effort: it expires anyway).
    pub async fn release(&mut self, store: &dyn LeaseStore) {
        self.granted = None;
        if let Err(error) = store.release_lease(&self.key, &self.holder).await {
            tracing::warn!(key = %self.key, %error, "could not release lease");
        }
    }

    /// Runs `job` while the lease is held, renewing it every third of its time to live.
    /// The job is dropped, unfinished, when `shutdown` is cancelled, when another holder
    /// has taken the lease, or when no renewal succeeded by the deadline: the last grant
    /// plus the time to live, less a quarter of it as a margin for a late timer and for
    /// the job to be dropped. So a job never outlives this holder's lease, and another
    /// holder's job never runs beside it. A renewal the store fails is returned as the
    /// error, the job dropped too.
    pub async fn keep_while<F: Future>(
        &mut self,
        store: &dyn LeaseStore,
        shutdown: &CancellationToken,
        job: F,
    ) -> Result<std::result::Result<F::Output, Interrupted>> {
        tokio::pin!(job);
        loop {
            let Some(granted) = self.granted else {
                return Ok(Err(Interrupted::LeaseLost));
            };
            let deadline = granted + (self.ttl - self.ttl / 4);
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return Ok(Err(Interrupted::ShutDown)),
                () = sleep_until(deadline) => return Ok(Err(self.lost())),
                done = &mut job => return Ok(Ok(done)),
                () = sleep_until(granted + self.ttl / 3) => {}
            }
            // Renew, still driving the job, and within the deadline.
            let asked = Instant::now();
            let renewed = tokio::select! {
                biased;
                () = shutdown.cancelled() => return Ok(Err(Interrupted::ShutDown)),
                () = sleep_until(deadline) => Ok(false),
                done = &mut job => return Ok(Ok(done)),
                held = self.renew(store) => held,
            };
            match renewed {
                Ok(true) => self.granted = Some(asked),
                Ok(false) => return Ok(Err(self.lost())),
                Err(error) => {
                    self.granted = None;
                    return Err(error);
                }
            }
        }
    }

    /// One renewal attempt, the grant recorded by the caller.
    async fn renew(&self, store: &dyn LeaseStore) -> Result<bool> {
        store.try_lease(&self.key, &self.holder, self.ttl).await
    }

    fn lost(&mut self) -> Interrupted {
        tracing::warn!(key = %self.key, "lease lost or not renewed in time; stopping");
        self.granted = None;
        Interrupted::LeaseLost
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
