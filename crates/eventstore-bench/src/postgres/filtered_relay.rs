//! The baseline of the relay drain filtered on one type on PostgreSQL: a relay by hand
//! paging through the type's events with the store's statement for that query, prepared
//! once, as a hand-written relay would.

use std::hint::black_box;
use std::time::Instant;

use eventstore_postgres::PostgresDialect;

use super::raw;
use super::reads::ReadSet;
use crate::follow::filtered_page_sql;
use crate::measure::Throughput;

/// The checkpoint the hand-written filtered relay saves, apart from the unfiltered
/// one's (`raw-relay`) and from the store's relays (`relay/<name>`).
const CHECKPOINT: &str = "raw-relay-filtered";

impl ReadSet<'_> {
    /// The filtered relay drain by hand: pages of `batch` events of type `ty`, read with
    /// the store's query builder's statement ([`filtered_page_sql`]) prepared once on
    /// the baseline's connection, every column decoded; each page handed to a no-op
    /// sender and then its last sequence saved with the store's checkpoint statement on
    /// a second connection, before the next page is read.
    pub(crate) fn raw_filtered_relay(&self, ty: &str, batch: usize) -> Throughput {
        let sql = filtered_page_sql(&PostgresDialect, &self.table_name, raw::SELECT, ty, batch);
        self.rt.block_on(async {
            let page = self
                .client
                .prepare(&sql)
                .await
                .expect("baseline SQL is valid");
            let save = self.prepare_save().await;
            let limit = batch as i64;
            let start = Instant::now();
            let (mut after, mut count) = (0i64, 0u64);
            loop {
                let rows = self
                    .client
                    .query(&page, &[&ty, &after, &limit])
                    .await
                    .expect("the baseline reads");
                let decoded: Vec<raw::RawRow> = rows.iter().map(raw::decode).collect();
                drop(rows);
                let Some(last) = black_box(&decoded).last().map(|r| r.sequence) else {
                    break;
                };
                count += decoded.len() as u64;
                let full = decoded.len() == batch;
                drop(decoded);
                self.saver
                    .execute(&save, &[&CHECKPOINT, &last])
                    .await
                    .expect("the baseline saves its checkpoint");
                if !full {
                    break;
                }
                after = last;
            }
            Throughput {
                events: count,
                elapsed: start.elapsed(),
            }
        })
    }
}
