//! Events the suite appends.

use eventstore_core::time::{Duration, OffsetDateTime};
use eventstore_core::{Event, EventQuery, EventStore, StoredEvent};
use futures::TryStreamExt as _;

/// A minimal valid event: `id`, `source` `/testkit`, `type` `test.event`.
pub fn event(id: impl Into<String>) -> Event {
    Event::builder()
        .id(id)
        .source("/testkit")
        .ty("test.event")
        .build()
        .expect("valid event")
}

/// An order's creation event: id `<order>-created`, source `/shop`, type
/// `order.created`, subject `<order>`.
pub fn order_created(order: &str) -> Event {
    Event::builder()
        .id(format!("{order}-created"))
        .source("/shop")
        .ty("order.created")
        .subject(order.to_owned())
        .build()
        .expect("valid event")
}

/// A minimal valid event about `subject`.
pub fn on_subject(id: impl Into<String>, subject: &str) -> Event {
    event(id)
        .into_builder()
        .subject(subject)
        .build()
        .expect("valid event")
}

/// An instant with nanoseconds: 2024-05-06T07:08:09.123456789Z plus `offset_ns`.
pub fn instant(offset_ns: i64) -> OffsetDateTime {
    let base = OffsetDateTime::from_unix_timestamp_nanos(1_714_979_289_123_456_789)
        .expect("valid instant");
    base + Duration::nanoseconds(offset_ns)
}

/// Every event in the store, in sequence order.
pub async fn all(store: &dyn EventStore) -> Vec<StoredEvent> {
    store
        .query(EventQuery::new())
        .try_collect()
        .await
        .expect("query succeeds")
}

/// How many events the store holds.
pub async fn count(store: &dyn EventStore) -> usize {
    all(store).await.len()
}

/// A small xorshift generator for tests that need variety, not quality.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// `len` bytes of ASCII letters and digits that do not repeat in any short pattern, so
/// that no compression shortens them (PostgreSQL compresses long index entries).
pub fn unrepeated_text(len: usize) -> impl Iterator<Item = char> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ len as u64);
    (0..len).map(move |_| char::from(ALPHABET[rng.below(ALPHABET.len() as u64) as usize]))
}
