//! The driver-independent half of an append: a batch's parameters, and what the
//! append statement's rows mean. The tokio-postgres binding is in [`crate::write`];
//! other drivers (eventstore-sqlx) bind the same [`AppendParams`] through
//! [`crate::statements`].

use std::collections::HashSet;

use eventstore_core::sql::{DataColumn, TableName, data_columns, extensions_column};
use eventstore_core::timestamp::format_fixed;
use eventstore_core::{
    AppendOptions, AppendResult, AppendedEvent, Error, Event, ExpectedVersion, OnDuplicate, Result,
    SkippedEvent,
};
use time::OffsetDateTime;

use crate::horizon::lock_base;
use crate::keys::subject_class;
use crate::types::data_columns_split;

/// The advisory-lock namespaces of a table (see the keys section of
/// [`statements`](crate::statements)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockKeys {
    /// The horizon locks' namespace, in the high 32 bits (the append statement's `$15`).
    pub horizon: i64,
    /// The subject locks' namespace (the append statement's `$21`, the subject-lock
    /// statement's `$1`).
    pub subject: i32,
}

impl LockKeys {
    /// The namespaces of `table`'s locks.
    pub fn new(table: &TableName) -> Self {
        Self {
            horizon: lock_base(table),
            subject: subject_class(table),
        }
    }
}

/// A batch ready to send: the events after in-batch duplicates were taken out.
#[derive(Debug)]
pub struct Batch<'a> {
    /// `(position in the caller's batch, event)`, in batch order.
    sent: Vec<(usize, &'a Event)>,
    /// In-batch duplicates left out (with [`OnDuplicate::Skip`]).
    skipped: Vec<SkippedEvent>,
    /// The first in-batch duplicate (with [`OnDuplicate::Error`]): the batch is refused,
    /// and only the events before it are sent, to be looked up, not written.
    duplicate: Option<&'a Event>,
    /// The first subject holding U+0000 whose expectation needs a stream (decided here,
    /// as no stream can have it): the batch is refused, and no event is sent.
    unheld: Option<String>,
    /// The caller's events.
    events: &'a [Event],
    /// The batch's options.
    options: &'a AppendOptions,
}

impl<'a> Batch<'a> {
    /// Takes the in-batch duplicates out of `events` as `options` says, once `options`
    /// have passed [`AppendOptions::check`] (every PostgreSQL append, of the store and of
    /// other drivers, comes through here). Expectations on
    /// subjects holding U+0000, which PostgreSQL's `text` cannot take, are decided here
    /// ([`AppendOptions::check_unheld_subjects`]) and left out of the statement; one
    /// that needs a stream refuses the batch, with the [`Error::Conflict`]
    /// [`outcome`](Self::outcome) reports for the first failed expectation in subject
    /// order, among these and those the statement checks, as SQLite's order.
    pub fn new(events: &'a [Event], options: &'a AppendOptions) -> Result<Self> {
        options.check()?;
        let unheld = match options.check_unheld_subjects() {
            Ok(()) => None,
            Err(Error::Conflict { subject, .. }) => Some(subject),
            Err(e) => return Err(e),
        };
        let mut seen = HashSet::with_capacity(events.len());
        let mut batch = Batch {
            sent: Vec::with_capacity(events.len()),
            skipped: Vec::new(),
            duplicate: None,
            unheld,
            events,
            options,
        };
        for (index, event) in events.iter().enumerate() {
            if seen.insert((event.source(), event.id())) {
                batch.sent.push((index, event));
            } else if options.duplicate_policy() == OnDuplicate::Skip {
                batch.skipped.push(skipped(index, event));
            } else {
                // Expectations are checked before duplicates, and the first duplicate in
                // batch order is the one reported, as on SQLite: send only the events
                // before this one, to find those already stored (the statement writes
                // nothing for such a batch: see `params`), and the expectations.
                batch.duplicate = Some(event);
                batch.sent.retain(|(sent, _)| *sent < index);
                break;
            }
        }
        if batch.unheld.is_some() {
            // Refused for an expectation: only the other expectations are checked.
            batch.sent.clear();
        }
        Ok(batch)
    }

