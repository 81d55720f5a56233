//! Retrying a failed step (a delivery, a projection's handler): exponential back-off
//! with jitter.

use std::hash::{BuildHasher as _, Hasher as _};
use std::time::Duration;

use crate::{Error, Result};

/// How a failed step is retried: the outbox relay's sends, a projection's handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The delay after the first failure; it doubles after each further one.
    pub initial_delay: Duration,
    /// The longest delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts, 100 ms doubling up to 10 s.
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// Refuses a policy of no attempts (`max_attempts: 0`: the first attempt counts, so
    /// a step could never run) with [`Error::Config`] naming `option` (the builder
    /// method that was given it, such as `retry`) and the value.
    pub fn check(&self, option: &str) -> Result<()> {
        if self.max_attempts == 0 {
            return Err(Error::Config(format!(
                "{option}: max_attempts must be at least 1, not 0: it counts the first \
                 attempt too"
            )));
        }
        Ok(())
    }

    /// The delay before attempt `attempt + 1`, after `attempt` failures (1-based):
    /// half the exponential delay plus a random part of the other half ("equal
    /// jitter"), so that relays restarted together do not retry in lockstep.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(30);
        let full = self
            .initial_delay
            .saturating_mul(1 << exponent)
            .min(self.max_delay);
        let half = full / 2;
        let jitter_nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        half + Duration::from_nanos(if jitter_nanos == 0 {
            0
        } else {
            random % jitter_nanos
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_exponentially_with_jitter_and_a_cap() {
        let policy = RetryPolicy {
            max_attempts: 10,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        for (attempt, full) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1000),
            (30, 1000),
        ] {
            for _ in 0..50 {
                let d = policy.delay(attempt).as_millis();
                assert!((full / 2..=full).contains(&d), "attempt {attempt}: {d} ms");
            }
        }
    }
}
