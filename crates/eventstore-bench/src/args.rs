//! The command line: `eventstore-bench [--quick] [--events N] [--rounds N] [--only LIST]
//! [--out DIR]`.

use std::path::PathBuf;

/// What `--help` prints.
pub(crate) const USAGE: &str = "\
eventstore-bench: the SQLite event store against plain rusqlite running the same SQL

USAGE:
    eventstore-bench [--quick] [--events N] [--rounds N] [--only LIST] [--out DIR]

OPTIONS:
    --quick       small sizes, one round: a smoke test that runs in well under a minute
    --events N    events loaded for the read workloads (default 1000000; --quick 50000)
    --rounds N    rounds of each throughput workload, best kept (default 2; --quick 1)
    --only LIST   run only these workloads, by number: --only 2,5 (default: 1 to 8)
    --out DIR     where sqlite.json is written (default: target/bench in the workspace)
    -h, --help    this text
";

/// The parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Args {
    /// Shrink every size for a smoke test.
    pub(crate) quick: bool,
    /// Size of the read data set, when given.
    pub(crate) events: Option<u64>,
    /// Rounds per throughput workload, when given.
    pub(crate) rounds: Option<u32>,
    /// The workloads to run (1 to 8); all when empty.
    pub(crate) only: Vec<u8>,
    /// Output directory, when given.
    pub(crate) out: Option<PathBuf>,
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    /// Run the benchmark.
    Run(Args),
    /// Print [`USAGE`].
    Help,
}

/// Parses the arguments after the program name.
pub(crate) fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut parsed = Args {
        quick: false,
        events: None,
        rounds: None,
        only: Vec::new(),
        out: None,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg, None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "--quick" => parsed.quick = true,
            "--events" => parsed.events = Some(positive(&value("--events")?, "--events")?),
            "--rounds" => {
                let rounds = positive(&value("--rounds")?, "--rounds")?;
                parsed.rounds = Some(u32::try_from(rounds).map_err(|_| "--rounds is too large")?);
            }
            "--only" => parsed.only = workloads(&value("--only")?)?,
            "--out" => parsed.out = Some(PathBuf::from(value("--out")?)),
            "-h" | "--help" => return Ok(Command::Help),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Command::Run(parsed))
}

/// A number of at least 1, with `_` allowed as a digit separator (`1_000_000`).
fn positive(text: &str, name: &str) -> Result<u64, String> {
    match text.replace('_', "").parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{name} takes a positive integer, not {text:?}")),
    }
}

/// A comma-separated list of workload numbers, 1 to 8.
fn workloads(text: &str) -> Result<Vec<u8>, String> {
    text.split(',')
        .map(|n| match n.trim().parse::<u8>() {
            Ok(n @ 1..=8) => Ok(n),
            _ => Err(format!("--only takes workload numbers 1 to 8, not {n:?}")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses a command line written as one string.
    fn run(line: &str) -> Result<Command, String> {
        parse(line.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn flags_and_values() {
        assert_eq!(
            run("--quick --events 1_000 --out /tmp/x --rounds=2 --only 2,5"),
            Ok(Command::Run(Args {
                quick: true,
                events: Some(1000),
                rounds: Some(2),
                only: vec![2, 5],
                out: Some(PathBuf::from("/tmp/x")),
            }))
        );
        assert_eq!(run("--help"), Ok(Command::Help));
        assert!(run("--events 0").is_err());
        assert!(run("--events").is_err());
        assert!(run("--bogus").is_err());
        assert!(run("--only 9").is_err());
    }
}
