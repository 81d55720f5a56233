//! Any valid event is read back from SQLite exactly as it was appended.

use eventstore_core::{AppendOptions, EventStore, OnDuplicate};
use eventstore_sqlite::SqliteEventStore;
use eventstore_testkit::arb;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_event_round_trips_through_the_store(events in proptest::collection::vec(arb::event(), 1..8)) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            let store = SqliteEventStore::open_in_memory().await.unwrap();
            let skip = AppendOptions::new().on_duplicate(OnDuplicate::Skip);
            let result = store.append_with(events.clone(), skip).await.unwrap();
            for appended in &result.appended {
                let event = &events[appended.index];
                let stored = store.get(event.source(), event.id()).await.unwrap().unwrap();
                prop_assert_eq!(stored.event(), event);
                prop_assert_eq!(stored.sequence(), appended.sequence);
            }
            Ok(())
        })?;
    }
}
