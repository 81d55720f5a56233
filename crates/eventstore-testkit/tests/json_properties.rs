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
        // One format reads the whole batch, so an extension must have one type in it.
        let mut declared = std::collections::HashMap::new();
        for (name, value) in events.iter().flat_map(|e| e.extensions()) {
            prop_assume!(*declared.entry(name.clone()).or_insert(value.kind()) == value.kind());
        }
        let format = declared
            .into_iter()
            .fold(eventstore_core::JsonFormat::new(), |f, (name, ty)| f.with_extension_type(name, ty));
        let text = format.write_batch(&events);
        prop_assert_eq!(format.parse_batch(&text).unwrap(), events);
    }
}
