//! `eventstore`: the command-line tool of eventstore-sql. See docs/cli.md.

/// `println!` that returns the write's `io::Result` instead of panicking, so that a
/// closed pipe (`eventstore stats | head -1`) ends the command quietly (see
/// `is_broken_pipe`).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}

mod backend;
mod cli;
mod commands;
mod extension_types;
mod failure;
mod filters;
mod output;
mod progress;

use std::process::ExitCode;

use clap::Parser as _;

use crate::backend::Target;
use crate::cli::{Cli, Output};

/// The default store: a SQLite file in the working directory.
const DEFAULT_URL: &str = "sqlite://eventstore.db";

/// What every command gets from the global options.
#[derive(Debug, Clone)]
pub(crate) struct Context {
    /// The store.
    pub(crate) target: Target,
    /// Whether the URL was given (by flag or EVENTSTORE_DATABASE_URL) rather than
    /// defaulted or taken from the generic DATABASE_URL.
    pub(crate) url_given: bool,
    /// How results are printed.
    pub(crate) output: Output,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let url_given = cli.database_url.is_some();
    let url = cli
        .database_url
        .or_else(|| std::env::var("DATABASE_URL").ok())
        .unwrap_or_else(|| DEFAULT_URL.to_owned());
    let context = Context {
        target: Target {
            url,
            table: cli.table,
        },
        url_given,
        output: cli.output,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return failure::report(&anyhow::Error::from(e).context("starting the runtime")),
    };
    match runtime.block_on(commands::run(cli.command, context)) {
        Ok(code) => ExitCode::from(code),
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => failure::report(&error),
    }
}

/// The reader of our output went away (`eventstore export | head`): not a failure.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