    /// Whether the plain append statement can take this batch: events to send, none
    /// repeated inside it, duplicates refused and no expectation but `Any`. Anything
    /// else needs the full statement.
    pub fn is_plain(&self) -> bool {
        !self.sent.is_empty()
            && self.duplicate.is_none()
            && self.options.duplicate_policy() == OnDuplicate::Error
            && self
                .options
                .expectations()
                .all(|(_, e)| e == eventstore_core::ExpectedVersion::Any)
    }

    /// Each sent event's position among its subject's events in this batch (1-based;
    /// `None` without a subject): the plain statement's `$16`.
    pub fn subject_positions(&self) -> Vec<Option<i64>> {
        let mut counts: std::collections::HashMap<&str, i64> = std::collections::HashMap::new();
        self.sent
            .iter()
            .map(|(_, e)| {
                e.subject().map(|s| {
                    let k = counts.entry(s).or_default();
                    *k += 1;
                    *k
                })
            })
            .collect()
    }

    /// The subjects to lock before the append statement, with the subject-lock
    /// statement ([`lock_subjects_sql`](crate::statements::lock_subjects_sql)): those
    /// the batch writes and those it only checks (an expectation other than `Any`), so
    /// that a concurrent batch cannot change a checked stream between the check and the
    /// commit. Empty when there is nothing to lock.
    pub fn subjects(&self) -> Vec<&'a str> {
        let options: &'a AppendOptions = self.options;
        self.events
            .iter()
            .filter_map(Event::subject)
            .chain(self.checked_subjects(options))
            .collect()
    }

    /// Whether [`subjects`](Self::subjects) would be non-empty (without collecting them).
    pub fn has_subjects(&self) -> bool {
        self.events.iter().any(|e| e.subject().is_some())
            || self.checked_subjects(self.options).next().is_some()
    }

    /// Whether the batch checks a subject it does not write. The append statement locks
    /// only the subjects it writes, after its snapshot: such a batch must take its locks
    /// first ([`subjects`](Self::subjects)), or a concurrent batch writing the checked
    /// subject could commit unseen between the check and this batch's commit.
    pub fn checks_unwritten_subjects(&self) -> bool {
        let written: HashSet<&str> = self.events.iter().filter_map(Event::subject).collect();
        self.checked_subjects(self.options)
            .any(|subject| !written.contains(subject))
    }

    /// The subjects of the expectations the statement checks (those other than `Any`,
    /// on subjects a stream can have).
    fn checked_subjects(&self, options: &'a AppendOptions) -> impl Iterator<Item = &'a str> {
        options
            .expectations()
            .map(|(subject, _)| subject)
            .filter(|subject| eventstore_core::sql::text::is_storable(subject))
    }

    /// The append statement's parameters, recorded at `recorded_at` (see
    /// [`recorded_now`]). Expectations on subjects holding U+0000 are left out
    /// ([`Batch::new`] decided them).
    pub fn params(&self, keys: LockKeys, recorded_at: OffsetDateTime) -> AppendParams<'a> {
        let events: Vec<&'a Event> = self.sent.iter().map(|(_, e)| *e).collect();
        let text = |f: fn(&'a Event) -> Option<&'a str>| -> Vec<Option<&'a str>> {
            events.iter().map(|e| f(e)).collect()
        };
        let data: Vec<Option<DataColumn<'a>>> = events.iter().map(|e| data_columns(e)).collect();
        let (data_json, data_bytes) = data.iter().map(|d| data_columns_split(*d)).unzip();
        let (mut exp_subjects, mut exp_kinds, mut exp_versions) =
            (Vec::new(), Vec::new(), Vec::new());
        for (subject, expected) in self.options.expectations() {
            if !eventstore_core::sql::text::is_storable(subject) {
                // Decided by `Batch::new`.
                continue;
            }
            let (kind, version) = match expected {
                ExpectedVersion::NoStream => ("no_stream", None),
                ExpectedVersion::Exists => ("exists", None),
                ExpectedVersion::Exact(v) => ("exact", Some(v)),
                ExpectedVersion::Any => continue,
            };
            exp_subjects.push(subject);
            exp_kinds.push(kind);
            exp_versions.push(version);
        }
        AppendParams {
            ids: events.iter().map(|e| e.id()).collect(),
            sources: events.iter().map(|e| e.source()).collect(),
            types: events.iter().map(|e| e.ty()).collect(),
            subjects: text(Event::subject),
            times: events.iter().map(|e| e.time().map(format_fixed)).collect(),
            datacontenttypes: text(Event::datacontenttype),
            dataschemas: text(Event::dataschema),
            correlationids: text(Event::correlationid),
            topics: text(Event::topic),
            destinations: text(Event::destination),
            extensions: events.iter().map(|e| extensions_column(e)).collect(),
            data_kinds: data.iter().map(|d| d.map(|d| d.kind())).collect(),
            data_json,
            data_bytes,
            horizon_namespace: keys.horizon,
            skip_duplicates: (self.duplicate.is_none() && self.unheld.is_none())
                .then(|| self.options.duplicate_policy() == OnDuplicate::Skip),
            expected_subjects: exp_subjects,
            expected_kinds: exp_kinds,
            expected_versions: exp_versions,
            recorded_at,
            subject_namespace: keys.subject,
        }
    }

    /// What the append statement's result rows mean: the [`AppendResult`], or the
    /// conflict or duplicate that stopped the batch.
    pub fn outcome(
        &self,
        rows: impl IntoIterator<Item = OutcomeRow>,
        recorded_at: OffsetDateTime,
    ) -> Result<AppendResult> {
        let options = self.options;
        let mut appended = Vec::new();
        let mut duplicates = Vec::new();
        let mut conflicts = Vec::new();
        for row in rows {
            match row.outcome.as_str() {
                "appended" => appended.push((row.n.unwrap_or_default(), row.stream_version)),
                "duplicate" => duplicates.push(row.n.unwrap_or_default() as usize - 1),
                _ => conflicts.push((row.subject.unwrap_or_default(), row.n)),
            }
        }
        if let Some(subject) = &self.unheld {
            conflicts.push((subject.clone(), None));
        }
        // Expectations come first, in subject order, as SQLite checks them.
        conflicts.sort();
        if let Some((subject, actual)) = conflicts.into_iter().next() {
            return Err(Error::Conflict {
                expected: options.expected(&subject),
                subject,
                actual,
            });
        }
        // The first duplicate in batch order: a stored event sent before the first
        // in-batch duplicate, else that one.
        duplicates.sort_unstable();
        if options.duplicate_policy() == OnDuplicate::Error
            && let Some(&first) = duplicates.first()
        {
            return Err(duplicate(self.sent[first].1));
        }
        if let Some(event) = self.duplicate {
            return Err(duplicate(event));
        }
        appended.sort_unstable();
        let mut skipped = self.skipped.clone();
        skipped.extend(duplicates.iter().map(|&i| self.skipped_at(i)));
        skipped.sort_by_key(|s| s.index);
        let fresh = self
            .sent
            .iter()
            .enumerate()
            .filter(|(i, _)| duplicates.binary_search(i).is_err())
            .map(|(_, (index, _))| *index);
        let appended: Vec<AppendedEvent> = fresh
            .zip(&appended)
            .map(|(index, &(sequence, stream_version))| AppendedEvent {
                index,
                sequence,
                stream_version,
            })
            .collect();
        if appended.len() + duplicates.len() != self.sent.len() {
            return Err(Error::database(format!(
                "the append statement returned {} rows for {} events",
                appended.len() + duplicates.len(),
                self.sent.len()
            )));
        }
        Ok(AppendResult {
            appended,
            skipped,
            recorded_at,
        })
    }

    fn skipped_at(&self, position: usize) -> SkippedEvent {
        let (index, event) = self.sent[position];
        skipped(index, event)
    }
}

