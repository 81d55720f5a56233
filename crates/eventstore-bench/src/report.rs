//! The figures, their targets, and how they are shown: a table on stdout and JSON.

use std::fmt::Write as _;

use serde_json::{Value, json};

/// What a figure measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    /// Events per second: higher is better.
    EventsPerSec,
    /// Microseconds per call: lower is better.
    Micros,
    /// Mebibytes of resident memory: lower is better.
    MiB,
}

impl Unit {
    /// The unit's name in the JSON.
    fn name(self) -> &'static str {
        match self {
            Self::EventsPerSec => "events/s",
            Self::Micros => "us",
            Self::MiB => "MiB",
        }
    }

    /// A value with its unit, for the table.
    fn show(self, value: f64) -> String {
        match self {
            Self::EventsPerSec => format!("{} ev/s", thousands(value)),
            Self::Micros if value >= 10_000.0 => format!("{:.1} ms", value / 1000.0),
            Self::Micros => format!("{value:.1} µs"),
            Self::MiB => format!("{value:.1} MiB"),
        }
    }
}

/// A bound a figure must meet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Target {
    /// The store at least this fraction of the baseline's speed.
    RatioAtLeast(f64),
    /// The store's value at least this.
    StoreAtLeast(f64),
    /// The store's value at most this.
    StoreAtMost(f64),
}

impl Target {
    /// The target as the table shows it.
    fn show(self, unit: Unit) -> String {
        match self {
            Self::RatioAtLeast(r) => format!("≥{r}× raw"),
            Self::StoreAtLeast(v) => format!("≥{}", unit.show(v)),
            Self::StoreAtMost(v) => format!("≤{}", unit.show(v)),
        }
    }
}

/// One line of the report: the store's figure, the baseline's, and the targets.
#[derive(Debug, Clone)]
pub(crate) struct Figure {
    /// A stable name for the JSON.
    pub(crate) key: &'static str,
    /// What the table calls it.
    pub(crate) label: String,
    /// Its unit.
    pub(crate) unit: Unit,
    /// The store's value (`None`: could not be measured here).
    pub(crate) store: Option<f64>,
    /// The baseline's value.
    pub(crate) raw: Option<f64>,
    /// What the store must meet.
    pub(crate) targets: Vec<Target>,
    /// More numbers for the JSON only.
    pub(crate) details: Value,
}

impl Figure {
    /// The store's speed relative to the baseline's (above 1: the store is faster):
    /// store/raw for rates, raw/store for latencies; none for memory.
    pub(crate) fn ratio(&self) -> Option<f64> {
        let (store, raw) = (self.store?, self.raw?);
        match self.unit {
            Unit::EventsPerSec => Some(store / raw),
            Unit::Micros => Some(raw / store),
            Unit::MiB => None,
        }
    }

    /// Whether `target` holds (`None`: not measured).
    fn meets(&self, target: Target) -> Option<bool> {
        Some(match target {
            Target::RatioAtLeast(r) => self.ratio()? >= r,
            Target::StoreAtLeast(v) => self.store? >= v,
            Target::StoreAtMost(v) => self.store? <= v,
        })
    }

    /// Whether every target holds (`None`: no target, or one not measured).
    pub(crate) fn pass(&self) -> Option<bool> {
        if self.targets.is_empty() {
            return None;
        }
        self.targets
            .iter()
            .map(|t| self.meets(*t))
            .try_fold(true, |all, one| Some(all && one?))
    }

    /// The figure as JSON.
    fn to_json(&self) -> Value {
        let round = |v: Option<f64>| v.map(|v| (v * 100.0).round() / 100.0);
        let targets: Vec<Value> = self
            .targets
            .iter()
            .map(|t| {
                let (kind, value) = match *t {
                    Target::RatioAtLeast(v) => ("ratio_at_least", v),
                    Target::StoreAtLeast(v) => ("store_at_least", v),
                    Target::StoreAtMost(v) => ("store_at_most", v),
                };
                json!({ "kind": kind, "value": value, "pass": self.meets(*t) })
            })
            .collect();
        json!({
            "key": self.key,
            "label": self.label,
            "unit": self.unit.name(),
            "store": round(self.store),
            "raw": round(self.raw),
            "ratio": self.ratio().map(|r| (r * 1000.0).round() / 1000.0),
            "targets": targets,
            "pass": self.pass(),
            "details": self.details,
        })
    }
}

