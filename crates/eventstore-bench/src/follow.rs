//! The followers' workloads on either backend, on a loaded read set: replay into a
//! no-op handler against the plain SQL reading the same rows, a relay draining the
//! backlog into an in-memory sender against the same read batched with a checkpoint
//! saved per batch, the same relay filtered on one type ([`filtered`]), then the
//! latency from an append's commit to a live subscription and to the relay's sender.

mod filtered;

pub(crate) use filtered::page_sql as filtered_page_sql;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use eventstore_core::{EventQuery, EventStore, Position, SendError, Sender, StoredEvent};
use eventstore_outbox::{OutboxRelay, RelayStore};
use eventstore_replay::Replayer;
use futures::StreamExt as _;
use serde_json::json;
use tokio::runtime::Runtime;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::dataset::Dataset;
use crate::figures::peak_rss;
use crate::measure::{Latencies, Throughput};
use crate::memory::{self, Peaks};
use crate::report::{Figure, Target, Unit};

/// Events per relay batch, for the store's relay and the hand-written one alike.
pub(crate) const RELAY_BATCH: usize = 1000;

/// Single-event appends whose commit-to-delivery latency is measured.
const LATENCY_APPENDS: u64 = 300;

/// The pause between those appends: a live trickle, not a backlog.
const LATENCY_GAP: Duration = Duration::from_millis(5);

/// Data set indexes of the events the latency workload appends: far above any read
/// set's, so that they never collide with events loaded later.
const APPEND_FROM: u64 = 900_000_000;

/// A sender that reports batches: its last sequence, how many events the report
/// covers and its arrival time. It stays quiet until `quiet_for` events arrived, then
/// reports them in one message, then every batch: waking the thread that waits for
/// reports costs a busy machine what the baseline's no-op sender does not (one message
/// per event cost the drain a quarter of its rate; one per batch made SQLite's drain
/// 0.77–0.83× the hand relay in three runs, against 0.81–0.88× reporting once).
struct Counting {
    reports: mpsc::UnboundedSender<(i64, u64, Instant)>,
    quiet_for: u64,
    delivered: AtomicU64,
}

#[async_trait]
impl Sender for Counting {
    async fn send(&self, events: &[StoredEvent]) -> Result<(), SendError> {
        let Some(last) = events.last() else {
            return Ok(());
        };
        let size = events.len() as u64;
        let before = self.delivered.fetch_add(size, Ordering::Relaxed);
        let covered = if before >= self.quiet_for {
            size
        } else if before + size >= self.quiet_for {
            before + size
        } else {
            return Ok(());
        };
        let _ = self
            .reports
            .send((last.sequence(), covered, Instant::now()));
        Ok(())
    }
}

/// One plain replay of every event into a no-op handler.
fn replay_once(rt: &Runtime, store: &Arc<dyn EventStore>) -> Throughput {
    rt.block_on(async {
        let start = Instant::now();
        let stats = Replayer::new(Arc::clone(store))
            .replay(EventQuery::new(), |_| async {
                Ok::<_, std::convert::Infallible>(())
            })
            .await
            .expect("the replay runs");
        Throughput {
            events: stats.events,
            elapsed: start.elapsed(),
        }
    })
}

/// The relay of `round`: a name of its own, so that each round's relay starts from an
/// empty checkpoint and drains the whole backlog.
fn relay_name(round: u32) -> String {
    format!("bench-{round}")
}

/// An [`OutboxRelay`] running on the runtime, reporting what it sends.
struct Relay {
    /// When it was started, before its task was spawned.
    started: Instant,
    /// The [`Counting`] sender's reports.
    reports: mpsc::UnboundedReceiver<(i64, u64, Instant)>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<eventstore_core::Result<eventstore_outbox::RelayStats>>,
}

impl Relay {
    /// Starts the relay `name` (from its checkpoint) in batches of [`RELAY_BATCH`],
    /// delivering the events that match `filter`, reporting its first `quiet_for`
    /// events in one message, then every batch.
    fn start(
        rt: &Runtime,
        store: &Arc<dyn RelayStore>,
        name: &str,
        filter: EventQuery,
        quiet_for: u64,
    ) -> Self {
        let started = Instant::now();
        let (sender, reports) = mpsc::unbounded_channel();
        let sender = Counting {
            reports: sender,
            quiet_for,
            delivered: AtomicU64::new(0),
        };
        let relay = OutboxRelay::new(name, Arc::clone(store), Arc::new(sender))
            .filter(filter)
            .batch_size(RELAY_BATCH)
            .expect("a valid batch size");
        let shutdown = CancellationToken::new();
        let task = rt.spawn({
            let shutdown = shutdown.clone();
            async move { relay.run(shutdown).await }
        });
        Self {
            started,
            reports,
            shutdown,
            task,
        }
    }

