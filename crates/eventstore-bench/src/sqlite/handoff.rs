//! What one trip through tokio's blocking pool costs on this machine: the floor under
//! every store call, which runs its SQLite work there (the baseline calls SQLite
//! directly).

use std::time::Instant;

use tokio::runtime::Runtime;

use crate::measure::Latencies;

/// The round trips of `calls` empty `spawn_blocking` tasks awaited one after another,
/// as a store call awaits its work.
pub(crate) fn spawn_blocking_round_trips(rt: &Runtime, calls: usize) -> Latencies {
    rt.block_on(async {
        let mut trips = Latencies::default();
        for _ in 0..calls {
            let start = Instant::now();
            tokio::task::spawn_blocking(|| std::hint::black_box(0))
                .await
                .expect("an empty task finishes");
            trips.record(start.elapsed(), 0);
        }
        trips
    })
}
