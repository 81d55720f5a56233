//! Random datasets, random queries over them, and each result held to the in-memory
//! model of what the query's documentation says it returns.

use std::fmt;
use std::future::Future;

use eventstore_core::{Error, Event, EventStore, ExtensionValue, StoredEvent};
use futures::TryStreamExt as _;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use crate::Fixture;
use crate::model::{
    Cap, Dataset, QuerySpec, Stored, dataset, expected_get, expected_stream, missed_texts, query,
};

/// Datasets a run checks, each in a fresh store, unless the environment says otherwise
/// (see [`random_queries_match_the_model`]).
const DATASETS: u64 = 8;

/// Queries checked against each dataset.
const QUERIES: usize = 96;

/// The parts a dataset is appended in, each followed by a third of its queries.
const ROUNDS: usize = 3;

/// The most steps spent shrinking a failing query, and a failing dataset (each of
/// those in a fresh store).
const QUERY_SHRINK_STEPS: usize = 2_000;
const DATASET_SHRINK_STEPS: usize = 400;

/// Random datasets (up to 250 events of random types, sources and subjects or none,
/// correlation ids, topics, destinations, content types and schemas or none, typed
/// extensions, times or none, many equal or a nanosecond apart and out of sequence
/// order), each appended to a fresh store from `fresh` in batches of random sizes and
/// in three parts, with random queries after each part: any combination of every
/// filter (lists empty, matching, not matching, holding U+0000, one character longer than an
/// indexed attribute can be, or over a thousand values long; text in every case and
/// Unicode form; extension values of every type, matching or of another type, equal
/// instants of other precisions and offsets; time and sequence ranges, `up_to`,
/// `within_horizon`), `after` in either order, offset and limit. Each query returns
/// exactly the events, in the order, that an in-memory model of the documented
/// semantics returns, and each event as it was appended; a query the documentation
/// says is invalid fails with [`Error::InvalidQuery`]. After each part, every subject's
/// `stream` from the edges of its versions, and `get` of every event and of keys no
/// event has, return what the model returns too.
///
/// With [`Fixture::read_queries_with`] the queries run through that reader instead of
/// the store's `query` (the events are appended to the store all the same).
///
/// A failure reports the dataset's seed, the query shrunk to as few filters as still
/// fail, and the dataset shrunk too (each attempt in a fresh store). The seeds are
/// fixed; `EVENTSTORE_QUERY_SEED=<seed>` checks that one dataset alone (to reproduce a
/// failure), and `EVENTSTORE_QUERY_DATASETS=<n>` checks `n` datasets of seeds taken
/// from the clock (to look further).
pub async fn random_queries_match_the_model<F, Fut>(fresh: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Fixture>,
{
    let mut tally = Tally::default();
    for seed in seeds() {
        let fixture = fresh().await;
        if let Err(failure) = check_dataset(&fixture, seed, &mut tally).await {
            drop(fixture);
            let failure = failure.shrink_dataset(&fresh).await;
            panic!("{failure}");
        }
    }
    // Queries that select some events and leave others out are what the test is for.
    if tally.events >= 100 {
        assert!(
            tally.partial * 4 >= tally.queries,
            "a vacuous run: {} of {} queries selected some events but not all",
            tally.partial,
            tally.queries
        );
        assert!(tally.invalid > 0, "no invalid query was checked");
    }
}

/// What a run checked.
#[derive(Debug, Default)]
struct Tally {
    events: usize,
    queries: usize,
    partial: usize,
    invalid: usize,
}

/// The seeds of the datasets to check.
fn seeds() -> Vec<u64> {
    let parse = |name: &str| {
        let value = std::env::var(name).ok()?;
        let value = value.trim();
        let parsed = match value.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => value.parse(),
        };
        Some(parsed.unwrap_or_else(|e| panic!("{name}={value:?} is not a number: {e}")))
    };
    if let Some(seed) = parse("EVENTSTORE_QUERY_SEED") {
        return vec![seed];
    }
    if let Some(datasets) = parse("EVENTSTORE_QUERY_DATASETS") {
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        return (0..datasets).map(|i| start.wrapping_add(i)).collect();
    }
    (0..DATASETS).map(|i| 0x5eed_0000 + i).collect()
}

