//! The read set on PostgreSQL (loaded by the import workload) and the read workloads
//! on it, the store against plain statements on the same table.

use std::hint::black_box;
use std::time::{Duration, Instant};

use eventstore_core::sql::TableName;
use eventstore_core::timestamp::format_fixed;
use eventstore_core::{EventQuery, EventStore as _, StoredEvent};
use eventstore_postgres::PostgresEventStore;
use futures::{StreamExt as _, TryStreamExt as _};
use tokio::runtime::Runtime;
use tokio_postgres::{Client, Statement};

use super::db::Db;
use super::raw;
use crate::dataset::{Dataset, SUBJECTS};
use crate::measure::{Repeated, Throughput, repeat};
use crate::memory::Peaks;
use crate::workload::{AppendResult, best_of, walk_pages};

/// Rows a type + time range query returns at most.
pub(crate) const QUERY_LIMIT: u64 = 100;

/// Rows per page of the keyset walk.
pub(crate) const PAGE: u64 = 1_000;

/// The loaded read set: the store on its table, a baseline client on the same.
pub(crate) struct ReadSet<'a> {
    /// Runs the futures.
    pub(crate) rt: &'a Runtime,
    /// The store on the table.
    pub(crate) store: PostgresEventStore,
    /// The baseline's connection.
    pub(crate) client: Client,
    /// A second baseline connection: the hand-written relay's checkpoint saves.
    pub(crate) saver: Client,
    /// The table, quoted and qualified.
    pub(crate) table: String,
    /// The same table, as the store's query builder names it.
    pub(crate) table_name: TableName,
    /// The store's checkpoint table beside it, quoted and qualified.
    pub(crate) checkpoints: String,
    /// Its events are events `0..events` of this data set.
    pub(crate) dataset: Dataset,
    /// How many.
    pub(crate) events: u64,
}

/// The import workload, which also loads the read set: `store.import` of `events`
/// events into one table against binary `COPY` of the same rows into another, both
/// generating the events as they go. The store's table stays as the read set.
pub(crate) fn import<'a>(
    rt: &'a Runtime,
    db: &Db,
    dataset: Dataset,
    events: u64,
) -> (ReadSet<'a>, AppendResult) {
    let table = db.fresh_table("events");
    let copy_table = db.fresh_table("copy");
    let (store, client, saver, result) = rt.block_on(async {
        let store = db.store(&table).await;
        db.store(&copy_table)
            .await
            .close()
            .await
            .expect("the store closes");
        let client = raw::connect(&db.url).await;
        let start = Instant::now();
        store
            .import((0..events).map(|i| dataset.event(i)))
            .await
            .expect("the store imports");
        let store_side = Throughput {
            events,
            elapsed: start.elapsed(),
        };
        let start = Instant::now();
        let copied = raw::copy(
            &client,
            &db.qualified(&copy_table),
            (0..events).map(|i| dataset.event(i)),
        )
        .await;
        let raw_side = Throughput {
            events: copied,
            elapsed: start.elapsed(),
        };
        db.drop_table(&copy_table).await;
        client
            .batch_execute(&format!("VACUUM ANALYZE {}", db.qualified(&table)))
            .await
            .expect("the read set is analyzed");
        (
            store,
            client,
            raw::connect(&db.url).await,
            AppendResult {
                store: store_side,
                raw: raw_side,
                peaks: Peaks::default(),
            },
        )
    });
    let set = ReadSet {
        rt,
        store,
        client,
        saver,
        table: db.qualified(&table),
        table_name: TableName::new(table.as_str())
            .and_then(|name| name.in_schema(super::db::schema()))
            .expect("the bench's table names are valid"),
        checkpoints: db.qualified(&format!("{table}$checkpoints")),
        dataset,
        events,
    };
    (set, result)
}

