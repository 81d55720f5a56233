//! The synthetic data set: realistic CloudEvents, each a pure function of its index, so
//! that any event (and any lookup key) can be regenerated without storing the set.

use eventstore_core::time::{Duration, OffsetDateTime, macros::datetime};
use eventstore_core::{Data, Event, Json};

use crate::rng::{Rng, mix};

/// How many subjects (streams) the events are spread over.
pub(crate) const SUBJECTS: u64 = 1_000;

/// Event `i`'s subject is one of the subjects whose number is `i` modulo `OWNERS`: events
/// dealt out round-robin to that many writers (or to any divisor of it) fall, for each
/// writer, on subjects no other writer appends to.
const OWNERS: u64 = crate::sizes::WRITERS as u64;

/// Mean spacing of event times: 1M events span a little under three hours.
const SPACING_MS: i64 = 10;

/// The first event's time.
const START: OffsetDateTime = datetime!(2026-01-01 00:00:00 UTC);

/// One business domain: its subjects, its source and its five event types (four kinds,
/// so twenty types in all).
struct Kind {
    /// Prefix of the subjects of this kind, and of the id in the payload.
    name: &'static str,
    /// The `source` of every event of this kind.
    source: &'static str,
    /// The `topic` extension that some events of this kind carry.
    topic: &'static str,
    /// The event types of this kind.
    types: [&'static str; 5],
}

/// The four domains.
const KINDS: [Kind; 4] = [
    Kind {
        name: "order",
        source: "/shop/orders",
        topic: "orders.v1",
        types: [
            "com.example.order.created",
            "com.example.order.updated",
            "com.example.order.paid",
            "com.example.order.shipped",
            "com.example.order.cancelled",
        ],
    },
    Kind {
        name: "payment",
        source: "/shop/payments",
        topic: "payments.v1",
        types: [
            "com.example.payment.authorized",
            "com.example.payment.captured",
            "com.example.payment.refunded",
            "com.example.payment.failed",
            "com.example.payment.disputed",
        ],
    },
    Kind {
        name: "shipment",
        source: "https://logistics.example.com/shipments",
        topic: "shipments.v1",
        types: [
            "com.example.shipment.created",
            "com.example.shipment.picked",
            "com.example.shipment.dispatched",
            "com.example.shipment.delivered",
            "com.example.shipment.returned",
        ],
    },
    Kind {
        name: "customer",
        source: "/crm/customers",
        topic: "customers.v1",
        types: [
            "com.example.customer.registered",
            "com.example.customer.updated",
            "com.example.customer.verified",
            "com.example.customer.upgraded",
            "com.example.customer.closed",
        ],
    },
];

/// Words for the free-text part of a payload.
const NOTES: [&str; 6] = [
    "leave at the front door",
    "gift wrap, no invoice in the parcel",
    "call before delivery",
    "fragile: handle with care",
    "deliver between 9 and 12",
    "customer requested express handling",
];

/// The data set, fixed by its seed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dataset {
    /// Different seeds give different events for the same index.
    seed: u64,
}

impl Dataset {
    /// The data set of this seed.
    pub(crate) fn new(seed: u64) -> Self {
        Self { seed }
    }

    /// The generator for event `index`'s attributes.
    fn rng(&self, index: u64) -> Rng {
        Rng::new(mix(index ^ self.seed))
    }

