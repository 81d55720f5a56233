//! The command line: global options and one subcommand per task.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Look into a CloudEvents store, load events, follow them live.
#[derive(Debug, Parser)]
#[command(name = "eventstore", version, about, propagate_version = true)]
pub(crate) struct Cli {
    /// The store: `sqlite://path/to/events.db` or `postgres://user@host/db`. Read from
    /// EVENTSTORE_DATABASE_URL, then DATABASE_URL; default `sqlite://eventstore.db`.
    // The variable's value is not shown in --help: it may hold a password.
    #[arg(
        long,
        global = true,
        env = "EVENTSTORE_DATABASE_URL",
        hide_env_values = true
    )]
    pub(crate) database_url: Option<String>,

    /// The event table: `events` by default; `schema.table` on PostgreSQL.
    #[arg(long, global = true, env = "EVENTSTORE_TABLE")]
    pub(crate) table: Option<String>,

    /// How results are printed: a table, a JSON array (CloudEvents batch), or JSON Lines.
    #[arg(long, short, global = true, value_enum, default_value_t = Output::Table)]
    pub(crate) output: Output,

    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The parser of a count (`--limit`, `--offset`, `-n`, …): a negative one is refused as
/// out of range (`-1 is not in 0..…`), as `--top`'s is, rather than as a string with
/// an invalid digit.
fn count() -> clap::builder::RangedI64ValueParser<u64> {
    clap::builder::RangedI64ValueParser::new().range(0..)
}

/// Events per import batch unless `--batch-size` says otherwise.
pub(crate) const DEFAULT_BATCH_SIZE: u32 = 20_000;

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Output {
    /// A table for people.
    Table,
    /// One JSON document: events as a CloudEvents JSON batch.
    Json,
    /// One JSON value per line: events as CloudEvents JSON.
    Jsonl,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create or upgrade the store's tables, and report the schema version.
    Migrate,
    /// Append one event, from flags or from a CloudEvents JSON document.
    Append(AppendArgs),
    /// Load CloudEvents JSON, batches or JSON Lines from files or stdin.
    Import(ImportArgs),
    /// Write matching events as JSON Lines (CloudEvents JSON, one per line).
    Export(ExportArgs),
    /// Show the events matching every filter given.
    Query(QueryArgs),
    /// Show one event by its source and id.
    Get {
        /// The event's `source`.
        source: String,
        /// The event's `id`.
        id: String,
    },
    /// Show a subject's events in stream-version order.
    Stream {
        /// The subject.
        subject: String,
        /// The first stream version to show.
        #[arg(long, allow_negative_numbers = true, default_value_t = 1)]
        from: i64,
    },
    /// Follow new events as they commit, like `tail -f`.
    Tail(TailArgs),
    /// Counts, time span, busiest types, sources and subjects, table and index size.
    Stats {
        /// How many types, sources and subjects to list.
        #[arg(long, allow_negative_numbers = true, default_value_t = 10)]
        top: u32,
    },
    /// Run an outbox relay that prints each event it delivers as JSON Lines.
    Relay(RelayArgs),
    /// Measure append, read and import throughput.
    Bench(BenchArgs),
    /// Walk through what the store does, on a fresh SQLite file (or --database-url).
    Demo {
        /// Keep the fresh SQLite file instead of removing it.
        #[arg(long)]
        keep: bool,
    },
    /// Print a shell completion script.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Query filters shared by `query`, `export`, `tail` and `relay`.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct Filters {
    /// Only events of this type (repeat for several).
    #[arg(long = "type", value_name = "TYPE")]
    pub(crate) types: Vec<String>,
    /// Only events from this source (repeat for several).
    #[arg(long = "source", value_name = "SOURCE")]
    pub(crate) sources: Vec<String>,
    /// Only events about this subject (repeat for several).
    #[arg(long = "subject", value_name = "SUBJECT")]
    pub(crate) subjects: Vec<String>,
    /// Only events with this correlation id.
    #[arg(long)]
    pub(crate) correlation_id: Option<String>,
    /// Only events with this topic.
    #[arg(long)]
    pub(crate) topic: Option<String>,
    /// Only events with this destination.
    #[arg(long)]
    pub(crate) destination: Option<String>,
    /// Only events with this id (repeat for several; no index serves it alone: add
    /// --source on a large store).
    #[arg(long = "id", value_name = "ID")]
    pub(crate) ids: Vec<String>,
    /// Only events whose datacontenttype is exactly this.
    #[arg(long, value_name = "MEDIA_TYPE")]
    pub(crate) datacontenttype: Option<String>,
    /// Only events whose dataschema is exactly this URI.
    #[arg(long, value_name = "URI")]
    pub(crate) dataschema: Option<String>,
    /// Only events whose extension NAME equals VALUE: a string, unless --ext-type
    /// declares NAME's type (repeat for several).
    #[arg(long = "ext", value_name = "NAME=VALUE")]
    pub(crate) extensions: Vec<String>,
    /// Reads --ext NAME's VALUE as TYPE: string, integer, boolean, uri, uriref, timestamp
    /// (RFC 3339) or binary (base64) (repeat for several).
    #[arg(long = "ext-type", value_name = "NAME=TYPE")]
    pub(crate) extension_types: Vec<String>,
    /// Only events whose `time` is at or after this: an RFC 3339 time or an age such as
    /// `90s`, `15m`, `24h`, `7d`.
    #[arg(long)]
    pub(crate) since: Option<String>,
    /// Only events whose `time` is before this (same forms as --since).
    #[arg(long)]
    pub(crate) until: Option<String>,
    /// Only events whose sequence is at least this.
    #[arg(long, allow_negative_numbers = true)]
    pub(crate) min_sequence: Option<i64>,
    /// Only events whose sequence is at most this.
    #[arg(long, allow_negative_numbers = true)]
    pub(crate) max_sequence: Option<i64>,
}

