//! Workloads 6 to 8: short reads repeated many times, the store and the baseline taking
//! turns on the same keys so that noise and caching fall on both alike.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eventstore_core::timestamp::format_fixed;
use eventstore_core::{EventQuery, EventStore as _, StoredEvent};
use eventstore_sqlite::{SqliteEventStore, SqliteOptions};
use futures::TryStreamExt as _;
use tokio::runtime::Runtime;

use crate::dataset::{Dataset, SUBJECTS};
use crate::measure::{Repeated, repeat};
use crate::sqlite::raw::{self, Reader};
use crate::sqlite::readset::ReadSet;

/// Rows a type + time range query returns at most.
pub(crate) const QUERY_LIMIT: u64 = 100;

/// A store and a baseline connection open on the read set.
pub(crate) struct Readers<'a> {
    /// Runs the store's futures.
    rt: &'a Runtime,
    /// The store.
    store: SqliteEventStore,
    /// The baseline, shared with the tasks its calls are timed in.
    raw: Arc<Mutex<Reader>>,
    /// The data set, to derive keys from.
    set: &'a ReadSet,
}

impl<'a> Readers<'a> {
    /// Opens both on `set`, the store creating the optional `(type, time)` index when
    /// `type_time_index` (the baseline then reads through it too), and both mapping the
    /// file's first `mmap_size` bytes into memory.
    pub(crate) fn open(
        rt: &'a Runtime,
        set: &'a ReadSet,
        type_time_index: bool,
        mmap_size: u64,
    ) -> Self {
        let store = rt
            .block_on(
                SqliteOptions::file(&set.path)
                    .type_time_index(type_time_index)
                    .mmap_size(mmap_size)
                    .open(),
            )
            .expect("the store opens");
        let raw = raw::open(&set.path)
            .and_then(|conn| {
                conn.pragma_update(None, "mmap_size", mmap_size as i64)?;
                Ok(conn)
            })
            .expect("the baseline opens");
        let raw = Reader::new(raw);
        let raw = Arc::new(Mutex::new(raw));
        Self {
            rt,
            store,
            raw,
            set,
        }
    }

    /// Workload 6: `stream(subject, 1)` of random subjects, read to the end.
    pub(crate) fn streams(&self, calls: usize) -> Repeated {
        repeat(
            calls,
            |rng| Dataset::subject(rng.below(SUBJECTS)),
            |subject| {
                let subject = subject.clone();
                self.timed_store(move |store| async move {
                    store.stream(&subject, 1).try_collect().await
                })
            },
            |subject| {
                let subject = subject.clone();
                self.timed_raw(move |raw| raw.stream(&subject, 1))
            },
        )
    }

    /// Workload 7: one type in a random time window holding about 5% of the events,
    /// at most [`QUERY_LIMIT`] rows.
    pub(crate) fn type_time_range(&self, calls: usize) -> Repeated {
        let types: Vec<&str> = Dataset::types().collect();
        let window = (self.set.events / 20).max(1);
        repeat(
            calls,
            |rng| {
                let ty = types[rng.below(types.len() as u64) as usize];
                let first = rng.below(self.set.events.saturating_sub(window).max(1));
                let from = Dataset::base_time(first);
                let to = Dataset::base_time(first + window);
                (ty, from, to)
            },
            |&(ty, from, to)| {
                let query = EventQuery::new()
                    .ty(ty)
                    .time_from(from)
                    .time_to(to)
                    .limit(QUERY_LIMIT);
                self.timed_store(move |store| store.query(query).try_collect())
            },
            |&(ty, from, to)| {
                let (from, to) = (format_fixed(from), format_fixed(to));
                self.timed_raw(move |raw| {
                    raw.type_in_time_range(ty, &from, &to, QUERY_LIMIT as i64)
                })
            },
        )
    }

    /// Events since a random time in the last hundredth of the history, at most
    /// [`QUERY_LIMIT`], oldest first: what `eventstore query --since 1h` asks of a long
    /// history.
    pub(crate) fn since(&self, calls: usize) -> Repeated {
        let events = self.set.events;
        repeat(
            calls,
            |rng| Dataset::since_start(events, rng),
            |&from| {
                let query = EventQuery::new().time_from(from).limit(QUERY_LIMIT);
                self.timed_store(move |store| store.query(query).try_collect())
            },
            |&from| {
                let from = format_fixed(from);
                self.timed_raw(move |raw| raw.since(&from, QUERY_LIMIT as i64))
            },
        )
    }

    /// Workload 8: `get(source, id)` of random stored events. With `hand_off`, the
    /// baseline's statement runs under `block_in_place` as the store's does, so that
    /// the two differ only in what the store adds around the statement (pool, SQL,
    /// decoding into an event); without it, inline.
    pub(crate) fn gets(&self, calls: usize, hand_off: bool) -> Repeated {
        repeat(
            calls,
            |rng| {
                let event = self.set.dataset.event(rng.below(self.set.events));
                (event.source().to_owned(), event.id().to_owned())
            },
            |(source, id)| {
                let (source, id) = (source.clone(), id.clone());
                self.timed_store(move |store| async move {
                    store.get(&source, &id).await.map(Vec::from_iter)
                })
            },
            |(source, id)| {
                let (source, id) = (source.clone(), id.clone());
                let get = move |raw: &Reader| Vec::from_iter(raw.get(&source, &id));
                if hand_off {
                    self.timed_raw(move |raw| tokio::task::block_in_place(|| get(raw)))
                } else {
                    self.timed_raw(get)
                }
            },
        )
    }

    /// Times one store call, from making its future to its last event, inside a task
    /// on one of the runtime's workers, where an application's calls run (a point read
    /// runs differently there than on a thread blocked in `Runtime::block_on`); the
    /// events are dropped after the clock stops.
    fn timed_store<F>(
        &self,
        call: impl FnOnce(SqliteEventStore) -> F + Send + 'static,
    ) -> (Duration, usize)
    where
        F: Future<Output = eventstore_core::Result<Vec<StoredEvent>>> + Send + 'static,
    {
        let store = self.store.clone();
        let task = self.rt.spawn(async move {
            let start = Instant::now();
            let events = call(store).await.expect("the store reads");
            (start.elapsed(), events.len())
        });
        self.rt.block_on(task).expect("the timed task finishes")
    }

    /// Times one baseline call where [`timed_store`](Self::timed_store) times the
    /// store's: inside a task freshly spawned on one of the runtime's workers, the
    /// statement run inline on that worker (a plain rusqlite call in async code, with
    /// no hand-off); the rows are dropped after the clock stops. Timed on the
    /// benchmark's own thread instead, the same `get` took 15.5 µs p50 against 24.7
    /// µs in a task: a task's first poll finds the thread's caches cold, which the
    /// store's calls paid and the baseline did not.
    fn timed_raw<T: 'static>(
        &self,
        call: impl FnOnce(&Reader) -> Vec<T> + Send + 'static,
    ) -> (Duration, usize) {
        let raw = Arc::clone(&self.raw);
        let task = self.rt.spawn(async move {
            let reader = raw.lock().expect("no timed call panicked");
            let start = Instant::now();
            let rows = call(&reader);
            let elapsed = start.elapsed();
            (elapsed, rows.len())
        });
        self.rt.block_on(task).expect("the timed task finishes")
    }
}
