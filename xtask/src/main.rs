//! Project automation, run as `cargo xtask <command>` (an alias in .cargo/config.toml).
//!
//! - `test`: formatting, clippy (on the workspace, then on each crate and each facade
//!   feature alone), every test (nextest where installed) and the doc tests,
//!   with PostgreSQL found or started for the backends that need it. CI runs exactly
//!   this.
//! - `bench [ARGS]`: the benchmark harness (`crates/eventstore-bench`) in release mode,
//!   on SQLite and on PostgreSQL (found as for `test`); `--peers` adds postgres-es.
//! - `stress [ARGS]`: the long modes of the reliability suite (docs/reliability.md).

#![allow(clippy::print_stdout)] // A command-line tool reports to its terminal.

mod bench;
mod cmd;
mod postgres;
mod stress;
mod test;

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test" | "ci") => test::run(),
        Some("bench") => bench::run_bench(&args[1..]),
        Some("stress") => stress::run(&args[1..]),
        Some("postgres") => postgres::find().map(|url| println!("{url}")),
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n\
                 commands:\n  \
                 test         fmt, clippy, all tests and doc tests (what CI runs)\n  \
                 bench [ARGS] the benchmark harness in release mode (--quick, --full, --peers, --help)\n  \
                 stress [ARGS] the long reliability modes (--events, --repeats, --crashes, --faults)\n  \
                 postgres     find or start PostgreSQL and print its URL"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (the parent of this crate's directory).
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_owned()
}