    /// All event types, in a fixed order.
    pub(crate) fn types() -> impl Iterator<Item = &'static str> {
        KINDS.iter().flat_map(|k| k.types)
    }

    /// The subject of the `k`-th stream (`k` < [`SUBJECTS`]).
    pub(crate) fn subject(k: u64) -> String {
        format!("{}-{k:06}", KINDS[(k % 4) as usize].name)
    }

    /// The time of event `index` without its jitter: event times grow with the index.
    pub(crate) fn base_time(index: u64) -> OffsetDateTime {
        START + Duration::milliseconds(index as i64 * SPACING_MS)
    }

    /// Where a "since" query starts among `events` events: at a random one of the last
    /// hundredth of them, but at least 200 before the last, so that every such query
    /// finds its hundred.
    pub(crate) fn since_start(events: u64, rng: &mut Rng) -> OffsetDateTime {
        let back = rng.below((events / 100).max(1));
        Self::base_time(events.saturating_sub(200 + back))
    }

    /// The events with indexes in `range`.
    pub(crate) fn events(&self, range: std::ops::Range<u64>) -> Vec<Event> {
        range.map(|i| self.event(i)).collect()
    }

    /// Event `index`: about 300 bytes of JSON data, one of [`SUBJECTS`] subjects (one
    /// whose number is `index` modulo [`OWNERS`]), one of twenty types, a correlation id
    /// shared by four consecutive events, a time, and on some events a schema, a topic
    /// and the extensions `traceparent` and `priority`.
    pub(crate) fn event(&self, index: u64) -> Event {
        let mut rng = self.rng(index);
        let k = rng.below(SUBJECTS / OWNERS) * OWNERS + index % OWNERS;
        let kind = &KINDS[(k % 4) as usize];
        let ty = kind.types[rng.below(5) as usize];
        let unique = mix(index.wrapping_add(self.seed));
        let random = rng.next_u64();
        let id = format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            unique >> 32,
            (unique >> 16) & 0xffff,
            unique & 0xfff,
            (random >> 48) | 0x8000,
            random & 0xffff_ffff_ffff,
        );
        let jitter = Duration::nanoseconds(rng.below(5_000_000) as i64);
        let mut builder = Event::builder()
            .id(id)
            .source(kind.source)
            .ty(ty)
            .subject(Self::subject(k))
            .time(Self::base_time(index) + jitter)
            .correlationid(format!("corr-{:016x}", mix((index / 4) ^ self.seed)))
            .datacontenttype("application/json")
            .data(Data::Json(payload(kind, k, &mut rng)));
        if rng.percent(25) {
            builder = builder.dataschema(format!("https://schemas.example.com/{ty}/v1.json"));
        }
        if rng.percent(20) {
            builder = builder.topic(kind.topic);
        }
        if rng.percent(30) {
            let trace = format!(
                "00-{:016x}{:016x}-{:016x}-01",
                rng.next_u64(),
                rng.next_u64(),
                rng.next_u64()
            );
            builder = builder.extension("traceparent", trace);
        }
        if rng.percent(10) {
            builder = builder.extension("priority", rng.below(10) as i32);
        }
        builder.build().expect("generated events are valid")
    }
}

/// A JSON document of about 300 bytes, shaped like an order line.
fn payload(kind: &Kind, k: u64, rng: &mut Rng) -> Json {
    let customer = rng.below(100_000);
    let cents = |rng: &mut Rng| rng.below(20_000) as f64 / 100.0;
    let (q1, p1, q2, p2) = (rng.below(5) + 1, cents(rng), rng.below(3) + 1, cents(rng));
    let total = q1 as f64 * p1 + q2 as f64 * p2;
    let text = format!(
        "{{\"{name}Id\":\"{name}-{k:06}\",\"customer\":{{\"id\":\"cus-{customer:06}\",\
         \"name\":\"Customer {customer}\",\"email\":\"customer{customer}@example.com\"}},\
         \"items\":[{{\"sku\":\"SKU-{s1:05}\",\"quantity\":{q1},\"unitPrice\":{p1:.2}}},\
         {{\"sku\":\"SKU-{s2:05}\",\"quantity\":{q2},\"unitPrice\":{p2:.2}}}],\
         \"total\":{total:.2},\"currency\":\"EUR\",\"channel\":\"{channel}\",\
         \"note\":\"{note}\"}}",
        name = kind.name,
        s1 = rng.below(100_000),
        s2 = rng.below(100_000),
        channel = ["web", "mobile", "store"][rng.below(3) as usize],
        note = NOTES[rng.below(NOTES.len() as u64) as usize],
    );
    Json::from_string(text).expect("generated payloads are JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_deterministic_unique_and_about_300_bytes_of_data() {
        let set = Dataset::new(7);
        assert_eq!(set.event(42), set.event(42));
        let events = set.events(0..2_000);
        let ids: std::collections::HashSet<_> = events.iter().map(|e| e.id()).collect();
        assert_eq!(ids.len(), events.len());
        let mean = events
            .iter()
            .map(|e| e.data().map_or(0, Data::len))
            .sum::<usize>()
            / events.len();
        assert!((250..=350).contains(&mean), "mean data size {mean}");
        assert!(events.iter().any(|e| !e.extensions().is_empty()));
        assert!(
            events
                .iter()
                .all(|e| e.time().is_some() && e.correlationid().is_some())
        );
        assert_eq!(Dataset::types().count(), 20);
    }
}
