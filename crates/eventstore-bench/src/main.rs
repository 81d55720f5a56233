//! `eventstore-bench`: the benchmark harness behind `cargo xtask bench`.
//!
//! Every workload runs through the store's public API and through the plain SQL the
//! store wraps, on the same schema, in the same run, on SQLite (a file) and PostgreSQL
//! (`DATABASE_URL`); batched appends also against the seed project's schema, and, with
//! the peers crate's figures merged in, against postgres-es. It prints a table per
//! backend, writes `target/bench/report.json` and can regenerate docs/benchmarks.md
//! from it. See `--help` for the options.

#![allow(clippy::print_stdout)] // A command-line tool: its report is its output.

/// When the run started, for the progress lines' clock.
static STARTED: std::sync::LazyLock<std::time::Instant> =
    std::sync::LazyLock::new(std::time::Instant::now);

/// A progress line on stderr after the time since the run started (`[m:ss]`), so that
/// a run's log shows where its minutes go.
macro_rules! progress {
    ($($arg:tt)*) => {{
        let secs = $crate::STARTED.elapsed().as_secs();
        eprintln!("[{:>2}:{:02}] {}", secs / 60, secs % 60, format_args!($($arg)*));
    }};
}

mod args;
mod dataset;
mod docs;
mod figures;
mod follow;
mod machine;
mod measure;
mod memory;
mod peers;
mod postgres;
mod report;
mod rng;
mod seed;
mod sizes;
mod sqlite;
mod workload;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::args::{Args, Backends, Command};
use crate::dataset::Dataset;
use crate::machine::Machine;
use crate::report::Section;
use crate::sizes::Sizes;
use crate::workload::Wants;

/// Seed of the data set: the same events in every run.
const SEED: u64 = 0x0000_c10d_e7e5;

/// How the comparison is kept fair, for the JSON and the docs.
const METHOD: &str = "throughput workloads: best of `rounds` rounds per side, a fresh \
    file or table each round, sides alternating which goes first; eight writers append \
    to subjects of their own (each to 125 of the 1,000), except in the workload named \
    'sharing subjects', where every writer's batches span all of them; per-call workloads: \
    after a warm-up, both sides make the same calls on the same random keys in blocks \
    of 16 (one side's block, then the other's, the first side alternating) and must \
    return the same number of events; on SQLite each call of either side is timed inside \
    a task freshly spawned on a runtime worker, where an application makes it (the \
    store's short calls run there through `block_in_place`, the baseline's statement \
    inline, and once more under `block_in_place` for `get`, to show what the hand-off \
    costs); the baseline binds \
    column values computed before the clock starts and reads every column into owned \
    values without building events; replay's baseline is the plain full read, the relay \
    drain's a relay by hand: the same read in batches of the relay's size, each handed \
    to a no-op sender and its last sequence then saved with the store's checkpoint \
    statement, while the store's relay hands its batches to a sender that counts them \
    and reports once, when the whole backlog is through; the relay drain filtered on one \
    type (the store's relay with that type as its filter) against a relay by hand \
    paging through the type's events with the statement the store's query builder \
    makes for that query (`type = $1 AND sequence > $2 ORDER BY sequence LIMIT $3`, \
    prepared once on PostgreSQL), each page handed to the no-op sender and its last \
    sequence saved with the store's checkpoint statement; peak RSS: the process's \
    high-water mark (`VmHWM`), reset before each round of each side of the workloads \
    that stream the read set (full read, keyset walk, replay, relay drain, filtered \
    relay drain), the highest round kept; the resident memory a round started from is \
    in the details";

