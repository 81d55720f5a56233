//! The one error type of the store, and the validation error it wraps.

use std::fmt;

/// A `Result` whose error is the store's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong when building, parsing, appending or reading events.
///
/// Branch on meaning with the `is_*` helpers rather than on variants or messages: the
/// enum is `#[non_exhaustive]` and gains variants as backends gain capabilities.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An event broke a rule of the CloudEvents specification or of this store. Nothing
    /// was written.
    #[error(transparent)]
    Invalid(#[from] ValidationError),

    /// A document was not well-formed JSON, or not the JSON shape the CloudEvents JSON
    /// format requires (an object per event, an array for a batch).
    #[error("malformed CloudEvents JSON{}: {message}", at_index(*.index))]
    Json {
        /// Position of the event within a batch, when the document was a batch.
        index: Option<usize>,
        /// What the parser found.
        message: String,
    },

    /// An expected stream version did not hold: another writer got there first, or the
    /// caller's view of the stream is stale. Nothing was written.
    #[error("stream version conflict on subject {subject:?}: expected {expected}, found {}", version_or_none(*.actual))]
    Conflict {
        /// The subject whose stream was checked.
        subject: String,
        /// What the caller expected.
        expected: crate::ExpectedVersion,
        /// The stream's version when the append was attempted (`None`: no stream).
        actual: Option<i64>,
    },

    /// An event with the same `(source, id)` is already stored (or appears twice in the
    /// batch) and the append asked for duplicates to be refused. Nothing was written.
    #[error("duplicate event: source {event_source:?}, id {id:?} is already stored")]
    Duplicate {
        /// The duplicated event's `source` (named so because thiserror reserves `source`).
        event_source: String,
        /// The duplicated event's `id`.
        id: String,
    },

    /// A query could not be run as given (for example an invalid extension name, or a
    /// time outside the range the store keeps).
    #[error("invalid query: {0}")]
    InvalidQuery(String),

    /// A configuration value was rejected (a table name that is not an identifier, a
    /// URL of an unknown scheme, a pool size of zero, …).
    #[error("invalid configuration: {0}")]
    Config(String),

    /// The database holds a schema newer than this build of the store knows how to use.
    #[error(
        "the schema of {table:?} is at version {found}, newer than the {supported} this build \
         supports; upgrade eventstore-sql"
    )]
    SchemaTooNew {
        /// The event table.
        table: String,
        /// The version recorded in the database.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },

    /// The schema has not been migrated and the store was opened without auto-migration.
    #[error("the schema of {table:?} is at version {found}, older than {required}; run migrate()")]
    SchemaOutdated {
        /// The event table.
        table: String,
        /// The version recorded in the database (0: none).
        found: i64,
        /// The version this build needs.
        required: i64,
    },

    /// The event table lacks a unique constraint the store's guarantees rest on (it was
    /// dropped by hand), so it was not migrated: nothing was changed. Restore it with
    /// the statement given (it fails if rows that break it were written meanwhile: remove
    /// those first), then open the store again.
    #[error(
        "the event table {table:?} lacks {constraint}, which keeps {guarantees}; nothing was \
         migrated: restore it with `{restore}`, then open the store again"
    )]
    MissingConstraint {
        /// The event table.
        table: String,
        /// The missing constraint's name, as the database would hold it.
        constraint: String,
        /// What it guarantees.
        guarantees: String,
        /// The statement that makes it again.
        restore: String,
    },

    /// The caller's business logic failed inside a transaction, which was rolled back:
    /// nothing of it, nor any event, was written.
    #[error("transaction aborted by its business logic: {0}")]
    Aborted(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),

    /// A handler (of a replay, a subscription, a projection) failed on an event.
    #[error("handler failed at sequence {sequence}: {source}")]
    Handler {
        /// The sequence of the event it failed on.
        sequence: i64,
        /// What it reported.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },

    /// A snapshot's state did not convert: to JSON when it was being saved (nothing was
    /// saved), or from the JSON kept back into the caller's state type when it was being
    /// loaded (the type has changed since it was saved: keep the new shape's snapshots
    /// under a new name, or start from the events alone).
    #[error(
        "snapshot {name:?} of subject {subject:?}: {}: {source}",
        snapshot_step(*.saving)
    )]
    SnapshotState {
        /// The snapshot's name.
        name: String,
        /// The subject whose state it is.
        subject: String,
        /// Whether it was being saved (`false`: loaded).
        saving: bool,
        /// What serde reported.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },

    /// The store was closed with [`EventStore::close`](crate::EventStore::close).
    #[error("the event store is closed")]
    Closed,

    /// A stored row could not be turned back into an event: the table was changed
    /// outside the store.
    #[error("corrupt stored event at sequence {sequence}: {message}")]
    Corrupt {
        /// The row's sequence.
        sequence: i64,
        /// What was wrong with it.
        message: String,
    },

    /// The database or its driver failed (I/O, a lost connection, …).
    #[error("database error: {0}")]
    Database(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),

    /// A statement or a wait ran past its time limit (PostgreSQL's `statement_timeout`
    /// or `lock_timeout`, the pool's wait timeout, opening a PostgreSQL connection past
    /// its connect timeout, SQLite's busy timeout on another process's lock or its
    /// reader wait) and was cancelled: nothing of it was written. Retrying may succeed;
    /// raising the limit may be needed.
    #[error("timed out: {0}")]
    Timeout(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl Error {
    /// Wraps a driver error.
    pub fn database(error: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>) -> Self {
        Self::Database(error.into())
    }

    /// Wraps a failure of the caller's business logic (see [`Error::Aborted`]); a store
    /// error (or an invalid event) is passed through as it is.
    pub fn aborted(error: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>) -> Self {
        let error = match error.into().downcast::<Error>() {
            Ok(store_error) => return *store_error,
            Err(other) => other,
        };
        match error.downcast::<ValidationError>() {
            Ok(invalid) => Self::Invalid(*invalid),
            Err(other) => Self::Aborted(other),
        }
    }

    /// The caller's business logic failed and its transaction was rolled back.
    pub fn is_aborted(&self) -> bool {
        matches!(self, Self::Aborted(_))
    }

    /// The sequence a handler failed at, for [`Error::Handler`].
    pub fn failed_sequence(&self) -> Option<i64> {
        match self {
            Self::Handler { sequence, .. } => Some(*sequence),
            _ => None,
        }
    }

    /// The event, batch or document was invalid (including malformed JSON).
    pub fn is_invalid(&self) -> bool {
        matches!(self, Self::Invalid(_) | Self::Json { .. })
    }

    /// An expected stream version did not hold.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Conflict { .. })
    }

    /// A `(source, id)` was already stored.
    pub fn is_duplicate(&self) -> bool {
        matches!(self, Self::Duplicate { .. })
    }

    /// The schema in the database does not match this build (or lacks a unique
    /// constraint it needs: [`Error::MissingConstraint`]).
    pub fn is_schema_mismatch(&self) -> bool {
        matches!(
            self,
            Self::SchemaTooNew { .. }
                | Self::SchemaOutdated { .. }
                | Self::MissingConstraint { .. }
        )
    }

    /// The driver or the database failed; retrying may help.
    pub fn is_database(&self) -> bool {
        matches!(self, Self::Database(_))
    }

    /// A statement or a wait ran past its time limit (see [`Error::Timeout`]).
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout(_))
    }

    /// The validation error, when the event itself was invalid.
    pub fn as_validation(&self) -> Option<&ValidationError> {
        match self {
            Self::Invalid(error) => Some(error),
            _ => None,
        }
    }
}

