//! The backend-agnostic conformance suite, on SQLite database files.

use eventstore_sqlite::SqliteEventStore;
use eventstore_testkit::Fixture;

async fn fresh() -> Fixture {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = SqliteEventStore::open(dir.path().join("events.db"))
        .await
        .expect("store opens");
    Fixture::new(store).keep(dir)
}

eventstore_testkit::conformance_suite!(fresh);

mod in_memory {
    use super::*;

    async fn fresh() -> Fixture {
        Fixture::new(
            SqliteEventStore::open_in_memory()
                .await
                .expect("store opens"),
        )
    }

    eventstore_testkit::conformance_suite!(fresh);
}

mod memory_mapped {
    use super::*;
    use eventstore_sqlite::SqliteOptions;

    /// The same behaviour when reads go through a memory map of the file.
    async fn fresh() -> Fixture {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = SqliteOptions::file(dir.path().join("events.db"))
            .mmap_size(64 << 20)
            .open()
            .await
            .expect("store opens");
        Fixture::new(store).keep(dir)
    }

    eventstore_testkit::conformance_suite!(fresh);
}
