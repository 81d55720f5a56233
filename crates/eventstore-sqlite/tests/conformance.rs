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

mod small_pages {
    use super::*;
    use eventstore_sqlite::SqliteOptions;

    /// Reads in pages of 3 rows, so that every read crosses page boundaries at its
    /// limit, its offset and its keyset position.
    async fn fresh() -> Fixture {
        let store = SqliteOptions::in_memory()
            .page_size(3)
            .expect("a valid page size")
            .open()
            .await
            .expect("store opens");
        Fixture::new(store)
    }

    eventstore_testkit::paging_suite!(fresh);
}
