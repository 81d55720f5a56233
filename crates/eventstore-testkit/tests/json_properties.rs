//! Properties of the CloudEvents JSON format over generated events.

use eventstore_testkit::arb;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    /// Writing any valid event and parsing it back (with its extension types declared)
    /// gives the same event.
    #[test]
    fn any_event_round_trips_through_json(event in arb::event()) {
        let format = arb::format_for(&event);
        let text = format.write_event(&event);
        prop_assert_eq!(format.parse_event(&text).unwrap(), event);
    }

    /// The same holds for batches.
    #[test]
    fn any_batch_round_trips_through_json(events in proptest::collection::vec(arb::event(), 0..6)) {
        let format = events.iter().fold(eventstore_core::JsonFormat::new(), |f, e| {
            e.extensions().iter().fold(f, |f, (n, v)| f.with_extension_type(n.clone(), v.kind()))
        });
        let text = format.write_batch(&events);
        prop_assert_eq!(format.parse_batch(&text).unwrap(), events);
    }
}
