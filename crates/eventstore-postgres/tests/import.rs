//! Bulk import (binary `COPY`): the backend-agnostic import tests, each in a schema of
//! its own.

mod common;

use eventstore_testkit::Fixture;
use eventstore_testkit::import::{Importer, importer};

async fn fresh() -> (Fixture, Importer) {
    let schema = common::Schema::new("imp");
    let store = schema.open().await;
    let import = importer(store.clone(), |store, events| {
        Box::pin(async move { store.import(events).await })
    });
    (Fixture::new(store).keep(schema), import)
}

eventstore_testkit::import_suite!(fresh);
