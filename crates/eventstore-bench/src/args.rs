//! The command line; see [`USAGE`].

use std::path::PathBuf;

use crate::workload::WORKLOADS;

/// What `--help` prints.
pub(crate) const USAGE: &str = "\
eventstore-bench: the event store against the plain SQL it wraps, on SQLite and PostgreSQL

USAGE:
    eventstore-bench [OPTIONS]

OPTIONS:
    --quick            small sizes, one round: a smoke run of a minute or two
    --full             adds the 10M-event scale point on PostgreSQL (tens of minutes)
    --backend NAME     sqlite, postgres or all (default all)
    --events N         events in the read set (default 1000000; --quick 50000)
    --scale-events N   events of the large scale point (default 10000000 with --full)
    --rounds N         rounds of each throughput workload, best kept (default 2; --quick 1)
    --only LIST        only these workloads, comma-separated, of:
                       append_1x1 append_100x1 append_1x8 append_100x8
                       append_100x8_shared seed gin import full_read keyset
                       stream type_time type_time_index since get mmap follow
                       scale (gin: PostgreSQL only; type_time_index, mmap: SQLite
                       only)
    --out DIR          where report.json goes (default: target/bench in the workspace)
    --peers FILE       merge the peers' figures (what the peers crate wrote) into the report
    --export-peers DIR write the events and plan the peers crate appends, and exit
    --write-docs       regenerate docs/benchmarks.md from the report after the run
    --docs-only        regenerate docs/benchmarks.md from DIR/report.json, run nothing
    -h, --help         this text

PostgreSQL is reached at DATABASE_URL (cargo xtask bench finds or starts one).
";

/// Which backends a run covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backends {
    /// SQLite only.
    Sqlite,
    /// PostgreSQL only.
    Postgres,
    /// Both.
    All,
}

impl Backends {
    /// Whether SQLite runs.
    pub(crate) fn sqlite(self) -> bool {
        matches!(self, Self::Sqlite | Self::All)
    }

    /// Whether PostgreSQL runs.
    pub(crate) fn postgres(self) -> bool {
        matches!(self, Self::Postgres | Self::All)
    }
}

/// The parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Args {
    /// Shrink every size for a smoke test.
    pub(crate) quick: bool,
    /// Add the large scale point.
    pub(crate) full: bool,
    /// The backends to run.
    pub(crate) backends: Backends,
    /// Size of the read data set, when given.
    pub(crate) events: Option<u64>,
    /// Size of the large scale point, when given.
    pub(crate) scale_events: Option<u64>,
    /// Rounds per throughput workload, when given.
    pub(crate) rounds: Option<u32>,
    /// The workloads to run; all when empty.
    pub(crate) only: Vec<String>,
    /// Output directory, when given.
    pub(crate) out: Option<PathBuf>,
    /// The peers' figures to merge.
    pub(crate) peers: Option<PathBuf>,
    /// Where to export the peers' events instead of running.
    pub(crate) export_peers: Option<PathBuf>,
    /// Regenerate docs/benchmarks.md after the run.
    pub(crate) write_docs: bool,
    /// Only regenerate docs/benchmarks.md.
    pub(crate) docs_only: bool,
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    /// Run the benchmark.
    Run(Args),
    /// Print [`USAGE`].
    Help,
    /// Import events `0..events` into a new SQLite file through the store and print how
    /// long it took: how the SQLite read set is loaded, in a child process of the run
    /// (see `sqlite::readset::load`). Internal; not in [`USAGE`].
    ImportSqlite {
        /// The new file.
        path: PathBuf,
        /// How many events.
        events: u64,
    },
}

/// The internal flag of [`Command::ImportSqlite`]: `--import-sqlite-read-set PATH N`.
pub(crate) const IMPORT_SQLITE: &str = "--import-sqlite-read-set";

/// Parses the arguments after the program name.
pub(crate) fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut parsed = Args {
        quick: false,
        full: false,
        backends: Backends::All,
        events: None,
        scale_events: None,
        rounds: None,
        only: Vec::new(),
        out: None,
        peers: None,
        export_peers: None,
        write_docs: false,
        docs_only: false,
    };
    let mut args = args.into_iter().peekable();
    if args.next_if(|a| a == IMPORT_SQLITE).is_some() {
        let (Some(path), Some(events), None) = (args.next(), args.next(), args.next()) else {
            return Err(format!(
                "{IMPORT_SQLITE} takes a path and a number of events"
            ));
        };
        return Ok(Command::ImportSqlite {
            path: PathBuf::from(path),
            events: positive(&events, IMPORT_SQLITE)?,
        });
    }
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
            "--full" => parsed.full = true,
            "--backend" => {
                parsed.backends = match value("--backend")?.as_str() {
                    "sqlite" => Backends::Sqlite,
                    "postgres" => Backends::Postgres,
                    "all" => Backends::All,
                    other => {
                        return Err(format!(
                            "--backend takes sqlite, postgres or all, not {other:?}"
                        ));
                    }
                }
            }
            "--events" => parsed.events = Some(positive(&value("--events")?, "--events")?),
            "--scale-events" => {
                parsed.scale_events = Some(positive(&value("--scale-events")?, "--scale-events")?);
            }
            "--rounds" => {
                let rounds = positive(&value("--rounds")?, "--rounds")?;
                parsed.rounds = Some(u32::try_from(rounds).map_err(|_| "--rounds is too large")?);
            }
            "--only" => parsed.only = workloads(&value("--only")?)?,
            "--out" => parsed.out = Some(PathBuf::from(value("--out")?)),
            "--peers" => parsed.peers = Some(PathBuf::from(value("--peers")?)),
            "--export-peers" => parsed.export_peers = Some(PathBuf::from(value("--export-peers")?)),
            "--write-docs" => parsed.write_docs = true,
            "--docs-only" => parsed.docs_only = true,
            "-h" | "--help" => return Ok(Command::Help),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if parsed.quick && parsed.full {
        return Err("--quick and --full exclude each other".to_owned());
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

/// A comma-separated list of workload names.
fn workloads(text: &str) -> Result<Vec<String>, String> {
    text.split(',')
        .map(|n| {
            let n = n.trim();
            if WORKLOADS.contains(&n) {
                Ok(n.to_owned())
            } else {
                Err(format!(
                    "--only takes workload names ({}), not {n:?}",
                    WORKLOADS.join(" ")
                ))
            }
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
        let Ok(Command::Run(args)) = run(
            "--quick --events 1_000 --out /tmp/x --rounds=2 --only append_1x1,stream --backend sqlite",
        ) else {
            panic!("parses");
        };
        assert!(args.quick);
        assert_eq!(args.events, Some(1000));
        assert_eq!(args.rounds, Some(2));
        assert_eq!(args.only, vec!["append_1x1", "stream"]);
        assert_eq!(args.out, Some(PathBuf::from("/tmp/x")));
        assert_eq!(args.backends, Backends::Sqlite);
        assert_eq!(run("--help"), Ok(Command::Help));
        assert!(run("--events 0").is_err());
        assert!(run("--events").is_err());
        assert!(run("--bogus").is_err());
        assert!(run("--only nine").is_err());
        assert!(run("--backend mysql").is_err());
        assert!(run("--quick --full").is_err());
        assert_eq!(
            run("--import-sqlite-read-set /tmp/r.db 1_000"),
            Ok(Command::ImportSqlite {
                path: PathBuf::from("/tmp/r.db"),
                events: 1000
            })
        );
        assert!(run("--import-sqlite-read-set /tmp/r.db").is_err());
        assert!(run("--import-sqlite-read-set /tmp/r.db 10 --quick").is_err());
    }
}
