//! How to open a SQLite event store.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use eventstore_core::sql::TableName;
use eventstore_core::{Error, Limits, Result};

use crate::store::SqliteEventStore;

/// Where the database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Location {
    File(PathBuf),
    /// A private in-memory database, shared by the store's connections: a new one for
    /// each store opened (see [`Location::memory_uri`]).
    Memory,
}

/// The name SQLite takes as a private in-memory database of each connection.
const MEMORY: &str = ":memory:";

/// The start of the names SQLite keeps for its own tables and indexes.
const RESERVED_PREFIX: &str = "sqlite_";

/// The longest time-out SQLite's busy handler takes (`i32::MAX` milliseconds, about
/// 24.8 days); longer time-outs are taken as this one.
const LONGEST_TIMEOUT: Duration = Duration::from_millis(i32::MAX as u64);

impl Location {
    /// What the store's connections open: a file's absolute path, or the URI of a new
    /// in-memory database.
    ///
    /// The connections open it at different times (readers as they are needed, and
    /// again after the pool retires them), so a relative path is resolved once, against
    /// the current directory when the store opens: a later change of directory would
    /// give them another file. An empty path, which SQLite takes as a private temporary
    /// database of each connection, names no file they could share.
    pub(crate) fn connection_path(&self) -> Result<PathBuf> {
        match self {
            Self::Memory => Ok(PathBuf::from(Self::memory_uri())),
            Self::File(path) if path.as_os_str().is_empty() => Err(Error::Config(
                "an empty path names no SQLite database file".to_owned(),
            )),
            Self::File(path) => std::path::absolute(path)
                .map_err(|e| Error::Config(format!("cannot open SQLite database {path:?}: {e}"))),
        }
    }

    /// The URI of a new private in-memory database, distinct from every other one of
    /// the process: its connections share it, and it ends with the last of them.
    pub(crate) fn memory_uri() -> String {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        format!("file:/eventstore-{}-{n}?vfs=memdb", std::process::id())
    }
}

/// Options for opening a [`SqliteEventStore`].
///
/// ```no_run
/// # async fn f() -> eventstore_core::Result<()> {
/// use eventstore_sqlite::SqliteOptions;
/// let store = SqliteOptions::file("events.db").table("orders_events")?.open().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct SqliteOptions {
    pub(crate) location: Location,
    pub(crate) table: TableName,
    pub(crate) readers: u32,
    pub(crate) reader_timeout: Duration,
    pub(crate) busy_timeout: Duration,
    pub(crate) auto_migrate: bool,
    pub(crate) page_size: u64,
    pub(crate) synchronous_full: bool,
    pub(crate) poll_interval: Duration,
    pub(crate) wal_autocheckpoint: u32,
    pub(crate) type_time_index: bool,
    pub(crate) mmap_size: u64,
    pub(crate) limits: Limits,
}

impl SqliteOptions {
    /// The most reader connections a store takes ([`readers`](Self::readers)).
    pub const MAX_READERS: u32 = 1024;

    /// A database file, created if missing. A relative path is taken from the current
    /// directory when the store opens. `:memory:`, which SQLite takes as a private
    /// in-memory database of each connection, is [`in_memory`](Self::in_memory)'s
    /// database, shared by the store's connections.
    pub fn file(path: impl AsRef<Path>) -> Self {
        let path = path.as_ref();
        if path.as_os_str() == OsStr::new(MEMORY) {
            return Self::in_memory();
        }
        Self::with_location(Location::File(path.to_owned()))
    }

    /// A private in-memory database that lives as long as the store: each store opened
    /// with these options (or a clone of them) has one of its own.
    pub fn in_memory() -> Self {
        Self::with_location(Location::Memory)
    }

    /// The database file these options open, as given (a relative path is resolved
    /// against the current directory when the store opens); `None` for a private
    /// in-memory database ([`in_memory`](Self::in_memory), `sqlite::memory:`, the path
    /// `:memory:`), which [`migrate`](Self::migrate) refuses: a caller can tell that
    /// refusal from a file that cannot be opened.
    pub fn path(&self) -> Option<&Path> {
        match &self.location {
            Location::File(path) => Some(path),
            Location::Memory => None,
        }
    }