fn at_index(index: Option<usize>) -> String {
    index
        .map(|i| format!(" at batch index {i}"))
        .unwrap_or_default()
}

fn snapshot_step(saving: bool) -> &'static str {
    if saving {
        "its state does not serialize to JSON, so it was not saved"
    } else {
        "its kept state does not deserialize into the state's type"
    }
}

fn version_or_none(version: Option<i64>) -> String {
    version.map_or_else(|| "no stream".to_owned(), |v| format!("version {v}"))
}

/// Why an event is invalid: the attribute and the rule it broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    attribute: String,
    rule: Rule,
    index: Option<usize>,
}

impl ValidationError {
    /// A rule broken by an attribute.
    pub fn new(attribute: impl Into<String>, rule: Rule) -> Self {
        Self {
            attribute: attribute.into(),
            rule,
            index: None,
        }
    }

    /// The same error, placed at a position within a batch.
    #[must_use]
    pub fn at(mut self, index: usize) -> Self {
        self.index = Some(index);
        self
    }

    /// The offending attribute (`"time"`, `"source"`, an extension's name, `"data"`, …).
    pub fn attribute(&self) -> &str {
        &self.attribute
    }

    /// The rule the attribute broke.
    pub fn rule(&self) -> &Rule {
        &self.rule
    }

    /// The event's position in its batch, when it came from one.
    pub fn index(&self) -> Option<usize> {
        self.index
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid event")?;
        if let Some(index) = self.index {
            write!(f, " at batch index {index}")?;
        }
        write!(f, ": attribute `{}` {}", self.attribute, self.rule)
    }
}

impl std::error::Error for ValidationError {}

