//! A broker shared by the senders of several relays of one name: it sees every send,
//! whichever relay it comes from, so a test can tell whether two were ever in flight at
//! once, and in which order the events were taken.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use eventstore_core::{SendError, Sender, StoredEvent, Unavailable};

/// What every sender of a test saw, whichever relay it belongs to.
#[derive(Default)]
pub(super) struct Broker {
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
    started: AtomicUsize,
    /// Sends dropped before they finished.
    dropped: AtomicUsize,
    /// Calls left to fail.
    failures: AtomicUsize,
    /// Whether those failures say the broker is [`Unavailable`].
    unavailable: bool,
    /// The sequences taken, in the order they were taken.
    taken: Mutex<Vec<i64>>,
}

impl Broker {
    /// A broker that fails its first `calls` sends (after their delay).
    pub(super) fn failing(calls: usize) -> Arc<Self> {
        let broker = Self::default();
        broker.failures.store(calls, Ordering::SeqCst);
        Arc::new(broker)
    }

    /// A broker that is [`Unavailable`] for its first `calls` sends (after their delay).
    pub(super) fn unavailable(calls: usize) -> Arc<Self> {
        let broker = Self {
            unavailable: true,
            ..Self::default()
        };
        broker.failures.store(calls, Ordering::SeqCst);
        Arc::new(broker)
    }

    /// A sender to this broker taking `delay` per send; `None` never finishes.
    pub(super) fn sender(self: &Arc<Self>, delay: Option<Duration>) -> Arc<dyn Sender> {
        Arc::new(Slow {
            broker: Arc::clone(self),
            delay,
        })
    }

    fn started(&self) -> usize {
        self.started.load(Ordering::SeqCst)
    }

    /// Sends dropped before they finished.
    pub(super) fn dropped(&self) -> usize {
        self.dropped.load(Ordering::SeqCst)
    }

    fn taken(&self) -> Vec<i64> {
        self.taken.lock().expect("not poisoned").clone()
    }

    /// Waits until every sequence of `expected` was taken (a hang guard, not a timing).
    pub(super) async fn wait_for(&self, expected: &[i64]) {
        for _ in 0..2400 {
            let taken = self.taken();
            if expected.iter().all(|s| taken.contains(s)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("not every event was delivered: {:?}", self.taken());
    }

    /// Waits until `sends` sends started.
    pub(super) async fn wait_until_started(&self, sends: usize) {
        for _ in 0..2400 {
            if self.started() >= sends {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no send started");
    }

    /// Every event of `expected` at least once, and each first taken after every
    /// earlier one, and nothing else.
    pub(super) fn assert_in_order(&self, expected: &[i64]) {
        let mut first_takes = Vec::new();
        for sequence in self.taken() {
            if !first_takes.contains(&sequence) {
                first_takes.push(sequence);
            }
        }
        assert_eq!(first_takes, expected, "out of order");
    }

    /// Never were two sends in flight at once.
    pub(super) fn assert_one_in_flight(&self) {
        assert_eq!(
            self.most_in_flight.load(Ordering::SeqCst),
            1,
            "two relays of one name were sending at once: {:?}",
            self.taken()
        );
    }
}

/// One in-flight send, counted out however it ends (dropped included).
struct InFlight<'a> {
    broker: &'a Broker,
    finished: bool,
}

impl<'a> InFlight<'a> {
    fn start(broker: &'a Broker) -> Self {
        let now = broker.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        broker.most_in_flight.fetch_max(now, Ordering::SeqCst);
        broker.started.fetch_add(1, Ordering::SeqCst);
        Self {
            broker,
            finished: false,
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.broker.in_flight.fetch_sub(1, Ordering::SeqCst);
        if !self.finished {
            self.broker.dropped.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// A sender to the shared broker taking `delay` per send; `None` never finishes.
struct Slow {
    broker: Arc<Broker>,
    delay: Option<Duration>,
}

#[async_trait]
impl Sender for Slow {
    async fn send(&self, events: &[StoredEvent]) -> Result<(), SendError> {
        let mut in_flight = InFlight::start(&self.broker);
        match self.delay {
            Some(delay) => tokio::time::sleep(delay).await,
            None => std::future::pending().await,
        }
        in_flight.finished = true;
        let failures = &self.broker.failures;
        if failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(if self.broker.unavailable {
                Unavailable::new("broker down").into()
            } else {
                "broker unavailable".into()
            });
        }
        let mut taken = self.broker.taken.lock().expect("not poisoned");
        taken.extend(events.iter().map(StoredEvent::sequence));
        Ok(())
    }
}