/// A runner whose random numbers all follow from `seed`.
fn runner(seed: u64) -> TestRunner {
    let bytes: Vec<u8> = (0..4).flat_map(|_| seed.to_le_bytes()).collect();
    TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
    )
}

/// Appends `batches` one by one; returns their events with their sequences.
async fn append(store: &dyn EventStore, batches: &[Vec<Event>]) -> Vec<Stored> {
    let mut events = Vec::new();
    for batch in batches {
        let appended = store
            .append(batch.clone())
            .await
            .unwrap_or_else(|e| panic!("a batch of {} events appends: {e}", batch.len()));
        events.extend(appended.sequences().zip(batch.iter().cloned()));
    }
    events
}

/// Checks dataset `seed` and its queries against `store`. The dataset is appended in
/// `ROUNDS` parts, with queries after each, so that reads also meet a store that grew
/// since its last read (a PostgreSQL store keeps the highest horizon it computed, and
/// a keyset page reads up to it before computing a fresh one).
async fn check_dataset(
    fixture: &Fixture,
    seed: u64,
    tally: &mut Tally,
) -> Result<(), Box<Failure>> {
    let store = &*fixture.store;
    let mut runner = runner(seed);
    let data_tree = dataset().boxed().new_tree(&mut runner).expect("a dataset");
    let data = data_tree.current();
    let mut events = Vec::new();
    let mut appended = 0;
    for round in 1..=ROUNDS {
        let upto = data.batches.len().div_ceil(ROUNDS) * round;
        let upto = upto.min(data.batches.len());
        events.extend(append(store, &data.batches[appended..upto]).await);
        appended = upto;
        check_point_reads(store, &events, seed).await;
        let sequences: Vec<i64> = events.iter().map(|(s, _)| *s).collect();
        // In the order first seen, so that the seed alone decides the queries.
        let mut present: Vec<(String, ExtensionValue)> = Vec::new();
        for pair in events.iter().flat_map(|(_, e)| e.extensions().clone()) {
            if !present.contains(&pair) {
                present.push(pair);
            }
        }
        let strategy = query(&sequences, present).boxed();
        for case in 0..QUERIES / ROUNDS {
            let mut tree = strategy.new_tree(&mut runner).expect("a query");
            match compare(fixture, &events, &tree.current()).await {
                Ok(Some(n)) => {
                    tally.queries += 1;
                    tally.partial += usize::from(n > 0 && n < events.len());
                }
                Ok(None) => {
                    tally.queries += 1;
                    tally.invalid += 1;
                }
                Err(mismatch) => {
                    let (spec, mismatch) =
                        shrink_query(fixture, &events, &mut *tree, mismatch).await;
                    return Err(Box::new(Failure {
                        seed,
                        case: (round - 1) * (QUERIES / ROUNDS) + case,
                        data_tree,
                        data,
                        batches: appended,
                        spec,
                        mismatch,
                        fresh_store: None,
                    }));
                }
            }
        }
    }
    tally.events += events.len();
    Ok(())
}

/// Every subject's stream from every edge of its versions, and every event by its
/// `(source, id)`, with subjects, sources and ids no event holds: each read returns
/// what the model returns, each event as it was appended.
async fn check_point_reads(store: &dyn EventStore, events: &[Stored], seed: u64) {
    let mut subjects: Vec<&str> = events.iter().filter_map(|(_, e)| e.subject()).collect();
    subjects.sort_unstable();
    subjects.dedup();
    subjects.extend(missed_texts());
    let context = |what: String| format!("dataset seed {seed:#x}: {what}");
    for subject in subjects {
        let count = events
            .iter()
            .filter(|(_, e)| e.subject() == Some(subject))
            .count() as i64;
        for from in [i64::MIN, -1, 0, 1, 2, count - 1, count, count + 1, i64::MAX] {
            let what = || context(format!("stream({subject:?}, {from})"));
            let read: Vec<StoredEvent> = store
                .stream(subject, from)
                .try_collect()
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", what()));
            let positions: Vec<(i64, i64)> = read
                .iter()
                .map(|e| (e.sequence(), e.stream_version().unwrap_or(-1)))
                .collect();
            assert_eq!(
                positions,
                expected_stream(events, subject, from),
                "{}",
                what()
            );
            for e in &read {
                assert_eq!(
                    Some(e.event()),
                    model_event(events, e.sequence()),
                    "{}",
                    what()
                );
            }
        }
    }
    let mut keys: Vec<(&str, &str)> = events.iter().map(|(_, e)| (e.source(), e.id())).collect();
    for miss in missed_texts() {
        keys.extend([("/shop", *miss), (*miss, "1")]);
    }
    for (source, id) in keys {
        let what = || context(format!("get({source:?}, {id:?})"));
        let read = store
            .get(source, id)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", what()));
        let expected = expected_get(events, source, id);
        assert_eq!(
            read.as_ref().map(StoredEvent::sequence),
            expected,
            "{}",
            what()
        );
        if let Some(read) = read {
            assert_eq!(
                Some(read.event()),
                model_event(events, read.sequence()),
                "{}",
                what()
            );
        }
    }
}