/// A rule of the CloudEvents specification, or of the store, that an attribute broke.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rule {
    /// A required attribute is absent.
    Missing,
    /// An attribute that must be non-empty is empty.
    Empty,
    /// `specversion` is not `"1.0"`.
    UnsupportedSpecVersion(String),
    /// A value is not of the attribute's type (a number where a string belongs, …).
    WrongType {
        /// The type the attribute needs.
        expected: &'static str,
    },
    /// Not an RFC 3339 timestamp.
    NotTimestamp(String),
    /// Not an absolute URI (RFC 3986 §4.3).
    NotUri(String),
    /// Not a URI-reference (RFC 3986 §4.1).
    NotUriReference(String),
    /// Not an RFC 2046 media type.
    NotMediaType(String),
    /// An extension name with characters other than `a-z` and `0-9`, or one that is
    /// reserved.
    InvalidExtensionName,
    /// An integer outside the CloudEvents range (32-bit signed).
    IntegerOutOfRange(String),
    /// Not an integer as CloudEvents writes one: an optional `-`, then `0` or digits
    /// without a leading zero (no `+`, no spaces, no fraction or exponent).
    NotInteger(String),
    /// Not a boolean as CloudEvents writes one: `true` or `false`, in lower case.
    NotBoolean(String),
    /// Not valid base64.
    NotBase64,
    /// Both `data` and `data_base64` are present.
    DataAndDataBase64,
    /// `data` that is not valid JSON where JSON was declared.
    NotJson(String),
    /// A size limit of the store was exceeded.
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
        /// The size found.
        size: usize,
    },
    /// A batch holds more events than the store's limit.
    TooManyEvents {
        /// The limit, in events.
        limit: usize,
        /// The batch's count.
        count: usize,
    },
    /// JSON data nests arrays and objects deeper than the store reads back.
    TooDeep {
        /// The deepest nesting allowed.
        limit: usize,
        /// The data's nesting.
        depth: usize,
    },
    /// The same attribute appears twice in one JSON object.
    Repeated,
    /// A control character (U+0000–U+001F, U+007F–U+009F), which CloudEvents strings
    /// must not contain.
    ControlCharacter(char),
    /// A Unicode noncharacter (U+FDD0–U+FDEF, or U+FFFE and U+FFFF of any plane), which
    /// CloudEvents strings must not contain.
    Noncharacter(char),
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => f.write_str("is required but missing"),
            Self::Empty => f.write_str("must not be empty"),
            Self::UnsupportedSpecVersion(v) => {
                write!(f, "must be \"1.0\", the only supported version, not {v:?}")
            }
            Self::WrongType { expected } => write!(f, "must be {expected}"),
            Self::NotTimestamp(v) => write!(f, "must be an RFC 3339 timestamp, not {v:?}"),
            Self::NotUri(v) => write!(f, "must be an absolute URI (RFC 3986), not {v:?}"),
            Self::NotUriReference(v) => {
                write!(f, "must be a URI-reference (RFC 3986), not {v:?}")
            }
            Self::NotMediaType(v) => {
                write!(
                    f,
                    "must be an RFC 2046 media type such as \"application/json\", not {v:?}"
                )
            }
            Self::InvalidExtensionName => f.write_str(
                "is not a valid extension name: use only lower-case letters a-z and digits 0-9, \
                 and not a name the specification reserves",
            ),
            Self::IntegerOutOfRange(v) => {
                write!(
                    f,
                    "must be an integer from -2147483648 to 2147483647, not {v}"
                )
            }
            Self::NotInteger(v) => write!(
                f,
                "must be an integer written as CloudEvents writes one (an optional `-` and \
                 decimal digits, without `+`, leading zeros, spaces, a fraction or an \
                 exponent), not {v:?}"
            ),
            Self::NotBoolean(v) => write!(f, "must be `true` or `false`, not {v:?}"),
            Self::NotBase64 => f.write_str("must be valid base64 (RFC 4648)"),
            Self::DataAndDataBase64 => {
                f.write_str("cannot appear together with `data_base64`: an event has one data")
            }
            Self::NotJson(e) => write!(f, "must be valid JSON: {e}"),
            Self::TooLarge { limit, size } => {
                write!(f, "is {size} bytes, over the limit of {limit} bytes")
            }
            Self::TooManyEvents { limit, count } => {
                write!(
                    f,
                    "has {count} events, over the limit of {limit} per append"
                )
            }
            Self::TooDeep { limit, depth } => write!(
                f,
                "nests arrays and objects {depth} levels deep, deeper than the limit of {limit}"
            ),
            Self::Repeated => f.write_str("appears more than once"),
            Self::ControlCharacter(c) => {
                write!(
                    f,
                    "must not contain control characters, found U+{:04X}",
                    u32::from(*c)
                )
            }
            Self::Noncharacter(c) => {
                write!(
                    f,
                    "must not contain Unicode noncharacters, found U+{:04X}",
                    u32::from(*c)
                )
            }
        }
    }
}
