//! One module per command.

mod append;
mod bench;
mod demo;
mod import;
mod migrate;
mod read;
mod relay;
pub(crate) mod stats;
mod tail;

use std::io::Write as _;

use anyhow::{Context as _, Result};
use clap::CommandFactory as _;

use crate::Context;
use crate::backend::Backend;
use crate::cli::{Cli, Command};
use crate::extension_types::ExtensionTypes;
use crate::failure::OK;

/// Runs `command`; returns the exit code (errors carry theirs).
pub(crate) async fn run(command: Command, cx: Context) -> Result<u8> {
    match command {
        Command::Completions { shell } => {
            // Into a buffer first: `generate` panics on a write error, such as a closed pipe.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "eventstore", &mut script);
            std::io::stdout().lock().write_all(&script)?;
            Ok(OK)
        }
        Command::Demo { keep } => demo::run(&cx, keep).await,
        Command::Migrate => migrate::run(&cx).await,
        Command::Bench(args) => bench::run(&cx, &args).await,
        command => {
            check_flags(&command)?;
            let backend = if matches!(command, Command::Import(_)) {
                cx.target.open_bulk().await
            } else {
                cx.target.open(true).await
            }
            .with_context(|| format!("cannot open the store at {}", cx.target.display_url()))?;
            let result = on_store(command, &backend, &cx).await;
            // A failed close after a failed command must not hide the command's error.
            let closed = backend.close().await;
            let code = result?;
            closed?;
            Ok(code)
        }
    }
}

/// Reads the flags a command reads on the store beforehand, so that a malformed one is
/// a usage error before the store is opened (which creates and migrates a SQLite file
/// that is not there yet).
fn check_flags(command: &Command) -> Result<()> {
    let now = eventstore_sql::time::OffsetDateTime::now_utc();
    match command {
        Command::Query(args) => drop(args.filters.query(now)?),
        Command::Export(args) => drop(args.query.filters.query(now)?),
        Command::Tail(args) => {
            drop(args.filters.query(now)?);
            crate::filters::position(&args.from)?;
        }
        Command::Relay(args) => drop(args.filters.query(now)?),
        Command::Import(args) => drop(ExtensionTypes::parse(&args.extension_types)?),
        Command::Append(args) => append::check(args)?,
        _ => {}
    }
    Ok(())
}

async fn on_store(command: Command, backend: &Backend, cx: &Context) -> Result<u8> {
    match command {
        Command::Append(args) => append::run(backend, cx, &args).await,
        Command::Import(args) => import::run(backend, &args).await,
        Command::Export(args) => read::export(backend, &args).await,
        Command::Query(args) => read::query(backend, cx, &args).await,
        Command::Get { source, id } => read::get(backend, cx, &source, &id).await,
        Command::Stream { subject, from } => read::stream(backend, cx, &subject, from).await,
        Command::Tail(args) => tail::run(backend, cx, &args).await,
        Command::Stats { top } => stats::run(backend, cx, top).await,
        Command::Relay(args) => relay::run(backend, &args).await,
        Command::Completions { .. }
        | Command::Demo { .. }
        | Command::Migrate
        | Command::Bench(_) => {
            unreachable!("handled before the store is opened")
        }
    }
}
