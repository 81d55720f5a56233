//! Progress bars, drawn only when stderr is a terminal: piped output stays clean.

use std::io::IsTerminal as _;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// What a bar counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    /// Input bytes (an import: the size of its files is known before the events are).
    Bytes,
    /// Events.
    Events,
}

/// A bar over `total` units (a spinner with a rate when the total is unknown), hidden
/// unless stderr is a terminal and `enabled`. Its message says what it is doing.
pub(crate) fn bar(total: Option<u64>, unit: Unit, enabled: bool) -> ProgressBar {
    let bar = match total {
        Some(total) => ProgressBar::new(total),
        None => ProgressBar::no_length(),
    };
    if !enabled || !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
        return bar;
    }
    let template = match (total, unit) {
        (Some(_), Unit::Events) => {
            "{msg} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} \
             ({per_sec}, ETA {eta})"
        }
        (None, Unit::Events) => "{msg} [{elapsed_precise}] {spinner} {human_pos} ({per_sec})",
        (Some(_), Unit::Bytes) => {
            "{msg} [{elapsed_precise}] {wide_bar} {binary_bytes}/{binary_total_bytes} \
             ({binary_bytes_per_sec}, ETA {eta})"
        }
        (None, Unit::Bytes) => {
            "{msg} [{elapsed_precise}] {spinner} {binary_bytes} ({binary_bytes_per_sec})"
        }
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}