/// Ordering and paging of a bounded read.
#[derive(Debug, Clone, Args)]
pub(crate) struct Paging {
    /// At most this many events.
    #[arg(long, allow_negative_numbers = true, value_parser = count())]
    pub(crate) limit: Option<u64>,
    /// Skip this many matching events first.
    #[arg(long, allow_negative_numbers = true, default_value_t = 0, value_parser = count())]
    pub(crate) offset: u64,
    /// Only events after this sequence in the chosen order (keyset paging).
    #[arg(long, allow_negative_numbers = true)]
    pub(crate) after: Option<i64>,
    /// Newest first.
    #[arg(long)]
    pub(crate) desc: bool,
}

/// `query`.
#[derive(Debug, Args)]
pub(crate) struct QueryArgs {
    /// Filters.
    #[command(flatten)]
    pub(crate) filters: Filters,
    /// Paging.
    #[command(flatten)]
    pub(crate) paging: Paging,
}

/// `export`.
#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// Which events, as for `query`.
    #[command(flatten)]
    pub(crate) query: QueryArgs,
    /// Write to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
}

/// `append`.
#[derive(Debug, Args)]
pub(crate) struct AppendArgs {
    /// A CloudEvents JSON event or batch to append (`-` for stdin), instead of the
    /// event's flags (`--subject` names the stream `--expect` checks).
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with_all = [
            "id", "source", "ty", "time", "no_time", "data", "text", "datacontenttype", "dataschema",
            "correlation_id", "topic", "destination", "extensions",
        ]
    )]
    pub(crate) json: Option<String>,
    /// The event's `id` (default: generated).
    #[arg(long)]
    pub(crate) id: Option<String>,
    /// The event's `source`.
    #[arg(long, required_unless_present = "json")]
    pub(crate) source: Option<String>,
    /// The event's `type`.
    #[arg(long = "type", value_name = "TYPE", required_unless_present = "json")]
    pub(crate) ty: Option<String>,
    /// The event's `subject`.
    #[arg(long)]
    pub(crate) subject: Option<String>,
    /// The event's `time`: RFC 3339, an age before now such as `90s` or `2h`, or `now`
    /// (the default, unless --no-time).
    #[arg(long)]
    pub(crate) time: Option<String>,
    /// Append the event without a `time` (CloudEvents makes it optional); `query
    /// --since/--until` never match such an event.
    #[arg(long, conflicts_with = "time")]
    pub(crate) no_time: bool,
    /// JSON data.
    #[arg(long, conflicts_with = "text")]
    pub(crate) data: Option<String>,
    /// Text data (`datacontenttype` defaults to text/plain).
    #[arg(long)]
    pub(crate) text: Option<String>,
    /// The `datacontenttype`.
    #[arg(long)]
    pub(crate) datacontenttype: Option<String>,
    /// The `dataschema`.
    #[arg(long)]
    pub(crate) dataschema: Option<String>,
    /// The `correlationid` extension.
    #[arg(long)]
    pub(crate) correlation_id: Option<String>,
    /// The `topic` extension.
    #[arg(long)]
    pub(crate) topic: Option<String>,
    /// The `destination` extension.
    #[arg(long)]
    pub(crate) destination: Option<String>,
    /// An extension attribute: a string, unless --ext-type declares NAME's type (repeat
    /// for several).
    #[arg(long = "ext", value_name = "NAME=VALUE")]
    pub(crate) extensions: Vec<String>,
    /// Reads extension NAME as TYPE, in the --json document (where URIs, timestamps and
    /// bytes are JSON strings) or in --ext: string, integer, boolean, uri, uriref,
    /// timestamp (RFC 3339) or binary (base64) (repeat for several).
    #[arg(long = "ext-type", value_name = "NAME=TYPE")]
    pub(crate) extension_types: Vec<String>,
    /// The subject's expected stream version: `any`, `none`, `exists` or a number.
    #[arg(
        long,
        allow_negative_numbers = true,
        value_name = "VERSION",
        requires = "subject"
    )]
    pub(crate) expect: Option<String>,
}

