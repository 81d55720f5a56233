//! The append workloads on PostgreSQL: the store, the plain statement on the same
//! schema, and the plain statement on the seed's schema, each round in a fresh table.

use std::sync::Arc;
use std::time::Instant;

use eventstore_core::{Event, EventStore as _};
use tokio::runtime::Runtime;
use tokio::sync::Barrier;

use super::db::Db;
use super::raw::{self, Columns};
use crate::dataset::Dataset;
use crate::measure::Throughput;
use crate::workload::{AppendResult, AppendShape, append_concurrently, best_of, split};

/// The store against the plain statement on the same schema (`seed`: on the seed's).
pub(crate) fn run(
    rt: &Runtime,
    db: &Db,
    dataset: Dataset,
    shape: AppendShape,
    rounds: u32,
    seed: bool,
) -> AppendResult {
    best_of(
        rounds,
        || store_round(rt, db, dataset, shape, true),
        || raw_round(rt, db, dataset, shape, seed),
    )
}

/// What the extensions' GIN index costs appends: the store with it (as `store`) against
/// the store without it (as `raw`), the same events into fresh tables.
pub(crate) fn gin_cost(
    rt: &Runtime,
    db: &Db,
    dataset: Dataset,
    shape: AppendShape,
    rounds: u32,
) -> AppendResult {
    best_of(
        rounds,
        || store_round(rt, db, dataset, shape, true),
        || store_round(rt, db, dataset, shape, false),
    )
}

/// One round through the store (`gin`: with the extensions' GIN index): every writer a
/// task appending its batches in turn.
fn store_round(
    rt: &Runtime,
    db: &Db,
    dataset: Dataset,
    shape: AppendShape,
    gin: bool,
) -> Throughput {
    let table = db.fresh_table("store");
    let events = shape.total();
    let plan: Vec<Vec<Vec<Event>>> = split(dataset.events(0..events), shape);
    let elapsed = rt.block_on(async {
        let store = db.store_with_gin(&table, gin).await;
        let elapsed = append_concurrently(&store, plan).await;
        store.close().await.expect("the store closes");
        db.drop_table(&table).await;
        elapsed
    });
    Throughput { events, elapsed }
}

/// One round through plain statements: every writer a task with a connection of its
/// own, all released at once.
fn raw_round(
    rt: &Runtime,
    db: &Db,
    dataset: Dataset,
    shape: AppendShape,
    seed: bool,
) -> Throughput {
    let table = db.fresh_table(if seed { "seed" } else { "raw" });
    let events = shape.total();
    let plan: Vec<Vec<Columns>> = split(dataset.events(0..events), shape)
        .into_iter()
        .map(|batches| batches.iter().map(|b| Columns::new(b)).collect())
        .collect();
    let elapsed = rt.block_on(async {
        let store = db.store(&table).await;
        store.close().await.expect("the store closes");
        if seed {
            db.seed_schema(&table).await;
        }
        let sql = raw::append_sql(&db.qualified(&table));
        let start_line = Arc::new(Barrier::new(shape.writers + 1));
        let writers: Vec<_> = plan
            .into_iter()
            .map(|batches| {
                let (url, sql, start_line) = (db.url.clone(), sql.clone(), start_line.clone());
                tokio::spawn(async move {
                    let client = raw::connect(&url).await;
                    let statement = client.prepare(&sql).await.expect("the baseline prepares");
                    start_line.wait().await;
                    for batch in &batches {
                        let sequences = raw::append(&client, &statement, batch).await;
                        assert_eq!(sequences.len(), batch.len());
                    }
                })
            })
            .collect();
        start_line.wait().await;
        let start = Instant::now();
        for writer in writers {
            writer.await.expect("a writer task finishes");
        }
        let elapsed = start.elapsed();
        db.drop_table(&table).await;
        elapsed
    });
    Throughput { events, elapsed }
}
