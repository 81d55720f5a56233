//! The write path: a batch's parameters, and what the append statement's rows mean.

use std::collections::{HashMap, HashSet};

use eventstore_core::sql::{DataColumn, data_columns, extensions_column};
use eventstore_core::timestamp::format_fixed;
use eventstore_core::{
    AppendOptions, AppendResult, AppendedEvent, Error, Event, ExpectedVersion, OnDuplicate, Result,
    SkippedEvent,
};
use time::OffsetDateTime;
use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, Row, Statement};

use crate::error::{UniqueViolation, db, unique_violation};
use crate::types::{Jsonb, survives_jsonb};

/// A batch ready to send: the events after in-batch duplicates were taken out.
pub(crate) struct Batch<'a> {
    /// `(position in the caller's batch, event)`, in batch order.
    sent: Vec<(usize, &'a Event)>,
    /// In-batch duplicates left out (with [`OnDuplicate::Skip`]).
    skipped: Vec<SkippedEvent>,
    /// The first in-batch duplicate (with [`OnDuplicate::Error`]).
    duplicate: Option<&'a Event>,
}

impl<'a> Batch<'a> {
    pub(crate) fn new(events: &'a [Event], options: &AppendOptions) -> Self {
        let mut seen = HashSet::with_capacity(events.len());
        let mut batch = Batch {
            sent: Vec::with_capacity(events.len()),
            skipped: Vec::new(),
            duplicate: None,
        };
        for (index, event) in events.iter().enumerate() {
            if seen.insert((event.source(), event.id())) {
                batch.sent.push((index, event));
            } else if options.duplicate_policy() == OnDuplicate::Skip {
                batch.skipped.push(skipped(index, event));
            } else if batch.duplicate.is_none() {
                batch.duplicate = Some(event);
            }
        }
        if batch.duplicate.is_some() {
            // Expectations are checked before duplicates, as on SQLite: send no
            // events, only the expectations, and report the duplicate if they hold.
            batch.sent.clear();
        }
        batch
    }
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

/// The advisory-lock namespaces of a table (see [`crate::keys`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct LockKeys {
    /// The horizon locks' namespace, in the high 32 bits.
    pub(crate) horizon: i64,
    /// The subject locks' namespace.
    pub(crate) subject: i32,
}

/// What one attempt of the append statement came to.
pub(crate) enum Attempt {
    Done(Result<AppendResult>),
    /// A concurrent writer broke a unique index between snapshot and insert.
    Raced(UniqueViolation),
}

/// The recording time of a batch: now, to the microsecond `timestamptz` keeps.
pub(crate) fn recorded_now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1000 * 1000)
        .unwrap_or(now)
}

/// The batch's events as the statements' column arrays (`$1`–`$14`).
struct Columns<'a> {
    ids: Vec<&'a str>,
    sources: Vec<&'a str>,
    types: Vec<&'a str>,
    subjects: Vec<Option<&'a str>>,
    times: Vec<Option<String>>,
    datacontenttypes: Vec<Option<&'a str>>,
    dataschemas: Vec<Option<&'a str>>,
    correlationids: Vec<Option<&'a str>>,
    topics: Vec<Option<&'a str>>,
    destinations: Vec<Option<&'a str>>,
    extensions: Vec<Option<Jsonb<String>>>,
    kinds: Vec<Option<&'static str>>,
    json: Vec<Option<Jsonb<&'a str>>>,
    bytes: Vec<Option<&'a [u8]>>,
}

impl<'a> Columns<'a> {
    fn new(batch: &Batch<'a>) -> Self {
        let events: Vec<&'a Event> = batch.sent.iter().map(|(_, e)| *e).collect();
        let text = |f: fn(&'a Event) -> Option<&'a str>| -> Vec<Option<&'a str>> {
            events.iter().map(|e| f(e)).collect()
        };
        let data: Vec<Option<DataColumn<'a>>> = events.iter().map(|e| data_columns(e)).collect();
        Columns {
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
            extensions: events
                .iter()
                .map(|e| extensions_column(e).map(Jsonb))
                .collect(),
            kinds: data.iter().map(|d| d.map(|d| d.kind())).collect(),
            json: data.iter().map(|d| json_column(*d)).collect(),
            bytes: data.iter().map(|d| bytes_column(*d)).collect(),
        }
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 14] {
        [
            &self.ids,
            &self.sources,
            &self.types,
            &self.subjects,
            &self.times,
            &self.datacontenttypes,
            &self.dataschemas,
            &self.correlationids,
            &self.topics,
            &self.destinations,
            &self.extensions,
            &self.kinds,
            &self.json,
            &self.bytes,
        ]
    }
}

/// Whether a batch may go through the plain statement
/// ([`crate::append_sql::plain_append_sql`]): events to send, none repeated inside the
/// batch, no expectations, duplicates are errors. Anything else, and a plain attempt
/// that meets an event already stored, goes through the full statement.
pub(crate) fn plain(batch: &Batch<'_>, options: &AppendOptions) -> bool {
    !batch.sent.is_empty()
        && batch.duplicate.is_none()
        && options.duplicate_policy() == OnDuplicate::Error
        && options
            .expectations()
            .all(|(_, expected)| expected == ExpectedVersion::Any)
}