/// Parses the command line and runs the benchmark.
fn main() -> ExitCode {
    std::sync::LazyLock::force(&STARTED);
    let args = match args::parse(std::env::args().skip(1)) {
        Ok(Command::Run(args)) => args,
        Ok(Command::Help) => {
            print!("{}", args::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(Command::ImportSqlite { path, events }) => return import_sqlite(&path, events),
        Err(message) => {
            eprintln!("eventstore-bench: {message}\n\n{}", args::USAGE);
            return ExitCode::from(2);
        }
    };
    if cfg!(debug_assertions) {
        eprintln!("warning: a debug build; run with --release for figures that mean anything");
    }
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("eventstore-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// [`Command::ImportSqlite`]: imports the read set and prints the import's time in
/// nanoseconds, for the run that started this process.
fn import_sqlite(path: &Path, events: u64) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("eventstore-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    let elapsed = sqlite::import_read_set(&rt, path, Dataset::new(SEED), events);
    println!("{}", elapsed.as_nanos());
    ExitCode::SUCCESS
}

/// The workspace root.
fn workspace() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.ancestors().nth(2).unwrap_or(manifest).to_owned()
}

/// Does what `args` asks.
fn run(args: &Args) -> std::io::Result<()> {
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| workspace().join("target").join("bench"));
    let report_path = out.join("report.json");
    let docs_path = workspace().join("docs").join("benchmarks.md");
    let sizes = Sizes::from_args(args);
    let dataset = Dataset::new(SEED);
    if let Some(dir) = &args.export_peers {
        return peers::export(dir, dataset, &sizes);
    }
    if args.docs_only {
        return docs::write(&report_path, &docs_path);
    }

    if args.backends == Backends::All {
        return run_each_backend(&out, args);
    }
    let machine = Machine::detect();
    let wants = Wants::new(&args.only);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut sections: Vec<Section> = Vec::new();
    if args.backends.sqlite() {
        sections.push(sqlite::run(&rt, dataset, &sizes, &wants)?);
    }
    if args.backends.postgres() {
        let url = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let mut section = postgres::run(&rt, &url, dataset, &sizes, &wants);
        if let Some(file) = &args.peers {
            section.figures.extend(peers::figures(file, &section)?);
        }
        sections.push(section);
    }

    println!();
    println!(
        "{} ({} cores, load average {} and two threads' speedup {:.2}× at the start), {}, {}",
        machine.cpu,
        machine.cores,
        machine
            .load_average
            .map_or_else(|| "unknown".to_owned(), |l| format!("{l:.2}")),
        machine.two_thread_speedup,
        machine.rustc,
        machine.date
    );
    println!("ratio: the store's speed over the baseline's (≥1: as fast or faster)");
    for section in &sections {
        println!();
        println!("{}", section.title);
        println!();
        print!("{}", report::table(&section.figures));
    }
    let mut machine_json = machine.to_json();
    machine_json["load_average_1m_at_end"] = serde_json::json!(machine::load_average());
    machine_json["two_thread_speedup_at_end"] = serde_json::json!(machine::two_thread_speedup());
    let report = report::json(machine_json, sizes.to_json(), &sections, METHOD);
    std::fs::create_dir_all(&out)?;
    let text = serde_json::to_string_pretty(&report).map_err(std::io::Error::other)?;
    std::fs::write(&report_path, text + "\n")?;
    println!();
    println!("written to {}", report_path.display());
    if args.write_docs {
        docs::write(&report_path, &docs_path)?;
        println!("regenerated {}", docs_path.display());
    }
    Ok(())
}

/// Runs each backend in a process of its own (so that each full read's peak memory is
/// its own, not what the other backend's workloads left allocated), then merges their
/// reports into `out/report.json` and prints their tables.
fn run_each_backend(out: &Path, args: &Args) -> std::io::Result<()> {
    let exe = std::env::current_exe()?;
    // The parent's own arguments, less those it sets per child.
    let mut passed: Vec<String> = Vec::new();
    let mut given = std::env::args().skip(1);
    while let Some(arg) = given.next() {
        match arg.as_str() {
            "--backend" | "--out" => {
                given.next();
            }
            "--write-docs" => {}
            a if a.starts_with("--backend=") || a.starts_with("--out=") => {}
            _ => passed.push(arg),
        }
    }
    let mut reports = Vec::new();
    for backend in ["sqlite", "postgres"] {
        let dir = out.join(backend);
        let mut child = std::process::Command::new(&exe);
        let mut child_args = passed.clone();
        if backend == "sqlite" {
            // The peers' figures are PostgreSQL's.
            if let Some(i) = child_args.iter().position(|a| a == "--peers") {
                child_args.drain(i..(i + 2).min(child_args.len()));
            }
        }
        child
            .args(&child_args)
            .args(["--backend", backend, "--out"])
            .arg(&dir);
        let status = child.status()?;
        if !status.success() {
            return Err(std::io::Error::other(format!(
                "the {backend} run failed ({status})"
            )));
        }
        let text = std::fs::read_to_string(dir.join("report.json"))?;
        reports
            .push(serde_json::from_str::<serde_json::Value>(&text).map_err(std::io::Error::other)?);
    }
    let merged = report::merge(reports);
    println!();
    println!("both backends:");
    for section in merged["sections"].as_array().into_iter().flatten() {
        println!();
        println!("{}", section["title"].as_str().unwrap_or_default());
        println!();
        print!("{}", section["table"].as_str().unwrap_or_default());
    }
    let report_path = out.join("report.json");
    let text = serde_json::to_string_pretty(&merged).map_err(std::io::Error::other)?;
    std::fs::write(&report_path, text + "\n")?;
    println!();
    println!("written to {}", report_path.display());
    if args.write_docs {
        let docs_path = workspace().join("docs").join("benchmarks.md");
        docs::write(&report_path, &docs_path)?;
        println!("regenerated {}", docs_path.display());
    }
    Ok(())
}
