//! Point reads (`get`, `stream_version`, `horizon`, checkpoints) run on the calling
//! thread on a multi-thread runtime and on the blocking pool on a current-thread one:
//! both give the same answers, and running them on a worker starves no other task.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use eventstore_core::{CheckpointStore as _, Event, EventQuery, EventStore as _};
use eventstore_sqlite::SqliteEventStore;
use futures::TryStreamExt as _;

fn event(i: u32) -> Event {
    Event::builder()
        .id(format!("e{i}"))
        .source("/point")
        .ty("t")
        .subject(format!("s{}", i % 3))
        .json(&serde_json::json!({ "i": i }))
        .build()
        .expect("valid")
}

/// Appends ten events and checks every point read's answer.
async fn point_reads_answer(store: &SqliteEventStore) {
    store
        .append((0..10).map(event).collect())
        .await
        .expect("appends");
    let got = store
        .get("/point", "e4")
        .await
        .expect("reads")
        .expect("exists");
    assert_eq!((got.sequence(), got.event()), (5, &event(4)));
    assert!(store.get("/point", "e10").await.expect("reads").is_none());
    assert_eq!(store.stream_version("s1").await.expect("reads"), Some(3));
    assert_eq!(store.stream_version("none").await.expect("reads"), None);
    let horizon = store.horizon().await.expect("reads");
    assert_eq!((horizon.safe, horizon.head), (10, 10));
    assert_eq!(store.load_checkpoint("p").await.expect("reads"), None);
}

fn fresh(dir: &tempfile::TempDir) -> impl Future<Output = SqliteEventStore> {
    let path = dir.path().join("events.db");
    async move { SqliteEventStore::open(path).await.expect("opens") }
}

#[test]
fn on_a_current_thread_runtime_point_reads_use_the_blocking_pool() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async { point_reads_answer(&fresh(&dir).await).await });
}

#[test]
fn on_a_multi_thread_runtime_point_reads_run_in_place_in_tasks_and_in_block_on() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let store = rt.block_on(fresh(&dir));
    let task = rt.spawn({
        let store = store.clone();
        async move { point_reads_answer(&store).await }
    });
    rt.block_on(task).expect("the task finishes");
    rt.block_on(async {
        let got = store.get("/point", "e0").await.expect("reads");
        assert_eq!(got.map(|e| e.sequence()), Some(1));
    });
}

/// With one worker thread, a task doing nothing but point reads would hold the only
/// worker if the reads blocked it: a timer on the same runtime, a paged read and
/// appends must all still make progress while it runs.
#[test]
fn point_reads_on_the_only_worker_starve_no_other_task() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        let store = fresh(&dir).await;
        store
            .append((0..10).map(event).collect())
            .await
            .expect("appends");
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        // Reads until the other task is done, or for 20 s: a loop whose awaits never
        // wait would otherwise hold the worker for ever if the reads blocked it.
        let reader = tokio::spawn({
            let (store, done) = (store.clone(), done.clone());
            async move {
                let start = Instant::now();
                let mut reads = 0u64;
                while !done.load(Ordering::Relaxed) && start.elapsed() < Duration::from_secs(20) {
                    store.get("/point", "e1").await.expect("reads");
                    reads += 1;
                }
                (reads, done.load(Ordering::Relaxed))
            }
        });
        let others = tokio::spawn({
            let (store, done) = (store.clone(), done.clone());
            async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                for i in 10..20 {
                    store.append(vec![event(i)]).await.expect("appends");
                }
                let all: Vec<_> = store
                    .query(EventQuery::new())
                    .try_collect()
                    .await
                    .expect("reads");
                done.store(true, Ordering::Relaxed);
                all.len()
            }
        });
        let (reads, others_done_first) = reader.await.expect("the reader finishes");
        assert!(
            others_done_first,
            "the other task made no progress in 20 s of point reads ({reads} reads)"
        );
        assert_eq!(others.await.expect("the other task succeeds"), 20);
    });
}