    /// Waits until it delivered `events` events; timed from its start.
    fn drain(&mut self, rt: &Runtime, events: u64) -> Throughput {
        rt.block_on(async {
            let mut delivered = 0;
            while delivered < events {
                delivered += self.reports.recv().await.expect("the relay runs").1;
            }
            Throughput {
                events,
                elapsed: self.started.elapsed(),
            }
        })
    }

    /// Shuts it down and waits until it stopped.
    fn stop(self, rt: &Runtime) {
        self.shutdown.cancel();
        rt.block_on(self.task)
            .expect("the relay task finishes")
            .expect("the relay stops cleanly");
    }
}

/// The figure of a follower's rate against its baseline's, held to the ratio every
/// read workload is.
fn rates(
    key: &'static str,
    label: &str,
    store: Throughput,
    raw: Throughput,
    details: serde_json::Value,
) -> Figure {
    Figure {
        key,
        label: label.to_owned(),
        unit: Unit::EventsPerSec,
        store: Some(store.per_sec()),
        raw: Some(raw.per_sec()),
        targets: vec![Target::RatioAtLeast(crate::figures::RATIO_TARGET)],
        details,
    }
}

/// What a backend hands the followers' workloads.
pub(crate) struct Followed<'a> {
    /// The store on the read set.
    pub(crate) store: Arc<dyn RelayStore>,
    /// Events in the read set.
    pub(crate) events: u64,
    /// The data set, to append more events from.
    pub(crate) dataset: Dataset,
    /// One plain full read of the same rows, the baseline of replay.
    pub(crate) raw_read: &'a mut dyn FnMut() -> Throughput,
    /// The relay drain by hand, the baseline of the relay: the plain full read in
    /// batches of the given size, each handed to a no-op sender and then its last
    /// sequence saved with the store's checkpoint statement.
    pub(crate) raw_relay: &'a mut dyn FnMut(usize) -> Throughput,
    /// The filtered relay drain by hand, the baseline of [`filtered`]: pages of the
    /// given size of the events of the given type, read with [`filtered_page_sql`]'s
    /// statement, each handed to a no-op sender and then its last sequence saved with
    /// the store's checkpoint statement.
    pub(crate) raw_filtered_relay: &'a mut dyn FnMut(&str, usize) -> Throughput,
    /// The subscription latency p99 the backend must meet, in milliseconds.
    pub(crate) latency_target_ms: f64,
    /// Rounds of replay and relay drain (and of their baselines).
    pub(crate) rounds: u32,
}