/// A query whose result differs from the model's.
#[derive(Debug)]
struct Mismatch {
    query: String,
    expected: String,
    actual: String,
}

/// Runs `spec` on the fixture's store (or its query reader), holding `events`: how many
/// events it returned (`None`: it was refused as invalid, as it should be), or how it
/// differs from the model.
async fn compare(
    fixture: &Fixture,
    events: &[Stored],
    spec: &QuerySpec,
) -> Result<Option<usize>, Mismatch> {
    let store = &*fixture.store;
    // Only when the query needs it: computing it raises the highest horizon a
    // PostgreSQL store knows, which keyset pages read up to first.
    let horizon = if spec.caps.contains(&Cap::WithinStoreHorizon) {
        Some(store.horizon().await.expect("the store's horizon").safe)
    } else {
        None
    };
    let expected = spec.expected(events, horizon.unwrap_or_default());
    let query = spec.to_query(horizon.unwrap_or_default());
    let actual: Result<Vec<StoredEvent>, Error> = match &fixture.query_reader {
        Some(read) => read(query.clone()).await,
        None => store.query(query.clone()).try_collect().await,
    };
    let mismatch = |actual: String| Mismatch {
        query: match horizon {
            Some(h) => format!("{query:?} (the store's horizon: {h})"),
            None => format!("{query:?}"),
        },
        expected: match &expected {
            Ok(sequences) => describe(events, sequences),
            Err(invalid) => format!("InvalidQuery ({})", invalid.0),
        },
        actual,
    };
    match (&expected, actual) {
        (Err(_), Err(Error::InvalidQuery(_))) => Ok(None),
        (_, Err(e)) => Err(mismatch(format!("{e:?}"))),
        (Err(_), Ok(read)) => Err(mismatch(describe_read(events, &read))),
        (Ok(sequences), Ok(read)) => {
            let same = read.len() == sequences.len()
                && read.iter().zip(sequences).all(|(r, s)| {
                    r.sequence() == *s && model_event(events, *s).is_some_and(|e| r.event() == e)
                });
            if same {
                Ok(Some(read.len()))
            } else {
                Err(mismatch(describe_read(events, &read)))
            }
        }
    }
}

/// The model's event of this sequence.
fn model_event(events: &[Stored], sequence: i64) -> Option<&Event> {
    let i = events.binary_search_by_key(&sequence, |(s, _)| *s).ok()?;
    Some(&events[i].1)
}

/// Sequences and `(source, id)`s of the model's events.
fn describe(events: &[Stored], sequences: &[i64]) -> String {
    let items: Vec<String> = sequences
        .iter()
        .filter_map(|s| model_event(events, *s).map(|e| format!("{s} {} {}", e.source(), e.id())))
        .collect();
    format!("{} events [{}]", items.len(), items.join(", "))
}

/// Sequences and `(source, id)`s of what the store returned, with the whole event
/// where it is not the one appended with that sequence.
fn describe_read(events: &[Stored], read: &[StoredEvent]) -> String {
    let items: Vec<String> = read
        .iter()
        .map(|e| {
            let item = format!("{} {} {}", e.sequence(), e.source(), e.id());
            if model_event(events, e.sequence()) == Some(e.event()) {
                item
            } else {
                format!("{item} (not as appended: {:?})", e.event())
            }
        })
        .collect();
    format!("{} events [{}]", items.len(), items.join(", "))
}