/// The parameters of the append statement
/// ([`append_sql`](crate::statements::append_sql)), in placeholder order, as plain
/// Rust values for any driver to bind. JSON columns are JSON text, bound as `jsonb`
/// (or as `text`, which the statement casts).
#[derive(Debug, Clone)]
pub struct AppendParams<'a> {
    /// `$1`: `text[]`.
    pub ids: Vec<&'a str>,
    /// `$2`: `text[]`.
    pub sources: Vec<&'a str>,
    /// `$3`: `text[]`.
    pub types: Vec<&'a str>,
    /// `$4`: `text[]`.
    pub subjects: Vec<Option<&'a str>>,
    /// `$5`: `text[]`, the fixed-width RFC 3339 form (nanoseconds kept).
    pub times: Vec<Option<String>>,
    /// `$6`: `text[]`.
    pub datacontenttypes: Vec<Option<&'a str>>,
    /// `$7`: `text[]`.
    pub dataschemas: Vec<Option<&'a str>>,
    /// `$8`: `text[]`.
    pub correlationids: Vec<Option<&'a str>>,
    /// `$9`: `text[]`.
    pub topics: Vec<Option<&'a str>>,
    /// `$10`: `text[]`.
    pub destinations: Vec<Option<&'a str>>,
    /// `$11`: `jsonb[]`, JSON text.
    pub extensions: Vec<Option<String>>,
    /// `$12`: `text[]`.
    pub data_kinds: Vec<Option<&'static str>>,
    /// `$13`: `jsonb[]`, JSON text: JSON data that `jsonb` keeps as it is.
    pub data_json: Vec<Option<&'a str>>,
    /// `$14`: `bytea[]`: every other data, losslessly.
    pub data_bytes: Vec<Option<&'a [u8]>>,
    /// `$15`: `int8`.
    pub horizon_namespace: i64,
    /// `$16`: `bool`: whether duplicates are skipped; `None` (`NULL`) for a batch refused
    /// already (it repeats an event, with [`OnDuplicate::Error`], or expects a stream
    /// of a subject holding U+0000), which the statement then writes nothing of, only
    /// reporting the conflicts and the stored events it was sent.
    pub skip_duplicates: Option<bool>,
    /// `$17`: `text[]`.
    pub expected_subjects: Vec<&'a str>,
    /// `$18`: `text[]`.
    pub expected_kinds: Vec<&'static str>,
    /// `$19`: `int8[]`.
    pub expected_versions: Vec<Option<i64>>,
    /// `$20`: `timestamptz`.
    pub recorded_at: OffsetDateTime,
    /// `$21`: `int4`.
    pub subject_namespace: i32,
}