/// Runs replay and relay drain `rounds` times each against their baselines, the best
/// round of each side kept and the sides alternating which goes first, as for every
/// throughput workload; then the filtered relay drain the same way ([`filtered`]);
/// then the latencies. The store then holds [`LATENCY_APPENDS`] more events.
pub(crate) fn run(rt: &Runtime, mut followed: Followed<'_>) -> Vec<Figure> {
    let store: Arc<dyn EventStore> = followed.store.clone();
    let rounds = followed.rounds.max(1);
    let (mut raw, mut raw_relay, mut replay, mut drain) = (None, None, None, None);
    let (mut replay_peaks, mut relay_peaks) = (Peaks::default(), Peaks::default());
    for round in 0..rounds {
        let raw_first = round % 2 == 0;
        for raw_side in [raw_first, !raw_first] {
            if raw_side {
                let (read, peak) = memory::peak(&mut *followed.raw_read);
                raw = Some(read.best(raw));
                replay_peaks.raw(peak);
                let (relayed, peak) = memory::peak(|| (followed.raw_relay)(RELAY_BATCH));
                assert_eq!(
                    relayed.events, followed.events,
                    "the baseline relayed every event"
                );
                raw_relay = Some(relayed.best(raw_relay));
                relay_peaks.raw(peak);
            } else {
                let (replayed, peak) = memory::peak(|| replay_once(rt, &store));
                assert_eq!(
                    replayed.events, followed.events,
                    "the replay saw every event"
                );
                replay = Some(replayed.best(replay));
                replay_peaks.store(peak);
                let (drained, peak) = memory::peak(|| {
                    let mut relay = Relay::start(
                        rt,
                        &followed.store,
                        &relay_name(round),
                        EventQuery::new(),
                        followed.events,
                    );
                    let drained = relay.drain(rt, followed.events);
                    relay.stop(rt);
                    drained
                });
                drain = Some(drained.best(drain));
                relay_peaks.store(peak);
            }
        }
    }
    let [raw, raw_relay, replay, drain] =
        [raw, raw_relay, replay, drain].map(|t| t.expect("at least one round ran"));
    // Before the latencies: their appends would add to the filtered relay's backlog.
    let filtered = filtered::run(rt, &mut followed);

    // The last round's relay again: its checkpoint is at the head, so it waits live.
    let live = relay_name(rounds - 1);
    let mut relay = Relay::start(rt, &followed.store, &live, EventQuery::new(), 0);
    let (to_subscriber, to_relay) = rt.block_on(async {
        let head = store.horizon().await.expect("the horizon reads").head;
        let mut subscription =
            Replayer::new(Arc::clone(&store)).subscribe(Position::After(head), EventQuery::new());
        let (mut to_subscriber, mut to_relay) = (Latencies::default(), Latencies::default());
        for i in 0..LATENCY_APPENDS {
            let event = followed.dataset.event(APPEND_FROM + i);
            let appended = store.append(vec![event]).await.expect("the store appends");
            let committed = Instant::now();
            let sequence = appended.first_sequence().expect("one event");
            let seen = subscription
                .next()
                .await
                .expect("the subscription is live")
                .expect("the subscription reads");
            assert_eq!(seen.sequence(), sequence);
            to_subscriber.record(committed.elapsed(), 1);
            let (delivered, _, at) = relay.reports.recv().await.expect("the relay runs");
            assert_eq!(delivered, sequence);
            to_relay.record(at.saturating_duration_since(committed), 1);
            tokio::time::sleep(LATENCY_GAP).await;
        }
        (to_subscriber, to_relay)
    });
    relay.stop(rt);

    let target_us = followed.latency_target_ms * 1000.0;
    let latency = |key, label: &str, calls: &Latencies, targets| Figure {
        key,
        label: label.to_owned(),
        unit: Unit::Micros,
        store: Some(calls.percentile_us(99.0)),
        raw: None,
        targets,
        details: json!({
            "appends": calls.calls(),
            "gap_ms": LATENCY_GAP.as_millis() as u64,
            "p50_us": calls.percentile_us(50.0),
            "p90_us": calls.percentile_us(90.0),
            "p99_us": calls.percentile_us(99.0),
        }),
    };
    let mut figures = vec![
        rates(
            "replay",
            "replay into a no-op handler",
            replay,
            raw,
            json!({ "events": replay.events, "baseline": "the plain full read" }),
        ),
        peak_rss(
            "replay_peak_rss",
            "replay into a no-op handler",
            replay_peaks,
        ),
        rates(
            "relay_drain",
            &format!("relay backlog drain, batches of {RELAY_BATCH}"),
            drain,
            raw_relay,
            json!({
                "events": drain.events,
                "batch": RELAY_BATCH,
                "baseline": "the plain full read in batches, a checkpoint saved per batch",
                "plain_full_read_events_per_sec": raw.per_sec(),
                "ratio_to_plain_full_read": drain.per_sec() / raw.per_sec(),
            }),
        ),
        peak_rss("relay_drain_peak_rss", "relay backlog drain", relay_peaks),
    ];
    figures.extend(filtered);
    figures.extend([
        latency(
            "subscription_p99",
            &format!(
                "commit → subscription, p99 (p50 {:.2} ms)",
                to_subscriber.percentile_us(50.0) / 1000.0
            ),
            &to_subscriber,
            vec![Target::StoreAtMost(target_us)],
        ),
        latency(
            "relay_latency_p99",
            &format!(
                "commit → relay's sender, p99 (p50 {:.2} ms)",
                to_relay.percentile_us(50.0) / 1000.0
            ),
            &to_relay,
            vec![],
        ),
    ]);
    figures
}