/// Shrinks a failing query against the same store (queries change nothing): the
/// simplest query proptest's shrinking finds that still fails, and how.
async fn shrink_query(
    fixture: &Fixture,
    events: &[Stored],
    tree: &mut dyn ValueTree<Value = QuerySpec>,
    mismatch: Mismatch,
) -> (QuerySpec, Mismatch) {
    let mut smallest = (tree.current(), mismatch);
    if !tree.simplify() {
        return smallest;
    }
    for _ in 0..QUERY_SHRINK_STEPS {
        let spec = tree.current();
        let more = match compare(fixture, events, &spec).await {
            Err(mismatch) => {
                smallest = (spec, mismatch);
                tree.simplify()
            }
            Ok(_) => tree.complicate(),
        };
        if !more {
            break;
        }
    }
    smallest
}

/// A query that failed, and the dataset it failed on.
struct Failure {
    seed: u64,
    case: usize,
    data_tree: Box<dyn ValueTree<Value = Dataset>>,
    data: Dataset,
    /// How many of the dataset's batches were appended when the query failed.
    batches: usize,
    spec: QuerySpec,
    mismatch: Mismatch,
    /// Whether the query also fails on a fresh store holding those events (`None`:
    /// not tried yet).
    fresh_store: Option<bool>,
}

impl Failure {
    /// Shrinks the dataset while the query still fails on it, each attempt appended to
    /// a fresh store, if the query fails on a fresh store holding the events at all.
    async fn shrink_dataset<F, Fut>(mut self, fresh: &F) -> Self
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Fixture>,
    {
        let fails = self.attempt(fresh, &self.data).await.is_err();
        self.fresh_store = Some(fails);
        if !fails || !self.data_tree.simplify() {
            return self;
        }
        for _ in 0..DATASET_SHRINK_STEPS {
            let data = self.data_tree.current();
            let more = match self.attempt(fresh, &data).await {
                Err(mismatch) => {
                    self.data = data;
                    self.mismatch = mismatch;
                    self.data_tree.simplify()
                }
                Ok(_) => self.data_tree.complicate(),
            };
            if !more {
                break;
            }
        }
        self
    }

    /// Runs the query on a fresh store holding the first batches of `data`.
    async fn attempt<F, Fut>(&self, fresh: &F, data: &Dataset) -> Result<Option<usize>, Mismatch>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Fixture>,
    {
        let fixture = fresh().await;
        let batches = &data.batches[..self.batches.min(data.batches.len())];
        let events = append(&*fixture.store, batches).await;
        compare(&fixture, &events, &self.spec).await
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            seed,
            case,
            data,
            batches,
            spec,
            mismatch,
            fresh_store,
            ..
        } = self;
        writeln!(
            f,
            "a query's result differs from the model's: dataset seed {seed:#x}, query {case} \
             (EVENTSTORE_QUERY_SEED={seed:#x} checks this dataset alone)"
        )?;
        if *fresh_store == Some(false) {
            writeln!(
                f,
                "on a fresh store holding the same events the query passes: the failure \
                 depends on what the store read before it, so the dataset is not shrunk"
            )?;
        }
        writeln!(f, "query:    {}", mismatch.query)?;
        writeln!(f, "spec:     {spec:?}")?;
        writeln!(f, "expected: {}", mismatch.expected)?;
        writeln!(f, "actual:   {}", mismatch.actual)?;
        let appended = &data.batches[..(*batches).min(data.batches.len())];
        let sizes: Vec<usize> = appended.iter().map(Vec::len).collect();
        writeln!(
            f,
            "dataset:  {} events, appended to a fresh store in batches of {sizes:?}:",
            sizes.iter().sum::<usize>()
        )?;
        for (i, event) in appended.iter().flatten().enumerate() {
            writeln!(f, "  #{}: {event:?}", i + 1)?;
        }
        Ok(())
    }
}
