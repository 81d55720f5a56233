//! What the figures were measured on, for the report.

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The 1-minute load average now.
pub(crate) fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().and_then(|v| v.parse().ok()))
}

/// How much CPU work two threads get done at once, against one thread alone: about 2
/// where the two CPUs run in parallel, about 1 where they share one core. The work
/// parses a JSON document again and again (allocating, branching, reading memory, as
/// decoding events does), best of three tries each way, ~0.6 s in all. On a virtual
/// machine the host decides, and it can change within minutes: the figure says how
/// much the store's two-thread pipelines (the SQLite reads: reading on one thread,
/// decoding on another) could gain over one-thread baselines when it was taken.
pub(crate) fn two_thread_speedup() -> f64 {
    const DOC: &str = r#"{"order":{"id":"9f1c2d3e-4b5a-6789-abcd-ef0123456789","lines":[{"sku":"A-1","qty":2,"price":12.5},{"sku":"B-22","qty":1,"price":99.99},{"sku":"C-333","qty":7,"price":0.5}],"customer":{"name":"Ada Lovelace","email":"ada@example.com","tags":["vip","early","eu"]},"total":128.49,"paid":true,"note":null}}"#;
    /// Parses enough times to take ~100 ms on one of this project's CI cores.
    fn work() -> Duration {
        let start = Instant::now();
        for _ in 0..25_000 {
            let _ = black_box(serde_json::from_str::<Value>(black_box(DOC)));
        }
        start.elapsed()
    }
    let best = |f: &dyn Fn() -> Duration| (0..3).map(|_| f()).min().unwrap_or_default();
    let one = best(&work);
    let two = best(&|| {
        std::thread::scope(|s| {
            let other = s.spawn(work);
            let mine = work();
            mine.max(other.join().unwrap_or_default())
        })
    });
    let ratio = 2.0 * one.as_secs_f64() / two.as_secs_f64().max(1e-9);
    (ratio * 100.0).round() / 100.0
}

/// The machine, the toolchain and the time of the run.
#[derive(Debug, Clone)]
pub(crate) struct Machine {
    /// `model name` from `/proc/cpuinfo`.
    pub(crate) cpu: String,
    /// CPUs this process may run on.
    pub(crate) cores: usize,
    /// Total memory in GiB, from `/proc/meminfo`.
    pub(crate) memory_gib: Option<f64>,
    /// The kernel release.
    pub(crate) kernel: Option<String>,
    /// The 1-minute load average when the run started: other work on the machine.
    pub(crate) load_average: Option<f64>,
    /// [`two_thread_speedup`] when the run started.
    pub(crate) two_thread_speedup: f64,
    /// `rustc -V` of the compiler that built this binary.
    pub(crate) rustc: &'static str,
    /// The bundled SQLite's version.
    pub(crate) sqlite: &'static str,
    /// Whether this is an optimized build.
    pub(crate) release: bool,
    /// When the run started (RFC 3339, UTC).
    pub(crate) date: String,
}

impl Machine {
    /// Reads what Linux tells about the machine; what it cannot tell is left out.
    pub(crate) fn detect() -> Self {
        let read = |path: &str| std::fs::read_to_string(path).ok();
        let cpu = read("/proc/cpuinfo")
            .and_then(|info| {
                info.lines()
                    .find_map(|l| l.strip_prefix("model name"))
                    .and_then(|rest| rest.split_once(':'))
                    .map(|(_, model)| model.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".to_owned());
        let memory_gib = read("/proc/meminfo").and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<f64>()
                        .ok()
                })
                .map(|kib| kib / 1024.0 / 1024.0)
        });
        Self {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_gib,
            kernel: read("/proc/sys/kernel/osrelease").map(|k| k.trim().to_owned()),
            load_average: load_average(),
            two_thread_speedup: two_thread_speedup(),
            rustc: env!("BENCH_RUSTC_VERSION"),
            sqlite: rusqlite::version(),
            release: !cfg!(debug_assertions),
            date: eventstore_core::timestamp::format_rfc3339(
                eventstore_core::time::OffsetDateTime::now_utc(),
            ),
        }
    }

    /// The machine as JSON.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "cpu": self.cpu,
            "cores": self.cores,
            "memory_gib": self.memory_gib.map(|g| (g * 10.0).round() / 10.0),
            "kernel": self.kernel,
            "load_average_1m": self.load_average,
            "two_thread_speedup": self.two_thread_speedup,
            "rustc": self.rustc,
            "sqlite": self.sqlite,
            "release_build": self.release,
            "date": self.date,
        })
    }
}
