//! Keeping a lease while a job that must run in one process at a time works (a relay
//! delivering, a projection applying): renewed on time while the job runs, and the job
//! dropped before the lease could have passed to another holder.

use std::future::Future;
use std::time::Duration;

use crate::coordination::{LeaseStore, MAX_LEASE_TTL};
use crate::error::Result;
use crate::lease::Lease;
use tokio::time::{Instant, sleep, sleep_until};
use tokio_util::sync::CancellationToken;

/// `Lease`'s own shortest time to live.
const MIN_TTL: Duration = Duration::from_millis(30);

/// Why a job run under a lease was dropped before it finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupted {
    /// The shutdown token was cancelled.
    ShutDown,
    /// The lease went to another holder, or could not be renewed before its deadline.
    LeaseLost,
}

/// A [`Lease`] and when it was last granted, so that a job under it can stop before
/// the lease expires in the store.
#[derive(Debug)]
pub struct LeaseKeeper {
    lease: Lease,
    ttl: Duration,
    /// When the store was asked for the lease, for the grant it holds now: the store
    /// keeps it until at least `ttl` after this instant. `None` while not held.
    granted: Option<Instant>,
}

impl LeaseKeeper {
    /// A lease on `key` lasting `ttl` per renewal.
    pub fn new(key: &str, ttl: Duration) -> Self {
        let ttl = ttl.clamp(MIN_TTL, MAX_LEASE_TTL);
        Self {
            lease: Lease::new(key, ttl),
            ttl,
            granted: None,
        }
    }

    /// Takes (or renews) the lease if it is free or already this holder's; one attempt.
    pub async fn try_acquire(&mut self, store: &dyn LeaseStore) -> Result<bool> {
        let asked = Instant::now();
        let held = self.lease.try_acquire(store).await;
        self.granted = match held {
            Ok(true) => Some(asked),
            _ => None,
        };
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
        self.lease.release(store).await;
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
                held = self.lease.try_acquire(store) => held,
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

    fn lost(&mut self) -> Interrupted {
        tracing::warn!(key = %self.lease.key(), "lease lost or not renewed in time; stopping");
        self.granted = None;
        Interrupted::LeaseLost
    }
}