/// One result row of the append statement, as read by any driver: the columns
/// `outcome`, `n`, `stream_version`, `subject` (see [`crate::statements`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeRow {
    /// `appended`, `duplicate` or `conflict`.
    pub outcome: String,
    /// The sequence, the batch position, or the actual version.
    pub n: Option<i64>,
    /// The stream version of an appended event.
    pub stream_version: Option<i64>,
    /// The subject of a conflict.
    pub subject: Option<String>,
}

fn skipped(index: usize, event: &Event) -> SkippedEvent {
    SkippedEvent {
        index,
        source: event.source().to_owned(),
        id: event.id().to_owned(),
    }
}

fn duplicate(event: &Event) -> Error {
    Error::Duplicate {
        event_source: event.source().to_owned(),
        id: event.id().to_owned(),
    }
}

/// The recording time of a batch: now, to the microsecond `timestamptz` keeps.
pub fn recorded_now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1000 * 1000)
        .unwrap_or(now)
}

/// A unique violation (SQLSTATE 23505) of the event table: which constraint, and the
/// key the server reported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UniqueViolation {
    /// The constraint's (index's) name.
    pub constraint: String,
    /// The key as the server's detail message shows it, its values joined with ", ":
    /// `/a, 1` of `Key (source, id)=(/a, 1) already exists.`; empty without a detail.
    pub key: String,
}

