//! Batched appends on a loaded table: the store appending to the read set's table
//! against the plain statement appending to a copy of it on the seed's schema. Where the
//! seed's single-column indexes cost most is a loaded table: a subject's current version
//! is found through its `subject` index by visiting every event of the subject, where the
//! store's `(subject, stream_version)` index reads one entry.

use std::time::Instant;

use eventstore_core::EventStore as _;
use tokio::runtime::Runtime;

use super::db::Db;
use super::raw::{self, Columns};
use super::reads::ReadSet;
use crate::measure::Throughput;
use crate::sizes::Sizes;
use crate::workload::{AppendResult, best_of};

/// Data set indexes of the events appended here: apart from every other workload's.
const APPEND_BASE: u64 = 700_000_000;

/// Copies the read set into a table on the seed's schema, then runs rounds of 100-event
/// appends from one writer on each side.
pub(crate) fn run(rt: &Runtime, db: &Db, set: &ReadSet<'_>, sizes: &Sizes) -> AppendResult {
    let table = db.fresh_table("seeded");
    let qualified = db.qualified(&table);
    rt.block_on(async {
        let sql = format!(
            "CREATE TABLE {qualified} (LIKE {} INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
             INSERT INTO {qualified} SELECT * FROM {};
             ALTER TABLE {qualified} ADD PRIMARY KEY (sequence);
             ALTER TABLE {qualified} ADD CONSTRAINT {table}_source_id UNIQUE (source, id);",
            set.table, set.table
        );
        set.client
            .batch_execute(&sql)
            .await
            .expect("the seed copy is made");
        for index in crate::seed::indexes(&qualified, &format!("{table}_")) {
            set.client
                .batch_execute(&index)
                .await
                .expect("a seed index is created");
        }
        set.client
            .batch_execute(&format!("VACUUM ANALYZE {qualified}"))
            .await
            .expect("the copy is analyzed");
    });
    // A twentieth of the other batched workloads: on the seed's schema each batch
    // visits every stored event of its ~100 subjects.
    let events = (sizes.batched().total() / 20).max(100) / 100 * 100;
    // Each round appends events of its own: (source, id) is unique.
    let rounds = std::cell::Cell::new(0u64);
    let next_base = || {
        rounds.set(rounds.get() + 1);
        APPEND_BASE + rounds.get() * 10_000_000
    };
    let result = best_of(
        sizes.rounds,
        || {
            let base = next_base();
            rt.block_on(async {
                let start = Instant::now();
                for first in (base..base + events).step_by(100) {
                    let batch = (first..first + 100).map(|i| set.dataset.event(i)).collect();
                    set.store.append(batch).await.expect("the store appends");
                }
                Throughput {
                    events,
                    elapsed: start.elapsed(),
                }
            })
        },
        || {
            let base = next_base();
            let batches: Vec<Columns> = (base..base + events)
                .step_by(100)
                .map(|first| {
                    let batch: Vec<_> =
                        (first..first + 100).map(|i| set.dataset.event(i)).collect();
                    Columns::new(&batch)
                })
                .collect();
            rt.block_on(async {
                let statement = set
                    .client
                    .prepare(&raw::append_sql(&qualified))
                    .await
                    .expect("the baseline prepares");
                let start = Instant::now();
                for batch in &batches {
                    raw::append(&set.client, &statement, batch).await;
                }
                Throughput {
                    events,
                    elapsed: start.elapsed(),
                }
            })
        },
    );
    rt.block_on(db.drop_table(&table));
    result
}
