//! The harness end to end at smoke-test sizes, through its command line: every workload
//! on both backends (PostgreSQL at `DATABASE_URL`, else 127.0.0.1:5432), each backend in
//! a process of its own and the SQLite read set imported in a child of that, then one
//! merged report with a figure per workload. The figures themselves mean nothing at
//! these sizes in a debug build; that they are all there, and positive, is the test.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

/// The figures every backend reports.
const COMMON: [&str; 23] = [
    "append_1x1",
    "append_100x1",
    "append_1x8",
    "append_100x8",
    "append_100x8_shared",
    "append_100x1_vs_seed",
    "append_100x1_vs_seed_loaded",
    "import",
    "full_read",
    "full_read_peak_rss",
    "keyset_walk",
    "keyset_walk_peak_rss",
    "stream_subject",
    "stream_subject_p50",
    "type_time_range_p50",
    "get_by_id_p50",
    "replay",
    "replay_peak_rss",
    "relay_drain",
    "relay_drain_peak_rss",
    "relay_drain_filtered",
    "relay_drain_filtered_peak_rss",
    "subscription_p99",
];

/// A scratch directory removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_quick_run_reports_every_workload_on_both_backends() {
    let out = Scratch(
        std::env::temp_dir().join(format!("eventstore-bench-smoke-{}", std::process::id())),
    );
    let run = Command::new(env!("CARGO_BIN_EXE_eventstore-bench"))
        .args(["--quick", "--events", "5000", "--out"])
        .arg(&out.0)
        .output()
        .expect("the harness starts");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "the harness failed: {stderr}");
    assert!(
        stderr.contains("sqlite: importing 5000 events through the store (a child process)"),
        "{stderr}"
    );

    let text = std::fs::read_to_string(out.0.join("report.json")).expect("report.json");
    let report: Value = serde_json::from_str(&text).expect("the report is JSON");
    let speedup = report["machine"]["two_thread_speedup"].as_f64();
    assert!(speedup.is_some_and(|s| s > 0.0), "{}", report["machine"]);
    let sections = report["sections"].as_array().expect("sections");
    let backends: Vec<&str> = sections
        .iter()
        .filter_map(|s| s["backend"].as_str())
        .collect();
    assert_eq!(backends, ["sqlite", "postgres"]);
    for section in sections {
        let backend = section["backend"].as_str().unwrap_or_default();
        let figures = section["figures"].as_array().expect("figures");
        let keys: BTreeSet<&str> = figures.iter().filter_map(|f| f["key"].as_str()).collect();
        for key in COMMON {
            assert!(keys.contains(key), "{backend} reports no {key}: {keys:?}");
        }
        for figure in figures {
            let store = figure["store"].as_f64();
            assert!(
                store.is_some_and(|v| v > 0.0),
                "{backend}: {} has no store figure: {figure}",
                figure["key"]
            );
        }
        if backend == "sqlite" {
            let full = figures
                .iter()
                .find(|f| f["key"] == "full_read")
                .expect("the full read");
            assert!(
                full["details"]["more"]["two_thread_speedup_before"].is_number(),
                "{full}"
            );
        } else {
            assert!(keys.contains("append_100x1_gin"), "{keys:?}");
        }
    }
    let met = report["targets_met"].as_u64().unwrap_or(0);
    let missed = report["targets_missed"].as_u64().unwrap_or(0);
    assert!(met + missed >= 30, "{met} met, {missed} missed");
}
