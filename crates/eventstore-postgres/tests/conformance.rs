//! The backend-agnostic conformance suite, each test in a schema of its own.

mod common;

use eventstore_testkit::Fixture;

async fn fresh() -> Fixture {
    let schema = common::Schema::new("conf");
    let store = schema.open().await;
    Fixture::new(store).keep(schema)
}

eventstore_testkit::conformance_suite!(fresh);
