//! `cargo xtask stress`: the long modes of the reliability suite (docs/reliability.md),
//! on both backends. Each figure can be set: `--events N` (per writer, 8 writers),
//! `--repeats N` (stress and gap rounds), `--crashes N` (SIGKILLs per crash test),
//! `--faults N` (terminations per server-fault test).

use crate::cmd::{cargo, export};

/// The long-mode figures, as docs/reliability.md records them.
struct Figures {
    events: u64,
    repeats: u64,
    crashes: u64,
    faults: u64,
}

fn parse(args: &[String]) -> Result<Figures, String> {
    let mut figures = Figures {
        events: 10_000,
        repeats: 3,
        crashes: 100,
        faults: 50,
    };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let slot = match flag.as_str() {
            "--events" => &mut figures.events,
            "--repeats" => &mut figures.repeats,
            "--crashes" => &mut figures.crashes,
            "--faults" => &mut figures.faults,
            other => return Err(format!("unknown stress option {other}")),
        };
        *slot = args
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{flag} needs a number"))?;
    }
    Ok(figures)
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let figures = parse(args)?;
    let url = crate::postgres::find()?;
    println!("\n==> PostgreSQL for the stress run: {url}");
    export("DATABASE_URL", &url);
    export("STRESS_EVENTS", &figures.events.to_string());
    export("STRESS_REPEATS", &figures.repeats.to_string());
    export("GAP_REPEATS", &figures.repeats.to_string());
    export("FAULT_REPEATS", &figures.faults.to_string());
    // One test binary at a time, each test alone: the figures are what each test saw,
    // printed as it finishes.
    let runs: [(&str, &[&str]); 2] = [
        (
            "eventstore-sqlite",
            &["stress", "crash", "replay", "delivery", "conformance"],
        ),
        (
            "eventstore-postgres",
            &[
                "stress",
                "crash",
                "faults",
                "gap",
                "replay",
                "outbox",
                "delivery",
                "conformance",
            ],
        ),
    ];
    for (package, tests) in runs {
        for test in tests {
            let filter: &[&str] = if *test == "conformance" {
                &["bad_input"]
            } else {
                &[]
            };
            // Projection and relay crash rounds restart a runner over hundreds of events
            // each: a fifth of the appender's kills keeps the run within minutes.
            let crashes = match *test {
                "replay" | "delivery" => (figures.crashes / 5).max(1),
                _ => figures.crashes,
            };
            export("CRASH_REPEATS", &crashes.to_string());
            let mut args = vec!["test", "-p", package, "--test", test, "--"];
            args.extend_from_slice(filter);
            args.extend(["--nocapture", "--test-threads", "1"]);
            cargo(&args, &[])?;
        }
    }
    println!("\nthe long modes passed");
    Ok(())
}
