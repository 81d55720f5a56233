//! Whether an append takes its subjects' locks before its statement.
//!
//! The append statement takes its subjects' locks itself, but its snapshot predates
//! them: a batch that waited for another writer's lock numbers its events after a
//! version that writer has since moved on, the `(subject, stream_version)` index
//! refuses the insert, and the whole batch's work is lost. Taking the locks first, in a
//! statement of its own inside a transaction, cannot lose that race, but costs three
//! more statements (`BEGIN`, the locks, `COMMIT`; all in the same round trip). So a
//! store appends optimistically until an append loses a race, then takes the locks
//! first for its next [`LOCKED_RUN`] appends, then tries again.

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

/// How many appends after a lost race take their subjects' locks first. Long enough
/// that steady contention wastes at most one batch in this many; short enough that a
/// burst of it is forgotten after a few hundred milliseconds of appends.
const LOCKED_RUN: u32 = 64;

/// The store's recent contention on subject locks.
#[derive(Debug, Default)]
pub(crate) struct Contention {
    /// Appends left that take their locks first.
    locked_left: AtomicU32,
}

impl Contention {
    /// Whether the next append should take its subjects' locks first (and counts it).
    pub(crate) fn locks_first(&self) -> bool {
        self.locked_left
            .fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }

    /// An append lost a race on a stream version.
    pub(crate) fn raced(&self) {
        self.locked_left.store(LOCKED_RUN, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_race_makes_the_next_appends_lock_first_then_wears_off() {
        let contention = Contention::default();
        assert!(!contention.locks_first());
        contention.raced();
        assert_eq!(
            (0..LOCKED_RUN).filter(|_| contention.locks_first()).count(),
            64
        );
        assert!(!contention.locks_first());
    }
}
