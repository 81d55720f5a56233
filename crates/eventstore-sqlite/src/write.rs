//! The write path: one batch appended inside one transaction.

use std::collections::HashMap;

use eventstore_core::sql::{DataColumn, TableName, data_columns, extensions_column};
use eventstore_core::timestamp::format_fixed;
use eventstore_core::{
    AppendOptions, AppendResult, AppendedEvent, Error, Event, Limits, OnDuplicate, Result,
    SkippedEvent,
};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, OptionalExtension, Statement, params};
use time::OffsetDateTime;

use crate::error::db;

/// The statements of the write path for one table.
#[derive(Debug)]
pub(crate) struct WriteSql {
    insert: String,
    current_version: String,
    /// Checked here, where every append path meets, before any statement runs.
    limits: Limits,
}

impl WriteSql {
    pub(crate) fn new(table: &TableName, limits: Limits) -> Self {
        let t = table.quoted();
        Self {
            insert: format!(
                "INSERT INTO {t} (stream_version, recorded_at, id, source, type, subject, time, \
                 datacontenttype, dataschema, correlationid, topic, destination, extensions, \
                 data_kind, data) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) \
                 ON CONFLICT (source, id) DO NOTHING"
            ),
            current_version: format!("SELECT MAX(stream_version) FROM {t} WHERE subject = ?1"),
            limits,
        }
    }

    /// The insert every write path uses; it absorbs a conflict on `(source, id)` (see
    /// [`insert_row`]).
    pub(crate) fn insert(&self) -> &str {
        &self.insert
    }

    /// The limits every write path checks.
    pub(crate) fn limits(&self) -> Limits {
        self.limits
    }

    pub(crate) fn current_version(&self, conn: &Connection, subject: &str) -> Result<Option<i64>> {
        conn.prepare_cached(&self.current_version)
            .and_then(|mut stmt| stmt.query_row([subject], |row| row.get(0)).optional())
            .map(Option::flatten)
            .map_err(db)
    }

    /// [`append`](Self::append) inside a savepoint of its own, so that a batch that
    /// fails (a conflict, a duplicate, a database error) leaves nothing of itself in the
    /// enclosing transaction, which goes on (a group commit's other batches, or the
    /// caller's own writes).
    pub(crate) fn append_in_savepoint(
        &self,
        conn: &Connection,
        events: &[Event],
        options: &AppendOptions,
    ) -> Result<AppendResult> {
        conn.execute_batch("SAVEPOINT append").map_err(db)?;
        let appended = self.append(conn, events, options);
        let end = if appended.is_ok() {
            "RELEASE append"
        } else {
            "ROLLBACK TO append; RELEASE append"
        };
        conn.execute_batch(end).map_err(db)?;
        appended
    }

    /// Appends `events` on `conn`, which must be inside a write transaction (the caller
    /// commits, or rolls back on error: a failed batch may have written some of its
    /// events; [`append_in_savepoint`](Self::append_in_savepoint) takes them back).
    /// The caller has checked the batch against [`limits`](Self::limits), before
    /// waiting for the writer where it waits.
    pub(crate) fn append(
        &self,
        conn: &Connection,
        events: &[Event],
        options: &AppendOptions,
    ) -> Result<AppendResult> {
        let recorded_at = OffsetDateTime::now_utc();
        let recorded_text = format_fixed(recorded_at);
        let mut versions: HashMap<&str, Option<i64>> = HashMap::new();
        for (subject, expected) in options.expectations() {
            let actual = self.current_version(conn, subject)?;
            if !expected.is_met_by(actual) {
                return Err(Error::Conflict {
                    subject: subject.to_owned(),
                    expected,
                    actual,
                });
            }
        }
        let mut insert = conn.prepare_cached(&self.insert).map_err(db)?;
        let mut appended = Vec::with_capacity(events.len());
        let mut skipped = Vec::new();
        for (index, event) in events.iter().enumerate() {
            let stream_version = match event.subject() {
                None => None,
                Some(subject) => {
                    let current = match versions.get(subject) {
                        Some(v) => *v,
                        None => self.current_version(conn, subject)?,
                    };
                    Some(current.unwrap_or(0) + 1)
                }
            };
            let inserted = insert_row(&mut insert, event, stream_version, &recorded_text)
                .map_err(|e| constraint_error(e, event, options, self, conn))?;
            if !inserted {
                match options.duplicate_policy() {
                    OnDuplicate::Error => {
                        return Err(Error::Duplicate {
                            event_source: event.source().to_owned(),
                            id: event.id().to_owned(),
                        });
                    }
                    OnDuplicate::Skip => {
                        skipped.push(SkippedEvent {
                            index,
                            source: event.source().to_owned(),
                            id: event.id().to_owned(),
                        });
                        continue;
                    }
                }
            }
            if let Some(subject) = event.subject() {
                versions.insert(subject, stream_version);
            }
            appended.push(AppendedEvent {
                index,
                sequence: conn.last_insert_rowid(),
                stream_version,
            });
        }
        Ok(AppendResult {
            appended,
            skipped,
            recorded_at,
        })
    }
}

/// Inserts one event with the write path's insert statement (see [`WriteSql::insert`]);
/// false when its `(source, id)` is already stored, which the statement absorbs so that
/// the caller decides what a duplicate means.
pub(crate) fn insert_row(
    insert: &mut Statement<'_>,
    event: &Event,
    stream_version: Option<i64>,
    recorded_at: &str,
) -> rusqlite::Result<bool> {
    let extensions = extensions_column(event);
    let data = data_columns(event);
    let changed = insert.execute(params![
        stream_version,
        recorded_at,
        event.id(),
        event.source(),
        event.ty(),
        event.subject(),
        event.time().map(format_fixed),
        event.datacontenttype(),
        event.dataschema(),
        event.correlationid(),
        event.topic(),
        event.destination(),
        extensions,
        data.map(|d| d.kind()),
        data.map(data_value),
    ])?;
    Ok(changed == 1)
}

fn data_value(data: DataColumn<'_>) -> ToSqlOutput<'_> {
    match data {
        DataColumn::Json(text) | DataColumn::Text(text) => {
            ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes()))
        }
        DataColumn::Binary(bytes) => ToSqlOutput::Borrowed(ValueRef::Blob(bytes)),
    }
}

/// The only unique constraint an insert can still break, its conflicts on `(source, id)`
/// being absorbed by `ON CONFLICT`, is the stream version's: another connection wrote
/// to the subject. With every write under `BEGIN IMMEDIATE` this cannot happen, but a
/// foreign writer that skips the lock must still get a conflict, not a generic error,
/// naming the stream's version as `conn` now sees it.
pub(crate) fn constraint_error(
    error: rusqlite::Error,
    event: &Event,
    options: &AppendOptions,
    write_sql: &WriteSql,
    conn: &Connection,
) -> Error {
    match (&error, event.subject()) {
        (rusqlite::Error::SqliteFailure(e, _), Some(subject))
            if e.code == ErrorCode::ConstraintViolation =>
        {
            Error::Conflict {
                subject: subject.to_owned(),
                expected: options.expected(subject),
                actual: write_sql.current_version(conn, subject).ok().flatten(),
            }
        }
        _ => db(error),
    }
}