impl UniqueViolation {
    /// From the error's constraint name and detail message
    /// (`Key (source, id)=(/a, 1) already exists.`).
    pub fn new(constraint: Option<&str>, detail: Option<&str>) -> Self {
        Self {
            constraint: constraint.unwrap_or_default().to_owned(),
            key: detail.and_then(key_text).unwrap_or_default().to_owned(),
        }
    }

    /// Whether it broke the `(subject, stream_version)` index: another writer took a
    /// stream version first. (The index is `<table>$subject_version`, or
    /// `<table>_subject_version` before schema version 4.)
    pub fn on_stream_version(&self) -> bool {
        self.constraint.ends_with("subject_version")
    }

    /// Whether it broke the `(source, id)` constraint: the event is stored already.
    /// (`<table>$source_id`, or `<table>_source_id` before schema version 4.)
    pub fn on_source_id(&self) -> bool {
        self.constraint.ends_with("source_id")
    }

    /// The error this violation becomes when the append cannot be retried (inside a
    /// caller's transaction, or after the retries ran out): [`Error::Conflict`] on the
    /// `(subject, stream_version)` index, with the version another writer took as the
    /// actual one (the stream has reached at least that), else [`Error::Duplicate`].
    pub fn into_error(self, options: &AppendOptions) -> Error {
        // The key is one text, its values joined with ", ", which a subject or an id may
        // hold too: it is split where only the other value cannot, after the subject
        // (a version is digits) and before the id (a source, a URI-reference, holds no
        // space).
        if self.on_stream_version() {
            let (subject, actual) = match self.key.rsplit_once(", ") {
                Some((subject, version)) => (subject.to_owned(), version.parse().ok()),
                None => (self.key, None),
            };
            Error::Conflict {
                expected: options.expected(&subject),
                subject,
                actual,
            }
        } else {
            let (source, id) = self.key.split_once(", ").unwrap_or((&self.key, ""));
            Error::Duplicate {
                event_source: source.to_owned(),
                id: id.to_owned(),
            }
        }
    }
}

/// The key's text of `Key (a, b)=(x, y) already exists.`: `x, y`.
fn key_text(detail: &str) -> Option<&str> {
    // The column list holds no ")=(", and the values end at the last ") already
    // exists", whatever they hold.
    let start = detail.find(")=(")? + 3;
    let end = detail.rfind(") already exists")?;
    detail.get(start..end)
}

#[cfg(test)]
mod tests {
    use super::key_text;

    #[test]
    fn a_lost_stream_version_names_the_version_taken() {
        let violation = super::UniqueViolation::new(
            Some("events$subject_version"),
            Some("Key (subject, stream_version)=(a, b, 7) already exists."),
        );
        let error = violation.into_error(&eventstore_core::AppendOptions::new());
        let eventstore_core::Error::Conflict {
            subject, actual, ..
        } = error
        else {
            panic!("{error}");
        };
        assert_eq!((subject.as_str(), actual), ("a, b", Some(7)));
    }

    #[test]
    fn a_duplicate_is_named_by_its_whole_id() {
        let violation = super::UniqueViolation::new(
            Some("events$source_id"),
            Some("Key (source, id)=(/s, order 7, line 2) already exists."),
        );
        let error = violation.into_error(&eventstore_core::AppendOptions::new());
        let eventstore_core::Error::Duplicate { event_source, id } = error else {
            panic!("{error}");
        };
        assert_eq!(
            (event_source.as_str(), id.as_str()),
            ("/s", "order 7, line 2")
        );
    }

    #[test]
    fn reads_the_key_of_a_detail() {
        assert_eq!(
            key_text("Key (source, id)=(/a, 1) already exists.").unwrap(),
            "/a, 1"
        );
    }
}
