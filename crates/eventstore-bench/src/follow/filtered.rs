//! The relay drain filtered on one type: the store's [`OutboxRelay`] with
//! `.filter(EventQuery::new().ty(..))` draining the read set (about a twentieth of its
//! events), against a relay by hand reading the same events page by page with the
//! statement the store's query builder makes for that query ([`page_sql`]).
//!
//! What it measures is a follower's per-page cost on a filtered read: on PostgreSQL
//! such a read is planned with its values (`planned_with_values` in
//! crates/eventstore-postgres/src/read.rs), so each page pays for a `BEGIN READ ONLY;
//! SET LOCAL …; COMMIT` around it and a fresh plan, where the hand relay runs one
//! prepared statement.
//!
//! [`OutboxRelay`]: eventstore_outbox::OutboxRelay

use std::sync::Arc;

use eventstore_core::sql::{Dialect, SqlValue, TableName, select_events};
use eventstore_core::{EventQuery, EventStore};
use futures::TryStreamExt as _;
use serde_json::json;
use tokio::runtime::Runtime;

use super::{Followed, RELAY_BATCH, Relay, rates};
use crate::dataset::Dataset;
use crate::figures::peak_rss;
use crate::memory::{self, Peaks};
use crate::report::Figure;

/// The type the relay is filtered on: the data set's first, one of its twenty.
fn relayed_type() -> &'static str {
    Dataset::types().next().expect("the data set has types")
}

/// The filtered relay of `round`: a name of its own, apart from the unfiltered drain's
/// (`bench-<round>`), so that each round starts from an empty checkpoint.
fn relay_name(round: u32) -> String {
    format!("bench-filtered-{round}")
}

/// The statement of one page of the filtered relay by hand: the store's query builder's
/// for `EventQuery::new().ty(ty).after(..)` in pages of `batch` rows (`type = $1 AND
/// sequence > $2 ORDER BY sequence ASC LIMIT $3` in PostgreSQL's spelling), selecting
/// the baseline's own `columns` (the same columns, read as the baseline reads them) in
/// place of the dialect's. Its parameters are the type, the sequence the page starts
/// after and the page's size, in that order; it panics if the builder's statement no
/// longer has that shape, which the harness must then follow.
pub(crate) fn page_sql(
    dialect: &dyn Dialect,
    table: &TableName,
    columns: &str,
    ty: &str,
    batch: usize,
) -> String {
    let query = EventQuery::new().ty(ty).after(0);
    let sql = select_events(dialect, table, &query, Some(batch as u64))
        .expect("a type filter is a valid query");
    assert!(
        matches!(
            sql.params.as_slice(),
            [SqlValue::Text(t), SqlValue::Int(0), SqlValue::Int(n)] if t == ty && *n == batch as i64
        ),
        "the builder's parameters are no longer (type, after, limit): {:?}",
        sql.params
    );
    let from = format!(" FROM {}", table.quoted());
    let selected = format!("SELECT {}{from}", dialect.event_columns());
    let rest = sql
        .text
        .strip_prefix(&selected)
        .unwrap_or_else(|| panic!("the builder's statement changed shape: {}", sql.text));
    format!("SELECT {columns}{from}{rest}")
}

/// Drains the events of one type `rounds` times through the store's relay and through
/// the relay by hand, alternating which goes first, each side's best round kept: the
/// rate and peak memory figures.
pub(super) fn run(rt: &Runtime, followed: &mut Followed<'_>) -> [Figure; 2] {
    let ty = relayed_type();
    let filter = EventQuery::new().ty(ty);
    let store: Arc<dyn EventStore> = followed.store.clone();
    let events = rt
        .block_on(
            store
                .query(filter.clone())
                .try_fold(0u64, |n, _| async move { Ok(n + 1) }),
        )
        .expect("the store reads the type's events");
    assert!(events > 0, "the read set holds events of type {ty}");
    let (mut raw, mut drain, mut peaks) = (None, None, Peaks::default());
    for round in 0..followed.rounds.max(1) {
        let raw_first = round % 2 == 0;
        for raw_side in [raw_first, !raw_first] {
            if raw_side {
                let (relayed, peak) =
                    memory::peak(|| (followed.raw_filtered_relay)(ty, RELAY_BATCH));
                assert_eq!(
                    relayed.events, events,
                    "the baseline relayed every event of the type"
                );
                raw = Some(relayed.best(raw));
                peaks.raw(peak);
            } else {
                let (drained, peak) = memory::peak(|| {
                    let name = relay_name(round);
                    let mut relay =
                        Relay::start(rt, &followed.store, &name, filter.clone(), events);
                    let drained = relay.drain(rt, events);
                    relay.stop(rt);
                    drained
                });
                drain = Some(drained.best(drain));
                peaks.store(peak);
            }
        }
    }
    let [raw, drain] = [raw, drain].map(|t| t.expect("at least one round ran"));
    [
        rates(
            "relay_drain_filtered",
            &format!("relay drain filtered on one type, batches of {RELAY_BATCH}"),
            drain,
            raw,
            json!({
                "events": events,
                "read_set_events": followed.events,
                "type": ty,
                "batch": RELAY_BATCH,
                "store_seconds": drain.elapsed.as_secs_f64(),
                "raw_seconds": raw.elapsed.as_secs_f64(),
                "baseline": "the store's query builder's statement for the type after a \
                    sequence, in pages of the batch (on PostgreSQL prepared once), each page \
                    handed to a no-op sender and a checkpoint saved per page",
            }),
        ),
        peak_rss(
            "relay_drain_filtered_peak_rss",
            "relay drain filtered on one type",
            peaks,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use eventstore_postgres::PostgresDialect;
    use eventstore_sqlite::SqliteDialect;

    use super::*;

    #[test]
    fn the_page_statement_is_the_builders_with_the_baselines_columns() {
        let table = TableName::new("events").unwrap();
        assert_eq!(
            page_sql(&SqliteDialect, &table, "a, b", "t", 100),
            "SELECT a, b FROM \"events\" WHERE type = ?1 AND sequence > ?2 \
             ORDER BY sequence ASC LIMIT ?3"
        );
        let table = table.in_schema("s").unwrap();
        assert_eq!(
            page_sql(&PostgresDialect, &table, "a, b", "t", 100),
            "SELECT a, b FROM \"s\".\"events\" WHERE type = $1 AND sequence > $2 \
             ORDER BY sequence ASC LIMIT $3"
        );
    }
}
