//! The baseline of the relay drain filtered on one type on SQLite: a relay by hand
//! paging through the type's events with the store's statement for that query.

use std::hint::black_box;
use std::time::Instant;

use eventstore_sqlite::SqliteDialect;

use crate::follow::filtered_page_sql;
use crate::measure::Throughput;
use crate::sqlite::raw::{self, RawRow, Reader};
use crate::sqlite::readset::ReadSet;

/// The checkpoint the hand-written filtered relay saves, apart from the unfiltered
/// one's (`raw-relay`) and from the store's relays (`relay/<name>`).
const CHECKPOINT: &str = "raw-relay-filtered";

/// The filtered relay drain by hand: pages of `batch` events of type `ty`, read with the
/// store's query builder's statement ([`filtered_page_sql`], prepared once and cached
/// on the connection), every column read into owned values; each page handed to a
/// no-op sender and then its last sequence saved with the store's checkpoint statement
/// on a second connection, before the next page is read.
pub(crate) fn raw_filtered_relay(set: &ReadSet, ty: &str, batch: usize) -> Throughput {
    let sql = filtered_page_sql(&SqliteDialect, &raw::table(), raw::COLUMNS, ty, batch);
    let reader = Reader::new(raw::open(&set.path).expect("the baseline opens"));
    let saver = raw::open(&set.path).expect("the baseline opens");
    let mut pending = Vec::with_capacity(batch);
    let start = Instant::now();
    let (mut after, mut count) = (0i64, 0u64);
    loop {
        reader.run(&sql, rusqlite::params![ty, after, batch as i64], |row| {
            pending.push(row);
        });
        let Some(last) = black_box(&pending).last().map(RawRow::sequence) else {
            break;
        };
        let full = pending.len() == batch;
        count += pending.len() as u64;
        pending.clear();
        raw::save_checkpoint(&saver, CHECKPOINT, last).expect("the baseline saves");
        if !full {
            break;
        }
        after = last;
    }
    Throughput {
        events: count,
        elapsed: start.elapsed(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use eventstore_core::EventStore as _;
    use eventstore_sqlite::SqliteEventStore;

    use super::*;
    use crate::dataset::Dataset;
    use crate::sqlite::scratch::Scratch;

    #[test]
    fn the_hand_relay_relays_every_event_of_the_type_and_checkpoints_the_last() {
        let scratch = Scratch::new().unwrap();
        let path = scratch.file("filtered");
        let dataset = Dataset::new(3);
        let events = dataset.events(0..2_500);
        let ty = Dataset::types().nth(7).unwrap();
        let sequences: Vec<i64> = (1..=2_500)
            .zip(&events)
            .filter(|(_, e)| e.ty() == ty)
            .map(|(sequence, _)| sequence)
            .collect();
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let store = SqliteEventStore::open(&path).await.unwrap();
            store.append(events).await.unwrap();
            store.close().await.unwrap();
        });
        let set = ReadSet {
            path: path.clone(),
            dataset,
            events: 2_500,
            load: Throughput {
                events: 0,
                elapsed: Duration::ZERO,
            },
        };
        // Pages of 30: several full ones, then a short one.
        assert_ne!(sequences.len() % 30, 0);
        let relayed = raw_filtered_relay(&set, ty, 30);
        assert_eq!(relayed.events, sequences.len() as u64);
        let saved: i64 = raw::open(&path)
            .unwrap()
            .query_row(
                "SELECT position FROM \"events$checkpoints\" WHERE name = ?1",
                [CHECKPOINT],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(Some(&saved), sequences.last());
    }
}
