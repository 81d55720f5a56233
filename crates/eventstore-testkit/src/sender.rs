//! A [`Sender`] for tests: records what it receives, and can fail, report its
//! destination unavailable, refuse an event or hang on cue.

use std::ops::RangeInclusive;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use eventstore_core::{SendError, Sender, StoredEvent, Unavailable};

/// Records every batch it accepts.
#[derive(Debug, Default)]
pub struct Recorder {
    received: Mutex<Vec<StoredEvent>>,
    /// The size of each batch accepted, in order.
    batches: Mutex<Vec<usize>>,
    calls: AtomicU32,
    fail_first: u32,
    refuse_id: Option<String>,
    hang_on_call: Option<u32>,
    unavailable_calls: Option<RangeInclusive<u32>>,
}

impl Recorder {
    /// Fails its first `n` calls, then accepts.
    pub fn failing_first(n: u32) -> Self {
        Self {
            fail_first: n,
            ..Self::default()
        }
    }

    /// Refuses, forever, any batch holding the event with this id, with an error quoting
    /// a broker's raw reply that holds U+0000 (which the dead letter must still keep).
    pub fn refusing(id: impl Into<String>) -> Self {
        Self {
            refuse_id: Some(id.into()),
            ..Self::default()
        }
    }

    /// On call `call` (1-based) records the batch and then never returns, like a process
    /// that dies before acknowledging.
    pub fn hanging_on(call: u32) -> Self {
        Self {
            hang_on_call: Some(call),
            ..Self::default()
        }
    }

    /// Fails the calls of `calls` (1-based) with [`Unavailable`], whatever they hold;
    /// other calls behave as before. `1..=u32::MAX` is a destination down for good.
    #[must_use]
    pub fn unavailable_on(self, calls: RangeInclusive<u32>) -> Self {
        Self {
            unavailable_calls: Some(calls),
            ..self
        }
    }

    /// How many times `send` was called.
    pub fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }

    /// Waits until `send` was called at least `n` times; panics after 60 s (a hang
    /// guard, not a timing).
    pub async fn wait_for_calls(&self, n: u32) {
        for _ in 0..2400 {
            if self.calls() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("only {} of {n} sends", self.calls());
    }

    /// The ids received, in order.
    pub fn ids(&self) -> Vec<String> {
        self.received
            .lock()
            .expect("not poisoned")
            .iter()
            .map(|e| e.id().to_owned())
            .collect()
    }

    /// The sequences received, in order.
    pub fn sequences(&self) -> Vec<i64> {
        self.received
            .lock()
            .expect("not poisoned")
            .iter()
            .map(StoredEvent::sequence)
            .collect()
    }

    /// The size of each batch accepted, in order.
    pub fn batch_sizes(&self) -> Vec<usize> {
        self.batches.lock().expect("not poisoned").clone()
    }

    /// Waits until at least `n` events were received; panics after 10 s.
    pub async fn wait_for(&self, n: usize) {
        for _ in 0..400 {
            if self.received.lock().expect("not poisoned").len() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "only {} of {n} events delivered",
            self.received.lock().expect("not poisoned").len()
        );
    }
}

#[async_trait]
impl Sender for Recorder {
    async fn send(&self, events: &[StoredEvent]) -> Result<(), SendError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if self
            .unavailable_calls
            .as_ref()
            .is_some_and(|calls| calls.contains(&call))
        {
            return Err(Unavailable::new(format!("broker down (call {call})")).into());
        }
        if call <= self.fail_first {
            return Err(format!("broker unavailable (call {call})").into());
        }
        if let Some(id) = self
            .refuse_id
            .as_ref()
            .filter(|id| events.iter().any(|e| e.id() == *id))
        {
            return Err(format!("{id} is malformed for the broker (reply: \"\0\u{1}\")").into());
        }
        self.received
            .lock()
            .expect("not poisoned")
            .extend_from_slice(events);
        self.batches
            .lock()
            .expect("not poisoned")
            .push(events.len());
        if self.hang_on_call == Some(call) {
            std::future::pending::<()>().await;
        }
        Ok(())
    }
}
