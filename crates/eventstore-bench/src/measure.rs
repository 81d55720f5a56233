//! Timing: throughput of a run, and latency percentiles of repeated calls.

use std::time::Duration;

use crate::rng::Rng;

/// Events processed in some wall-clock time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Throughput {
    /// How many events.
    pub(crate) events: u64,
    /// How long they took.
    pub(crate) elapsed: Duration,
}

impl Throughput {
    /// Events per second.
    pub(crate) fn per_sec(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The faster of two runs (noise from other work on the machine only slows a run
    /// down, so the best round is the best estimate).
    pub(crate) fn best(self, other: Option<Self>) -> Self {
        match other {
            Some(other) if other.per_sec() > self.per_sec() => other,
            _ => self,
        }
    }
}

/// The durations of repeated calls, and the events they returned.
#[derive(Debug, Clone, Default)]
pub(crate) struct Latencies {
    /// One duration per call, in call order.
    samples: Vec<Duration>,
    /// Events returned by all calls together.
    events: u64,
}

impl Latencies {
    /// Records one call that returned `events` events.
    pub(crate) fn record(&mut self, elapsed: Duration, events: usize) {
        self.samples.push(elapsed);
        self.events += events as u64;
    }

    /// The number of calls.
    pub(crate) fn calls(&self) -> usize {
        self.samples.len()
    }

    /// Events returned per second of call time.
    pub(crate) fn throughput(&self) -> Throughput {
        Throughput {
            events: self.events,
            elapsed: self.samples.iter().sum(),
        }
    }

    /// The `p`-th percentile (0 to 100, nearest rank) in microseconds.
    pub(crate) fn percentile_us(&self, p: f64) -> f64 {
        if self.samples.is_empty() {
            return f64::NAN;
        }
        let mut sorted = self.samples.clone();
        sorted.sort_unstable();
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        let index = rank.clamp(1, sorted.len()) - 1;
        sorted[index].as_secs_f64() * 1e6
    }

    /// The mean in microseconds.
    pub(crate) fn mean_us(&self) -> f64 {
        self.throughput().elapsed.as_secs_f64() * 1e6 / self.samples.len().max(1) as f64
    }
}

/// The calls of both sides of a per-call workload.
#[derive(Debug, Clone, Default)]
pub(crate) struct Repeated {
    /// Through the store.
    pub(crate) store: Latencies,
    /// Through the plain SQL.
    pub(crate) raw: Latencies,
}

/// Calls one side makes in a row before the other makes the same calls.
///
/// One call each in turn made a side's time depend on what the other side had just
/// done. A SQLite type + time query reading 21,000 pages took 33–34 ms on either side
/// run alone (the same statement, the same plan); interleaved call by call, the store's
/// took 55 ms after the baseline's identical query while the baseline's stayed at
/// 35–40 ms (and the other way round with two plain connections: whichever ran first
/// was slow). In blocks, each side mostly follows itself, as in an application.
const BLOCK: usize = 16;

/// Runs `warmup` calls unrecorded, then `calls` recorded, on random keys, in blocks of
/// [`BLOCK`] keys: one side makes a block's calls, then the other the same calls, the
/// first side alternating from block to block. Each key must return the same number of
/// events on both sides.
pub(crate) fn repeat<K>(
    calls: usize,
    mut key: impl FnMut(&mut Rng) -> K,
    mut store: impl FnMut(&K) -> (Duration, usize),
    mut raw: impl FnMut(&K) -> (Duration, usize),
) -> Repeated {
    let mut rng = Rng::new(0x5eed ^ calls as u64);
    let warmup = (calls / 10).clamp(1, 50);
    let mut out = Repeated::default();
    let mut made = 0;
    for block in 0.. {
        if made >= warmup + calls {
            break;
        }
        let keys: Vec<K> = (0..BLOCK.min(warmup + calls - made))
            .map(|_| key(&mut rng))
            .collect();
        let run = |side: &mut dyn FnMut(&K) -> (Duration, usize)| -> Vec<(Duration, usize)> {
            keys.iter().map(side).collect()
        };
        let (s, r) = if block % 2 == 0 {
            let s = run(&mut store);
            (s, run(&mut raw))
        } else {
            let r = run(&mut raw);
            (run(&mut store), r)
        };
        for (s, r) in s.into_iter().zip(r) {
            assert_eq!(
                s.1, r.1,
                "the store and the baseline return the same events"
            );
            if made >= warmup {
                out.store.record(s.0, s.1);
                out.raw.record(r.0, r.1);
            }
            made += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut l = Latencies::default();
        for ms in [5, 1, 4, 2, 3] {
            l.record(Duration::from_millis(ms), 10);
        }
        assert_eq!(l.percentile_us(50.0), 3000.0);
        assert_eq!(l.percentile_us(100.0), 5000.0);
        assert_eq!(l.percentile_us(0.0), 1000.0);
        assert_eq!(l.throughput().events, 50);
        assert_eq!(l.calls(), 5);
    }
}
