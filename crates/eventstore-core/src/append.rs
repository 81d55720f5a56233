//! Options and results of an append.

use std::collections::BTreeMap;
use std::fmt;

use time::OffsetDateTime;

/// What the caller expects a subject's stream to be before the append: the optimistic
/// concurrency check of event sourcing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExpectedVersion {
    /// No check.
    #[default]
    Any,
    /// The subject has no events yet.
    NoStream,
    /// The subject has at least one event.
    Exists,
    /// The subject's last event has exactly this stream version. Stream versions start
    /// at 1, so the version must be at least 1: `Exact(0)` or below is refused with
    /// [`Error::Config`](crate::Error::Config) before anything is written (a subject
    /// without events is [`NoStream`](Self::NoStream)).
    Exact(i64),
}

impl ExpectedVersion {
    /// Whether a stream whose current version is `actual` (`None`: no stream) meets the
    /// expectation.
    pub fn is_met_by(self, actual: Option<i64>) -> bool {
        match self {
            Self::Any => true,
            Self::NoStream => actual.is_none(),
            Self::Exists => actual.is_some(),
            Self::Exact(v) => actual == Some(v),
        }
    }
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("any version"),
            Self::NoStream => f.write_str("no stream"),
            Self::Exists => f.write_str("an existing stream"),
            Self::Exact(v) => write!(f, "version {v}"),
        }
    }
}

/// What an append does with an event whose `(source, id)` is already stored, or
/// appears earlier in the same batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnDuplicate {
    /// Refuse the whole batch with [`Error::Duplicate`](crate::Error::Duplicate).
    #[default]
    Error,
    /// Leave the duplicate out, append the rest, and report it in
    /// [`AppendResult::skipped`]. This makes retried appends idempotent.
    Skip,
}

/// Options of [`EventStore::append_with`](crate::EventStore::append_with).
///
/// Expectations are checked against each subject's stream as it is before the batch,
/// inside the append's transaction; a subject may be checked without appending to it.
///
/// ```
/// use eventstore_core::{AppendOptions, ExpectedVersion, OnDuplicate};
///
/// let options = AppendOptions::new()
///     .expect("order-42", ExpectedVersion::Exact(3))
///     .on_duplicate(OnDuplicate::Skip);
/// assert_eq!(options.expected("order-42"), ExpectedVersion::Exact(3));
/// ```
///
/// An expectation no stream can meet, [`ExpectedVersion::Exact`] below 1, is refused by
/// the append with [`Error::Config`](crate::Error::Config) ([`check`](Self::check)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct AppendOptions {
    expected: BTreeMap<String, ExpectedVersion>,
    on_duplicate: OnDuplicate,
}

impl AppendOptions {
    /// No expectations; duplicates are errors.
    pub fn new() -> Self {
        Self::default()
    }

    /// Expects `subject`'s stream to be at `version` before the append.
    pub fn expect(mut self, subject: impl Into<String>, version: ExpectedVersion) -> Self {
        self.expected.insert(subject.into(), version);
        self
    }

    /// Chooses what happens to duplicate `(source, id)`s.
    pub fn on_duplicate(mut self, on_duplicate: OnDuplicate) -> Self {
        self.on_duplicate = on_duplicate;
        self
    }

    /// The expectation for `subject` (`Any` when none was given).
    pub fn expected(&self, subject: &str) -> ExpectedVersion {
        self.expected.get(subject).copied().unwrap_or_default()
    }

    /// Every subject with an expectation other than `Any`.
    pub fn expectations(&self) -> impl Iterator<Item = (&str, ExpectedVersion)> {
        self.expected
            .iter()
            .filter(|(_, v)| **v != ExpectedVersion::Any)
            .map(|(s, v)| (s.as_str(), *v))
    }

    /// The duplicate policy.
    pub fn duplicate_policy(&self) -> OnDuplicate {
        self.on_duplicate
    }

    /// Refuses an expectation no stream can meet as it is stated: an
    /// [`ExpectedVersion::Exact`] below 1, the first stream version (a subject without
    /// events is [`ExpectedVersion::NoStream`]), with [`Error::Config`](crate::Error::Config)
    /// naming the subject and the version. Every backend checks this before anything
    /// else about an append, so such an append writes nothing, on every backend alike.
    pub fn check(&self) -> crate::Result<()> {
        for (subject, expected) in self.expectations() {
            if let ExpectedVersion::Exact(version @ ..=0) = expected {
                return Err(crate::Error::Config(format!(
                    "expected version {version} of subject {subject:?} is no stream version: \
                     stream versions start at 1 (expect no stream, ExpectedVersion::NoStream, \
                     for a subject without events)"
                )));
            }
        }
        Ok(())
    }

    /// Decides the expectations on subjects no stream can have, those holding U+0000
    /// (no event holds one: see [`crate::sql::text`]), as the absence of their stream
    /// does: [`Error::Conflict`](crate::Error::Conflict) for the first that needs a
    /// stream, `Ok` otherwise. A backend that cannot send such a subject to its database
    /// (PostgreSQL) decides these with it and leaves them out of the statement; an
    /// append reports the first failed expectation in subject order, whichever kind
    /// of subject it is on, as every backend does.
    pub fn check_unheld_subjects(&self) -> crate::Result<()> {
        for (subject, expected) in self.expectations() {
            if !crate::sql::text::is_storable(subject) && !expected.is_met_by(None) {
                return Err(crate::Error::Conflict {
                    subject: subject.to_owned(),
                    expected,
                    actual: None,
                });
            }
        }
        Ok(())
    }
}

/// One appended event: where it landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendedEvent {
    /// Its position in the batch passed to append.
    pub index: usize,
    /// The global sequence it was given.
    pub sequence: i64,
    /// Its version within its subject's stream (`None` without a subject).
    pub stream_version: Option<i64>,
}

/// An event left out as a duplicate (with [`OnDuplicate::Skip`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedEvent {
    /// Its position in the batch passed to append.
    pub index: usize,
    /// Its `source`.
    pub source: String,
    /// Its `id`.
    pub id: String,
}

/// What an append wrote and what it left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendResult {
    /// The events written, in batch order (so in increasing sequence).
    pub appended: Vec<AppendedEvent>,
    /// The duplicates left out.
    pub skipped: Vec<SkippedEvent>,
    /// The commit time recorded for every event of the batch.
    pub recorded_at: OffsetDateTime,
}

impl AppendResult {
    /// The first sequence written, if any event was.
    pub fn first_sequence(&self) -> Option<i64> {
        self.appended.first().map(|a| a.sequence)
    }

    /// The last sequence written, if any event was.
    pub fn last_sequence(&self) -> Option<i64> {
        self.appended.last().map(|a| a.sequence)
    }

    /// The sequences written, in batch order.
    pub fn sequences(&self) -> impl Iterator<Item = i64> + '_ {
        self.appended.iter().map(|a| a.sequence)
    }
}