    /// Options from a URL: `sqlite://relative/path.db`, `sqlite:///absolute/path.db`,
    /// `sqlite:path.db` or `sqlite::memory:`, the scheme in any case (`SQLite:`, as RFC
    /// 3986 §3.1 has schemes case-insensitive). The path is percent-decoded
    /// (`sqlite:///data/my%20events.db` names `/data/my events.db`). A URL takes no
    /// parameters: `?mode=ro` and the like are refused with [`Error::Config`] rather than
    /// ignored; the other options are set on the `SqliteOptions` it returns.
    pub fn from_url(url: &str) -> Result<Self> {
        let rest = strip_scheme(url).ok_or_else(|| {
            Error::Config(format!(
                "{url:?} is not a sqlite: URL (sqlite://path/to/events.db)"
            ))
        })?;
        let path = rest.strip_prefix("//").unwrap_or(rest);
        if let Some((_, parameters)) = path.split_once(['?', '#']) {
            return Err(Error::Config(format!(
                "{url:?}: a sqlite: URL takes no parameters ({parameters:?}); set options \
                 on SqliteOptions"
            )));
        }
        match path {
            "" => Err(Error::Config(format!("{url:?} names no database file"))),
            MEMORY => Ok(Self::in_memory()),
            path => Ok(Self::file(percent_decoded(path).ok_or_else(|| {
                Error::Config(format!(
                    "{url:?}: a `%` in a URL must start an escape of two hex digits (`%25` \
                     for `%` itself)"
                ))
            })?)),
        }
    }

    fn with_location(location: Location) -> Self {
        let readers = std::thread::available_parallelism()
            .map_or(4, |n| n.get() as u32)
            .max(2);
        Self {
            location,
            table: TableName::default(),
            readers,
            reader_timeout: Duration::from_secs(30),
            busy_timeout: Duration::from_secs(5),
            auto_migrate: true,
            page_size: 1000,
            synchronous_full: false,
            poll_interval: Duration::from_millis(250),
            wal_autocheckpoint: 1000,
            type_time_index: false,
            mmap_size: 0,
            limits: Limits::default(),
        }
    }

    /// The largest event and batch an append accepts (default [`Limits::default`]).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The event table's name (default `events`): validated as an identifier, and
    /// refused when it begins with `sqlite_`, which SQLite reserves for its own tables.
    pub fn table(mut self, name: &str) -> Result<Self> {
        let table = TableName::new(name)?;
        if name
            .get(..RESERVED_PREFIX.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(RESERVED_PREFIX))
        {
            return Err(Error::Config(format!(
                "table name {name:?} begins with {RESERVED_PREFIX:?}, which SQLite reserves \
                 for its own tables"
            )));
        }
        self.table = table;
        Ok(self)
    }

    /// How many connections serve reads (default: the number of CPUs, at least 2; at
    /// most [`MAX_READERS`](Self::MAX_READERS), as the pool sets room aside for every
    /// one up front). Writes go through one connection of their own.
    pub fn readers(mut self, readers: u32) -> Result<Self> {
        if readers == 0 {
            return Err(Error::Config("readers must be at least 1".to_owned()));
        }
        if readers > Self::MAX_READERS {
            return Err(Error::Config(format!(
                "readers must be at most {}, not {readers}",
                Self::MAX_READERS
            )));
        }
        self.readers = readers;
        Ok(self)
    }

    /// How long a read waits for a free reader connection, when every one is busy,
    /// before failing with [`Error::Timeout`] (default 30 s; a longer time-out than about
    /// 24.8 days waits that long). Paged reads hold a reader only while a page is
    /// fetched; point reads for one index probe. Zero is refused with [`Error::Config`],
    /// as by PostgreSQL's `PostgresOptions::wait_timeout`, the same wait there.
    pub fn reader_timeout(mut self, timeout: Duration) -> Result<Self> {
        if timeout.is_zero() {
            return Err(Error::Config(
                "reader_timeout must be longer than zero".to_owned(),
            ));
        }
        self.reader_timeout = timeout.min(LONGEST_TIMEOUT);
        Ok(self)
    }

