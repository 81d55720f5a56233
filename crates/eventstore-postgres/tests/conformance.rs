//! The backend-agnostic conformance suite, each test in a schema of its own.

mod common;

use eventstore_testkit::Fixture;

async fn fresh() -> Fixture {
    let schema = common::Schema::new("conf");
    let store = schema.open().await;
    Fixture::new(store).keep(schema)
}

eventstore_testkit::conformance_suite!(fresh);

mod small_pages {
    use super::*;

    /// Reads bounded by the caller's horizon (`EventQuery::within_horizon`), which a
    /// PostgreSQL store pages, in pages of 3 rows, so that they cross page boundaries
    /// at their limit, their offset and their keyset position.
    async fn fresh() -> Fixture {
        let schema = common::Schema::new("pages");
        let store = schema
            .options()
            .page_size(3)
            .expect("a valid page size")
            .open()
            .await
            .expect("store opens");
        Fixture::new(store).keep(schema)
    }

    eventstore_testkit::paging_suite!(fresh);
}