/// What an import does with an event whose `(source, id)` is stored already.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OnDuplicate {
    /// Refuse its batch (on PostgreSQL the fast binary COPY path).
    Error,
    /// Skip the event and write the rest (on PostgreSQL: batched INSERT, not COPY).
    Skip,
}

/// How import input is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum InputFormat {
    /// Detect: a document starting with `[` is a batch; one whose first line is a whole
    /// JSON object is JSON Lines; otherwise one event (or a conformance-vector file).
    Auto,
    /// One CloudEvents JSON event.
    Event,
    /// A CloudEvents JSON batch (an array).
    Batch,
    /// JSON Lines: one CloudEvents JSON event per line.
    Jsonl,
}

/// `import`.
#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// Files to read (`-` or none: stdin).
    pub(crate) files: Vec<PathBuf>,
    /// The input's layout.
    #[arg(long, value_enum, default_value_t = InputFormat::Auto)]
    pub(crate) format: InputFormat,
    /// Events per batch: each batch is validated whole and written in one transaction.
    #[arg(long, allow_negative_numbers = true, default_value_t = DEFAULT_BATCH_SIZE, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) batch_size: u32,
    /// What to do with events already stored.
    #[arg(long, value_enum, default_value_t = OnDuplicate::Error)]
    pub(crate) on_duplicate: OnDuplicate,
    /// Reads extension NAME as TYPE, where the JSON holds a URI, a timestamp or bytes as a
    /// string: string, integer, boolean, uri, uriref, timestamp (RFC 3339) or binary
    /// (base64); an event whose NAME is not of TYPE is invalid (repeat for several).
    #[arg(long = "ext-type", value_name = "NAME=TYPE")]
    pub(crate) extension_types: Vec<String>,
    /// Never draw a progress bar (it is drawn only when stderr is a terminal).
    #[arg(long)]
    pub(crate) no_progress: bool,
}

/// `tail`.
#[derive(Debug, Args)]
pub(crate) struct TailArgs {
    /// Filters.
    #[command(flatten)]
    pub(crate) filters: Filters,
    /// Where to start: `now` (new events only), `start`, or after a sequence number.
    #[arg(long, allow_negative_numbers = true, default_value = "now")]
    pub(crate) from: String,
    /// Stop after this many events.
    #[arg(long, allow_negative_numbers = true, short = 'n', value_parser = count())]
    pub(crate) count: Option<u64>,
}

/// `relay`.
#[derive(Debug, Args)]
pub(crate) struct RelayArgs {
    /// The relay's name: its checkpoint and lease are kept under it.
    pub(crate) name: String,
    /// Filters.
    #[command(flatten)]
    pub(crate) filters: Filters,
    /// Most events per delivered batch (at least 1).
    #[arg(
        long,
        allow_negative_numbers = true,
        default_value_t = 100,
        value_parser = clap::builder::RangedI64ValueParser::<usize>::new().range(1..)
    )]
    pub(crate) batch_size: usize,
    /// Stop after delivering this many events.
    #[arg(long, allow_negative_numbers = true, short = 'n', value_parser = count())]
    pub(crate) count: Option<u64>,
}

/// `bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// How many events to append and read.
    #[arg(long, allow_negative_numbers = true, default_value_t = 20_000, value_parser = count())]
    pub(crate) events: u64,
    /// Events per appended batch.
    #[arg(long, allow_negative_numbers = true, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) batch_size: u32,
    /// Measure `import` of this many JSON Lines events against the backend's raw bulk
    /// load (COPY on PostgreSQL, one-transaction inserts on SQLite) instead.
    #[arg(long, allow_negative_numbers = true, value_name = "EVENTS", value_parser = count())]
    pub(crate) import: Option<u64>,
    /// The import's batch size, with --import.
    #[arg(long, allow_negative_numbers = true, default_value_t = DEFAULT_BATCH_SIZE, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) import_batch_size: u32,
    /// With --import: repeat both loads this many times (new tables each time) and keep
    /// the best of each.
    #[arg(long, allow_negative_numbers = true, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) rounds: u32,
    /// Never draw progress bars.
    #[arg(long)]
    pub(crate) no_progress: bool,
}