    /// How long a statement waits for another process's lock before failing with
    /// [`Error::Timeout`] (default 5 s). SQLite waits at most `i32::MAX` milliseconds
    /// (about 24.8 days): a longer time-out waits that long.
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout.min(LONGEST_TIMEOUT);
        self
    }

    /// Whether opening applies missing migrations (default `true`). When `false`, open
    /// fails with [`Error::SchemaOutdated`] until [`migrate`](Self::migrate) runs.
    pub fn auto_migrate(mut self, auto_migrate: bool) -> Self {
        self.auto_migrate = auto_migrate;
        self
    }

    /// How many rows a read fetches per page (default 1000): memory per open stream is
    /// about two pages of events.
    pub fn page_size(mut self, rows: u64) -> Result<Self> {
        if rows == 0 {
            return Err(Error::Config("page_size must be at least 1".to_owned()));
        }
        self.page_size = rows;
        Ok(self)
    }

    /// Use `synchronous = FULL`: every commit is fsynced, so it survives power loss, at
    /// a cost in append rate. The default, `NORMAL` in WAL mode, survives a crash of the
    /// process but may lose the last commits on power loss.
    pub fn synchronous_full(mut self, full: bool) -> Self {
        self.synchronous_full = full;
        self
    }

    /// How many pages the write-ahead log may hold before it is checkpointed into the
    /// database file (default 1000, SQLite's own threshold); 0 turns checkpoints off
    /// until [`close`](eventstore_core::EventStore::close).
    ///
    /// A file store checkpoints on a thread of its own, with a connection of its own,
    /// so that no append waits while the log is copied and synced (SQLite's own
    /// auto-checkpoint runs inside the commit that crosses the threshold, and every
    /// append queued behind it waits too). Should appends outrun that thread, an
    /// append that leaves the log at four times the threshold waits for a checkpoint,
    /// which keeps the `-wal` file bounded. Larger values checkpoint (and sync) less
    /// often, at the cost of a larger `-wal` file.
    pub fn wal_autocheckpoint(mut self, pages: u32) -> Self {
        self.wal_autocheckpoint = pages;
        self
    }

    /// Whether migrating creates an index on `(type, time)` (default `false`).
    ///
    /// Without it, SQLite reads a query that filters on a type and a time range along
    /// the `(type, sequence)` index and checks each event's time, so the query costs
    /// more the later its range lies in the history (4 to 70 ms for 100 events on a
    /// million, by position). With it, the cost follows the events of that type in the
    /// range (about 1 ms). The price is one more index entry per append: batched appends
    /// from one writer ran about a fifth slower in the benchmark (docs/schema.md has the
    /// figures). Creating it on an existing table takes time in proportion to the
    /// table, under the write lock. An existing index is never dropped.
    pub fn type_time_index(mut self, create: bool) -> Self {
        self.type_time_index = create;
        self
    }

    /// How many bytes of the database file each connection reads through a memory map
    /// (SQLite's `mmap_size`; default 0: every page is read with a system call).
    ///
    /// Mapped, a page already in the operating system's cache is read in place instead
    /// of being copied into SQLite's own cache, which speeds up reads that jump around
    /// the file: in the benchmark, on a million events, loading a subject's ~1,000
    /// events took a quarter to a third less time and a `get` a tenth to a fifth less.
    /// A read of the whole table through a connection that has not mapped it yet was
    /// about a quarter slower, as each page is mapped on first touch
    /// (docs/benchmarks.md has the figures). The map covers the file's first `bytes`
    /// bytes; SQLite caps it at its build's limit (just under 2 GiB for the bundled
    /// SQLite on Linux, macOS and Windows) and ignores it where it has no memory-mapped
    /// I/O. Appends still write through the write-ahead log.
    ///
    /// An I/O error on a mapped page (a failing disk, or the file truncated by another
    /// program) stops the process with a signal instead of failing one read, which is
    /// why SQLite, and this store, leave it off unless asked.
    pub fn mmap_size(mut self, bytes: u64) -> Self {
        self.mmap_size = bytes;
        self
    }

    /// How often followers look for events appended by other processes (default 250 ms).
    /// Appends through this store wake them at once. An interval under 1 ms is taken as
    /// 1 ms ([`CommitSignal::MIN_POLL_INTERVAL`](eventstore_core::CommitSignal::MIN_POLL_INTERVAL)).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Applies the migrations the file's table lacks (and the
    /// [`type_time_index`](Self::type_time_index) if asked for), without opening a store:
    /// the deployment step before stores open with [`auto_migrate(false)`](Self::auto_migrate).
    /// Returns the versions applied (empty when the schema was up to date). Refused with
    /// [`Error::Config`] for [`in_memory`](Self::in_memory) options, whose database is new
    /// each time a store opens, and with [`Error::SchemaTooNew`] for a file ahead of this
    /// build.
    pub async fn migrate(&self) -> Result<Vec<i64>> {
        SqliteEventStore::migrate_with(self.clone()).await
    }

    /// Opens the store.
    pub async fn open(self) -> Result<SqliteEventStore> {
        SqliteEventStore::open_with(self).await
    }
}

/// What follows the `sqlite:` scheme of `url`, written in any case; `None` for another
/// scheme.
fn strip_scheme(url: &str) -> Option<&str> {
    const SCHEME: &str = "sqlite:";
    url.get(..SCHEME.len())
        .filter(|scheme| scheme.eq_ignore_ascii_case(SCHEME))
        .map(|_| &url[SCHEME.len()..])
}

/// A URL path with its `%XX` escapes decoded (`None` for a malformed escape), as the
/// file system path it names: on Unix any bytes, elsewhere UTF-8.
fn percent_decoded(path: &str) -> Option<PathBuf> {
    let mut bytes = Vec::with_capacity(path.len());
    let mut rest = path.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        if byte == b'%' {
            let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(byte);
            rest = tail;
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt as _;
        Some(PathBuf::from(std::ffi::OsString::from_vec(bytes)))
    }
    #[cfg(not(unix))]
    {
        String::from_utf8(bytes).ok().map(PathBuf::from)
    }
}