impl ReadSet<'_> {
    /// The plain full read's statement: every row, every column the store reads.
    fn full_read_sql(&self) -> String {
        format!(
            "SELECT {} FROM {} ORDER BY sequence",
            raw::SELECT,
            self.table
        )
    }

    /// The plain full read's rows, each decoded as it arrives.
    async fn full_read_rows(&self) -> impl futures::Stream<Item = raw::RawRow> + '_ {
        self.client
            .query_raw(&self.full_read_sql(), std::iter::empty::<i64>())
            .await
            .expect("the baseline reads")
            .map(|row| raw::decode(&row.expect("a row")))
    }

    /// The plain full read: one `SELECT` over every row, streamed, every column decoded.
    pub(crate) fn raw_full_read(&self) -> Throughput {
        self.rt.block_on(async {
            let start = Instant::now();
            let count = self
                .full_read_rows()
                .await
                .fold(0u64, |n, row| async move {
                    black_box(row);
                    n + 1
                })
                .await;
            Throughput {
                events: count,
                elapsed: start.elapsed(),
            }
        })
    }

    /// The relay drain by hand: the plain full read, its rows collected into batches of
    /// `batch`, each batch handed to a no-op sender and then its last sequence saved
    /// with the store's checkpoint statement on a second connection, before the next
    /// batch is handed over (what the store's relay guarantees).
    pub(crate) fn raw_relay(&self, batch: usize) -> Throughput {
        self.rt.block_on(async {
            let save = self.prepare_save().await;
            let start = Instant::now();
            let mut batches = std::pin::pin!(self.full_read_rows().await.chunks(batch));
            let mut count = 0u64;
            while let Some(rows) = batches.next().await {
                let last = black_box(&rows).last().map_or(0, |r| r.sequence);
                count += rows.len() as u64;
                drop(rows);
                self.saver
                    .execute(&save, &[&"raw-relay", &last])
                    .await
                    .expect("the baseline saves its checkpoint");
            }
            Throughput {
                events: count,
                elapsed: start.elapsed(),
            }
        })
    }

    /// The store's checkpoint save (a named position moved forward, never back),
    /// prepared on the hand-written relays' second connection.
    pub(super) async fn prepare_save(&self) -> Statement {
        self.saver
            .prepare(&format!(
                "INSERT INTO {} AS c (name, position) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET position = excluded.position, \
                 updated_at = now() WHERE excluded.position > c.position",
                self.checkpoints
            ))
            .await
            .expect("baseline SQL is valid")
    }

    /// psql's own scan of the same rows and columns into `/dev/null` (`None` where no
    /// `psql` runs).
    pub(crate) fn psql_scan(&self, url: &str) -> Option<Throughput> {
        let sql = self.full_read_sql();
        let start = Instant::now();
        let status = std::process::Command::new("psql")
            .args(["-X", "-q", "-A", "-t", "-d", url, "-c", &sql])
            .stdout(std::process::Stdio::null())
            .status()
            .ok()?;
        let elapsed = start.elapsed();
        status.success().then_some(Throughput {
            events: self.events,
            elapsed,
        })
    }

    /// The store's full read: `query(EventQuery::new())` streamed to the end.
    pub(crate) fn store_full_read(&self) -> Throughput {
        self.rt.block_on(async {
            let start = Instant::now();
            let mut events = self.store.query(EventQuery::new());
            let mut count = 0u64;
            while let Some(event) = events.try_next().await.expect("the store reads") {
                black_box(&event);
                count += 1;
            }
            Throughput {
                events: count,
                elapsed: start.elapsed(),
            }
        })
    }

    /// The keyset walk: every event in pages of [`PAGE`] with `after`.
    pub(crate) fn keyset_walk(&self, rounds: u32) -> AppendResult {
        let statement = self.prepare(&format!(
            "SELECT {} FROM {} WHERE sequence > $1 ORDER BY sequence LIMIT $2",
            raw::SELECT,
            self.table
        ));
        best_of(
            rounds,
            || {
                self.rt.block_on(async {
                    let start = Instant::now();
                    let count = walk_pages(&self.store, PAGE).await;
                    Throughput {
                        events: count,
                        elapsed: start.elapsed(),
                    }
                })
            },
            || {
                self.rt.block_on(async {
                    let start = Instant::now();
                    let (mut after, mut count) = (0i64, 0u64);
                    loop {
                        let rows = self
                            .client
                            .query(&statement, &[&after, &(PAGE as i64)])
                            .await
                            .expect("the baseline reads");
                        let Some(last) = rows
                            .iter()
                            .map(|row| black_box(raw::decode(row)).sequence)
                            .last()
                        else {
                            break;
                        };
                        after = last;
                        count += rows.len() as u64;
                    }
                    Throughput {
                        events: count,
                        elapsed: start.elapsed(),
                    }
                })
            },
        )
    }

    /// Prepares a baseline statement.
    fn prepare(&self, sql: &str) -> Statement {
        self.rt
            .block_on(self.client.prepare(sql))
            .expect("baseline SQL is valid")
    }

    /// Times a store call to its last event.
    fn timed_store<F>(&self, call: impl FnOnce() -> F) -> (Duration, usize)
    where
        F: Future<Output = eventstore_core::Result<Vec<StoredEvent>>>,
    {
        self.rt.block_on(async {
            let start = Instant::now();
            let events = call().await.expect("the store reads");
            (start.elapsed(), events.len())
        })
    }

    /// Times a baseline statement, every row decoded.
    fn timed_raw(
        &self,
        statement: &Statement,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> (Duration, usize) {
        self.rt.block_on(async {
            let start = Instant::now();
            let rows = self
                .client
                .query(statement, params)
                .await
                .expect("the baseline reads");
            for row in &rows {
                black_box(raw::decode(row));
            }
            (start.elapsed(), rows.len())
        })
    }

    /// `stream(subject, 1)` of random subjects.
    pub(crate) fn streams(&self, calls: usize) -> Repeated {
        let statement = self.prepare(&format!(
            "SELECT {} FROM {} WHERE subject = $1 AND stream_version >= $2 ORDER BY stream_version",
            raw::SELECT,
            self.table
        ));
        repeat(
            calls,
            |rng| Dataset::subject(rng.below(SUBJECTS)),
            |subject| self.timed_store(|| self.store.stream(subject, 1).try_collect()),
            |subject| self.timed_raw(&statement, &[subject, &1i64]),
        )
    }

    /// A twentieth of the events in the table: the type + time workload's window.
    pub(crate) fn twentieth(&self) -> u64 {
        self.events / 20
    }

    /// One type in a random time window as long as `window` events take (about 5% of
    /// the events when it is [`ReadSet::twentieth`]), at most [`QUERY_LIMIT`] rows,
    /// oldest first.
    pub(crate) fn type_time_range(&self, calls: usize, window: u64) -> Repeated {
        let statement = self.prepare(&format!(
            "SELECT {} FROM {} WHERE type = $1 AND time >= $2 AND time < $3 ORDER BY sequence LIMIT $4",
            raw::SELECT,
            self.table
        ));
        let types: Vec<&str> = Dataset::types().collect();
        let window = window.max(1);
        repeat(
            calls,
            |rng| {
                let ty = types[rng.below(types.len() as u64) as usize];
                let first = rng.below(self.events.saturating_sub(window).max(1));
                (
                    ty,
                    Dataset::base_time(first),
                    Dataset::base_time(first + window),
                )
            },
            |&(ty, from, to)| {
                let query = EventQuery::new()
                    .ty(ty)
                    .time_from(from)
                    .time_to(to)
                    .limit(QUERY_LIMIT);
                self.timed_store(|| self.store.query(query).try_collect())
            },
            |&(ty, from, to)| {
                let (from, to) = (format_fixed(from), format_fixed(to));
                self.timed_raw(&statement, &[&ty, &from, &to, &(QUERY_LIMIT as i64)])
            },
        )
    }

    /// Events since a random time in the last hundredth of the history, at most
    /// [`QUERY_LIMIT`], oldest first: what `eventstore query --since 1h` asks of a long
    /// history. The baseline's session plans the statement with its values
    /// (`plan_cache_mode = force_custom_plan`), as the store does for such a read; with
    /// `generic`, with a generic plan, as the store's pool does for the rest.
    pub(crate) fn since(&self, calls: usize, generic: bool) -> Repeated {
        let statement = self.prepare(&format!(
            "SELECT {} FROM {} WHERE time >= $1 ORDER BY sequence LIMIT $2",
            raw::SELECT,
            self.table
        ));
        let mode = if generic {
            "force_generic_plan"
        } else {
            "force_custom_plan"
        };
        self.rt
            .block_on(
                self.client
                    .batch_execute(&format!("SET plan_cache_mode = {mode}")),
            )
            .expect("the baseline's plan mode is set");
        let events = self.events;
        let repeated = repeat(
            calls,
            |rng| Dataset::since_start(events, rng),
            |&from| {
                let query = EventQuery::new().time_from(from).limit(QUERY_LIMIT);
                self.timed_store(|| self.store.query(query).try_collect())
            },
            |&from| {
                let from = format_fixed(from);
                self.timed_raw(&statement, &[&from, &(QUERY_LIMIT as i64)])
            },
        );
        self.rt
            .block_on(self.client.batch_execute("RESET plan_cache_mode"))
            .expect("the baseline's plan mode is reset");
        repeated
    }

    /// `get(source, id)` of random stored events.
    pub(crate) fn gets(&self, calls: usize) -> Repeated {
        let statement = self.prepare(&format!(
            "SELECT {} FROM {} WHERE source = $1 AND id = $2",
            raw::SELECT,
            self.table
        ));
        repeat(
            calls,
            |rng| {
                let event = self.dataset.event(rng.below(self.events));
                (event.source().to_owned(), event.id().to_owned())
            },
            |(source, id)| {
                self.timed_store(|| async { self.store.get(source, id).await.map(Vec::from_iter) })
            },
            |(source, id)| self.timed_raw(&statement, &[source, id]),
        )
    }

    /// One page of [`PAGE`] events after a random sequence.
    pub(crate) fn pages(&self, calls: usize) -> Repeated {
        let statement = self.prepare(&format!(
            "SELECT {} FROM {} WHERE sequence > $1 ORDER BY sequence LIMIT $2",
            raw::SELECT,
            self.table
        ));
        repeat(
            calls,
            |rng| rng.below(self.events.saturating_sub(PAGE).max(1)) as i64,
            |&after| {
                let query = EventQuery::new().after(after).limit(PAGE);
                self.timed_store(|| self.store.query(query).try_collect())
            },
            |&after| self.timed_raw(&statement, &[&after, &(PAGE as i64)]),
        )
    }
}