/// Runs the plain append statement once (see [`plain`]).
pub(crate) async fn attempt_plain(
    client: &impl GenericClient,
    statement: &Statement,
    keys: LockKeys,
    batch: &Batch<'_>,
) -> Result<Attempt> {
    let columns = Columns::new(batch);
    // Each event's position among its subject's events in this batch.
    let mut counts: HashMap<&str, i64> = HashMap::new();
    let positions: Vec<Option<i64>> = columns
        .subjects
        .iter()
        .map(|s| {
            s.map(|s| {
                let k = counts.entry(s).or_default();
                *k += 1;
                *k
            })
        })
        .collect();
    let recorded_at = recorded_now();
    let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(18);
    params.extend(columns.params());
    params.extend([
        &keys.horizon as &(dyn ToSql + Sync),
        &positions,
        &recorded_at,
        &keys.subject,
    ]);
    match client.query(statement, &params).await {
        Ok(rows) => {
            let mut appended = Vec::with_capacity(rows.len());
            for row in &rows {
                appended.push((
                    row.try_get::<_, i64>(0).map_err(db)?,
                    row.try_get::<_, Option<i64>>(1).map_err(db)?,
                ));
            }
            Ok(Attempt::Done(finish(
                appended,
                Vec::new(),
                batch,
                recorded_at,
            )))
        }
        Err(e) => match unique_violation(&e) {
            Some(violation) => Ok(Attempt::Raced(violation)),
            None => Err(db(e)),
        },
    }
}

/// Whether a unique violation of a plain attempt may be an event already stored, which
/// only the full statement reports as the caller asked.
pub(crate) fn maybe_stored(violation: &UniqueViolation) -> bool {
    !violation.constraint.ends_with("_subject_version")
}

/// Runs the append statement once.
pub(crate) async fn attempt(
    client: &impl GenericClient,
    statement: &Statement,
    keys: LockKeys,
    batch: &Batch<'_>,
    options: &AppendOptions,
) -> Result<Attempt> {
    let columns = Columns::new(batch);
    let (mut exp_subjects, mut exp_kinds, mut exp_versions) = (Vec::new(), Vec::new(), Vec::new());
    for (subject, expected) in options.expectations() {
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
    let skip = options.duplicate_policy() == OnDuplicate::Skip;
    let recorded_at = recorded_now();
    let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(21);
    params.extend(columns.params());
    params.extend([
        &keys.horizon as &(dyn ToSql + Sync),
        &skip,
        &exp_subjects,
        &exp_kinds,
        &exp_versions,
        &recorded_at,
        &keys.subject,
    ]);
    match client.query(statement, &params).await {
        Ok(rows) => Ok(Attempt::Done(outcome(rows, batch, options, recorded_at))),
        Err(e) => match unique_violation(&e) {
            Some(violation) => Ok(Attempt::Raced(violation)),
            None => Err(db(e)),
        },
    }
}

fn json_column(data: Option<DataColumn<'_>>) -> Option<Jsonb<&str>> {
    match data {
        Some(DataColumn::Json(text)) if survives_jsonb(text) => Some(Jsonb(text)),
        _ => None,
    }
}

fn bytes_column(data: Option<DataColumn<'_>>) -> Option<&[u8]> {
    match data? {
        DataColumn::Json(text) if survives_jsonb(text) => None,
        DataColumn::Json(text) | DataColumn::Text(text) => Some(text.as_bytes()),
        DataColumn::Binary(bytes) => Some(bytes),
    }
}

fn outcome(
    rows: Vec<Row>,
    batch: &Batch<'_>,
    options: &AppendOptions,
    recorded_at: OffsetDateTime,
) -> Result<AppendResult> {
    let mut appended = Vec::new();
    let mut duplicates = Vec::new();
    let mut conflicts = Vec::new();
    for row in &rows {
        let n: Option<i64> = row.get(1);
        match row.get::<_, &str>(0) {
            "appended" => appended.push((n.unwrap_or_default(), row.get::<_, Option<i64>>(2))),
            "duplicate" => duplicates.push(n.unwrap_or_default() as usize - 1),
            _ => conflicts.push((row.get::<_, String>(3), n)),
        }
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
    if let Some(event) = batch.duplicate {
        return Err(duplicate(event));
    }
    duplicates.sort_unstable();
    if options.duplicate_policy() == OnDuplicate::Error
        && let Some(&first) = duplicates.first()
    {
        return Err(duplicate(batch.sent[first].1));
    }
    finish(appended, duplicates, batch, recorded_at)
}

/// The result of a batch: `appended` the `(sequence, stream_version)` of the events
/// inserted, `duplicates` the positions (in `batch.sent`, sorted) of those skipped as
/// already stored.
fn finish(
    mut appended: Vec<(i64, Option<i64>)>,
    duplicates: Vec<usize>,
    batch: &Batch<'_>,
    recorded_at: OffsetDateTime,
) -> Result<AppendResult> {
    appended.sort_unstable();
    let mut skipped = batch.skipped.clone();
    skipped.extend(duplicates.iter().map(|&i| skipped_at(batch, i)));
    skipped.sort_by_key(|s| s.index);
    let fresh = batch
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
    if appended.len() + duplicates.len() != batch.sent.len() {
        return Err(Error::database(format!(
            "the append statement returned {} rows for {} events",
            appended.len() + duplicates.len(),
            batch.sent.len()
        )));
    }
    Ok(AppendResult {
        appended,
        skipped,
        recorded_at,
    })
}

fn skipped_at(batch: &Batch<'_>, position: usize) -> SkippedEvent {
    let (index, event) = batch.sent[position];
    skipped(index, event)
}

/// The error a unique violation becomes when the append cannot be retried (inside a
/// caller's transaction, or after the retries ran out).
pub(crate) fn violation_error(violation: UniqueViolation, options: &AppendOptions) -> Error {
    let mut key = violation.key.into_iter();
    if violation.constraint.ends_with("_subject_version") {
        let subject = key.next().unwrap_or_default();
        Error::Conflict {
            expected: options.expected(&subject),
            subject,
            actual: None,
        }
    } else {
        Error::Duplicate {
            event_source: key.next().unwrap_or_default(),
            id: key.next().unwrap_or_default(),
        }
    }
}
