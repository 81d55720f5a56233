//! What the figures were measured on, for the report.

use serde_json::{Value, json};

/// The 1-minute load average now.
pub(crate) fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().and_then(|v| v.parse().ok()))
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
            "rustc": self.rustc,
            "sqlite": self.sqlite,
            "release_build": self.release,
            "date": self.date,
        })
    }
}
