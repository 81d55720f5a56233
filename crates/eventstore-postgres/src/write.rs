//! The write path: a batch's parameters, and what the append statement's rows mean.

use std::collections::HashSet;

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

/// Runs the append statement once.
pub(crate) async fn attempt(
    client: &impl GenericClient,
    statement: &Statement,
    keys: LockKeys,
    batch: &Batch<'_>,
    options: &AppendOptions,
) -> Result<Attempt> {
    let events: Vec<&Event> = batch.sent.iter().map(|(_, e)| *e).collect();
    let text = |f: fn(&Event) -> Option<&str>| -> Vec<Option<&str>> {
        events.iter().map(|e| f(e)).collect()
    };
    let ids: Vec<&str> = events.iter().map(|e| e.id()).collect();
    let sources: Vec<&str> = events.iter().map(|e| e.source()).collect();
    let types: Vec<&str> = events.iter().map(|e| e.ty()).collect();
    let subjects = text(Event::subject);
    let times: Vec<Option<String>> = events.iter().map(|e| e.time().map(format_fixed)).collect();
    let datacontenttypes = text(Event::datacontenttype);
    let dataschemas = text(Event::dataschema);
    let correlationids = text(Event::correlationid);
    let topics = text(Event::topic);
    let destinations = text(Event::destination);
    let extensions: Vec<Option<Jsonb<String>>> = events
        .iter()
        .map(|e| extensions_column(e).map(Jsonb))
        .collect();
    let data: Vec<Option<DataColumn<'_>>> = events.iter().map(|e| data_columns(e)).collect();
    let kinds: Vec<Option<&str>> = data.iter().map(|d| d.map(|d| d.kind())).collect();
    let json: Vec<Option<Jsonb<&str>>> = data.iter().map(|d| json_column(*d)).collect();
    let bytes: Vec<Option<&[u8]>> = data.iter().map(|d| bytes_column(*d)).collect();
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
    let params: [&(dyn ToSql + Sync); 21] = [
        &ids,
        &sources,
        &types,
        &subjects,
        &times,
        &datacontenttypes,
        &dataschemas,
        &correlationids,
        &topics,
        &destinations,
        &extensions,
        &kinds,
        &json,
        &bytes,
        &keys.horizon,
        &skip,
        &exp_subjects,
        &exp_kinds,
        &exp_versions,
        &recorded_at,
        &keys.subject,
    ];
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