/// Writes `value` with thousands separators, rounded to an integer.
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The table printed on stdout.
pub(crate) fn table(figures: &[Figure]) -> String {
    let rows: Vec<[String; 6]> = figures
        .iter()
        .map(|f| {
            let show = |v: Option<f64>| v.map_or_else(|| "n/a".to_owned(), |v| f.unit.show(v));
            let targets: Vec<String> = f.targets.iter().map(|t| t.show(f.unit)).collect();
            [
                f.label.clone(),
                show(f.store),
                show(f.raw),
                f.ratio()
                    .map_or_else(|| "-".to_owned(), |r| format!("{r:.2}")),
                if targets.is_empty() {
                    "-".to_owned()
                } else {
                    targets.join(", ")
                },
                match f.pass() {
                    Some(true) => "pass".to_owned(),
                    Some(false) => "FAIL".to_owned(),
                    None if f.targets.is_empty() => "-".to_owned(),
                    None => "n/a".to_owned(),
                },
            ]
        })
        .collect();
    let header = ["workload", "store", "raw", "ratio", "target", "result"];
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: [&str; 6]| {
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            let pad = w - cell.chars().count();
            // Labels left-aligned, numbers right-aligned, the rest left.
            if (1..=3).contains(&i) {
                let _ = write!(out, "{}{cell}  ", " ".repeat(pad));
            } else {
                let _ = write!(out, "{cell}{}  ", " ".repeat(pad));
            }
        }
        let trimmed = out.trim_end().len();
        out.truncate(trimmed);
        out.push('\n');
    };
    line(header);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    line([&rule[0], &rule[1], &rule[2], &rule[3], &rule[4], &rule[5]]);
    for row in &rows {
        line([&row[0], &row[1], &row[2], &row[3], &row[4], &row[5]]);
    }
    out
}

/// One backend's figures (or the peers').
#[derive(Debug, Clone)]
pub(crate) struct Section {
    /// `sqlite`, `postgres` or `peers`.
    pub(crate) backend: &'static str,
    /// The heading above its table: what was compared with what.
    pub(crate) title: String,
    /// Its figures.
    pub(crate) figures: Vec<Figure>,
    /// More facts for the JSON.
    pub(crate) notes: Value,
}

impl Section {
    /// The section as JSON.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "backend": self.backend,
            "title": self.title,
            "table": table(&self.figures),
            "figures": self.figures.iter().map(Figure::to_json).collect::<Vec<_>>(),
            "all_targets_met": self.figures.iter().all(|f| f.pass() != Some(false)),
            "notes": self.notes,
        })
    }
}

/// The whole report as JSON.
pub(crate) fn json(machine: Value, sizes: Value, sections: &[Section], method: &str) -> Value {
    let figures = sections.iter().flat_map(|s| &s.figures);
    let (mut met, mut missed) = (0, 0);
    for f in figures {
        match f.pass() {
            Some(true) => met += 1,
            Some(false) => missed += 1,
            None => {}
        }
    }
    json!({
        "machine": machine,
        "sizes": sizes,
        "method": method,
        "sections": sections.iter().map(Section::to_json).collect::<Vec<_>>(),
        "targets_met": met,
        "targets_missed": missed,
    })
}

/// One report of the backends' separate reports: the first's machine (with the last's
/// load at the end), every section, the targets summed.
pub(crate) fn merge(reports: Vec<Value>) -> Value {
    let mut merged = reports.first().cloned().unwrap_or_else(|| json!({}));
    if let Some(last) = reports.last() {
        merged["machine"]["load_average_1m_at_end"] =
            last["machine"]["load_average_1m_at_end"].clone();
        merged["machine"]["two_thread_speedup_at_end"] =
            last["machine"]["two_thread_speedup_at_end"].clone();
    }
    let sum = |key: &str| reports.iter().filter_map(|r| r[key].as_u64()).sum::<u64>();
    merged["targets_met"] = json!(sum("targets_met"));
    merged["targets_missed"] = json!(sum("targets_missed"));
    merged["sections"] = Value::Array(
        reports
            .iter()
            .flat_map(|r| r["sections"].as_array().cloned().unwrap_or_default())
            .collect(),
    );
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_and_targets() {
        let f = Figure {
            key: "k",
            label: "l".to_owned(),
            unit: Unit::Micros,
            store: Some(110.0),
            raw: Some(100.0),
            targets: vec![Target::RatioAtLeast(0.9)],
            details: Value::Null,
        };
        assert!((f.ratio().unwrap() - 0.909).abs() < 0.001);
        assert_eq!(f.pass(), Some(true));
        assert_eq!(thousands(1_234_567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
        assert!(table(&[f]).contains("0.91"));
    }
}
