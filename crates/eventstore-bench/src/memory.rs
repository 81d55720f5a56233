//! The process's memory from `/proc/self/status`, with the peak reset through
//! `/proc/self/clear_refs` so that a peak belongs to one workload (Linux only).

use std::io;

/// Resident memory now and at its peak since the last [`reset_peak`], in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Memory {
    /// `VmRSS`.
    pub(crate) rss_kib: u64,
    /// `VmHWM`, the high-water mark of `VmRSS`.
    pub(crate) peak_kib: u64,
}

/// Resets the high-water mark to the current resident size (writing `5` to
/// `clear_refs` does that on Linux 4.0 and later).
pub(crate) fn reset_peak() -> io::Result<()> {
    std::fs::write("/proc/self/clear_refs", "5")
}

/// Reads `VmRSS` and `VmHWM`.
pub(crate) fn current() -> io::Result<Memory> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| io::Error::other(format!("no {name} in /proc/self/status")))
    };
    Ok(Memory {
        rss_kib: field("VmRSS:")?,
        peak_kib: field("VmHWM:")?,
    })
}

/// Resident memory when a workload started and its peak during the workload, in MiB.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Peak {
    /// `VmRSS` just after the reset.
    pub(crate) start_mib: f64,
    /// `VmHWM` at the end.
    pub(crate) peak_mib: f64,
}

impl Peak {
    /// The higher of two peaks, either of which may be missing.
    pub(crate) fn higher(a: Option<Self>, b: Option<Self>) -> Option<Self> {
        match (a, b) {
            (Some(a), Some(b)) if b.peak_mib > a.peak_mib => Some(b),
            (None, b) => b,
            (a, _) => a,
        }
    }
}

/// The highest resident memory each side of a workload reached over its rounds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Peaks {
    /// Through the store.
    pub(crate) store: Option<Peak>,
    /// Through the plain SQL.
    pub(crate) raw: Option<Peak>,
}

impl Peaks {
    /// Keeps the store's peak of a round if it is the highest so far.
    pub(crate) fn store(&mut self, peak: Option<Peak>) {
        self.store = Peak::higher(self.store, peak);
    }

    /// Keeps the baseline's peak of a round if it is the highest so far.
    pub(crate) fn raw(&mut self, peak: Option<Peak>) {
        self.raw = Peak::higher(self.raw, peak);
    }
}

/// Runs `f` and returns its result with the resident memory it started from and peaked
/// at (`None` where the peak cannot be reset or read).
pub(crate) fn peak<T>(f: impl FnOnce() -> T) -> (T, Option<Peak>) {
    let start = reset_peak().and_then(|()| current());
    let out = f();
    let peak = start.and_then(|start| {
        let end = current()?;
        Ok(Peak {
            start_mib: start.rss_kib as f64 / 1024.0,
            peak_mib: end.peak_kib as f64 / 1024.0,
        })
    });
    (out, peak.ok())
}
