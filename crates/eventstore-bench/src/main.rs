//! `eventstore-bench`: the benchmark harness behind `cargo xtask bench`.
//!
//! Every workload runs through the store's public API (`SqliteEventStore` on a file)
//! and through plain rusqlite issuing the same statements on the same schema with the
//! same pragmas, in the same run; the report gives both rates and their ratio, against
//! the project's targets. See `--help` for the options.

#![allow(clippy::print_stdout)] // A command-line tool: its report is its output.

mod append;
mod args;
mod dataset;
mod figures;
mod full_read;
mod handoff;
mod lookups;
mod machine;
mod measure;
mod memory;
mod raw;
mod readset;
mod report;
mod rng;
mod scratch;
mod sizes;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::json;

use crate::args::Command;
use crate::dataset::Dataset;
use crate::figures::{BATCHED_APPEND_TARGET, RATIO_TARGET};
use crate::lookups::{QUERY_LIMIT, Readers};
use crate::machine::Machine;
use crate::report::Target;
use crate::scratch::Scratch;
use crate::sizes::Sizes;

/// Seed of the data set: the same events in every run.
const SEED: u64 = 0x0000_c10d_e7e5;

/// Parses the command line and runs the benchmark.
fn main() -> ExitCode {
    let args = match args::parse(std::env::args().skip(1)) {
        Ok(Command::Run(args)) => args,
        Ok(Command::Help) => {
            print!("{}", args::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("eventstore-bench: {message}\n\n{}", args::USAGE);
            return ExitCode::from(2);
        }
    };
    if cfg!(debug_assertions) {
        eprintln!("warning: a debug build; run with --release for figures that mean anything");
    }
    let out = args.out.clone().unwrap_or_else(default_out_dir);
    let sizes = Sizes::from_args(&args);
    match run(sizes, &args.only, &out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("eventstore-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `target/bench` in the workspace this crate belongs to.
fn default_out_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = manifest.ancestors().nth(2).unwrap_or(manifest);
    workspace.join("target").join("bench")
}

/// Runs the workloads `only` names (all when empty), prints the table and writes
/// `sqlite.json` into `out`.
fn run(sizes: Sizes, only: &[u8], out: &Path) -> std::io::Result<()> {
    let machine = Machine::detect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let scratch = Scratch::new()?;
    let dataset = Dataset::new(SEED);
    let wants = |n: u8| only.is_empty() || only.contains(&n);

    // Reads first: the full read's peak memory is only its own in a process that has
    // not yet held the append workloads' data.
    let mut read_figures = Vec::new();
    let mut load = None;
    if (5..=8).any(wants) {
        eprintln!("loading {} events through the store…", sizes.read_events);
        let set = readset::load(&rt, &scratch, dataset, sizes.read_events);
        load = Some(set.load);
        if wants(5) {
            eprintln!("5/8 full read…");
            read_figures.extend(figures::full_read(
                &set,
                full_read::run(&rt, &set, sizes.rounds),
            ));
        }
        let readers = Readers::open(&rt, &set);
        if wants(6) {
            eprintln!("6/8 subject streams…");
            read_figures.extend(figures::stream(&readers.streams(sizes.stream_calls)));
        }
        if wants(7) {
            eprintln!("7/8 type + time range queries…");
            read_figures.push(figures::latency(
                "type_time_range_p50",
                format!("7 type + time range LIMIT {QUERY_LIMIT}, p50"),
                &readers.type_time_range(sizes.query_calls),
                vec![Target::RatioAtLeast(RATIO_TARGET)],
            ));
        }
        if wants(8) {
            eprintln!("8/8 gets by (source, id)…");
            read_figures.push(figures::latency(
                "get_by_id_p50",
                "8 get by (source, id), p50".to_owned(),
                &readers.gets(sizes.get_calls),
                vec![Target::RatioAtLeast(RATIO_TARGET)],
            ));
        }
        drop(readers);
        scratch.remove(&set.path);
    }

    let appends = [
        (1, "append_1x1", "append 1 event × 1 writer", sizes.single()),
        (
            2,
            "append_100x1",
            "append 100-event batches × 1 writer",
            sizes.batched(),
        ),
        (
            3,
            "append_1x8",
            "append 1 event × 8 writers",
            sizes.concurrent_single(),
        ),
        (
            4,
            "append_100x8",
            "append 100-event batches × 8 writers",
            sizes.concurrent_batched(),
        ),
    ];
    let mut all = Vec::new();
    for (n, key, label, shape) in appends.into_iter().filter(|w| wants(w.0)) {
        eprintln!("{n}/8 {label}…");
        let result = append::run(&rt, &scratch, dataset, shape, sizes.rounds);
        let mut targets = vec![Target::RatioAtLeast(RATIO_TARGET)];
        if n == 2 {
            targets.push(Target::StoreAtLeast(BATCHED_APPEND_TARGET));
        }
        all.push(figures::append(
            key,
            &format!("{n} {label}"),
            shape,
            result,
            targets,
        ));
    }
    all.extend(read_figures);

    println!();
    println!(
        "SQLite event store vs plain rusqlite — {} ({} cores), {}, SQLite {}, {}",
        machine.cpu, machine.cores, machine.rustc, machine.sqlite, machine.date
    );
    println!(
        "databases in {} (TMPDIR); ratio: the store's speed over the baseline's (≥1: as fast)",
        std::env::temp_dir().display()
    );
    println!();
    print!("{}", report::table(&all));

    let trips = handoff::spawn_blocking_round_trips(&rt, 5_000);
    println!();
    println!(
        "one spawn_blocking round trip here: p50 {:.1} µs, p90 {:.1} µs (every store call pays \
         at least one; the baseline none)",
        trips.percentile_us(50.0),
        trips.percentile_us(90.0)
    );
    let notes = json!({
        "database_dir": std::env::temp_dir(),
        "spawn_blocking_round_trip_us": {
            "p50": trips.percentile_us(50.0),
            "p90": trips.percentile_us(90.0),
            "p99": trips.percentile_us(99.0),
        },
        "load": load.map(|load| json!({
            "how": "the read set is loaded through the store",
            "batch": readset::LOAD_BATCH,
            "events": load.events,
            "events_per_sec": load.per_sec(),
        })),
        "method": "throughput workloads: best of `rounds` rounds per side, fresh file each \
                   round, sides alternating; per-call workloads: both sides take turns on \
                   the same random keys after a warm-up; the baseline binds precomputed \
                   column values and reads columns into owned values without building events",
    });
    let report = report::json(machine.to_json(), sizes.to_json(), &all, notes);
    std::fs::create_dir_all(out)?;
    let path = out.join("sqlite.json");
    let text = serde_json::to_string_pretty(&report).map_err(std::io::Error::other)?;
    std::fs::write(&path, text + "\n")?;
    println!();
    println!("written to {}", path.display());
    Ok(())
}
