//! The write path on tokio-postgres: binding a batch's [`AppendParams`] and reading
//! the append statement's rows (their meaning is [`Batch::outcome`]).

use eventstore_core::Result;
use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, Row, Statement};

pub(crate) use crate::attempt::Attempt;
use crate::batch::{AppendParams, Batch, LockKeys, OutcomeRow, recorded_now};
use crate::error::{db, is_transient, unique_violation};
use crate::savepoint::{
    RELEASE_SAVEPOINT_SQL, ROLLBACK_TO_SAVEPOINT_SQL, SAVEPOINT_SQL, is_outside_transaction_code,
    retries_after,
};
use crate::types::Jsonb;

/// Runs an append statement once: the plain one (`plain`, see [`Batch::is_plain`]) or
/// the full one.
pub(crate) async fn attempt(
    client: &impl GenericClient,
    statement: &Statement,
    keys: LockKeys,
    batch: &Batch<'_>,
    plain: bool,
) -> Result<Attempt> {
    let recorded_at = recorded_now();
    let p: AppendParams<'_> = batch.params(keys, recorded_at);
    let extensions: Vec<Option<Jsonb<&str>>> = p
        .extensions
        .iter()
        .map(|e| e.as_deref().map(Jsonb))
        .collect();
    let json: Vec<Option<Jsonb<&str>>> = p.data_json.iter().map(|d| d.map(Jsonb)).collect();
    let columns: [&(dyn ToSql + Sync); 14] = [
        &p.ids,
        &p.sources,
        &p.types,
        &p.subjects,
        &p.times,
        &p.datacontenttypes,
        &p.dataschemas,
        &p.correlationids,
        &p.topics,
        &p.destinations,
        &extensions,
        &p.data_kinds,
        &json,
        &p.data_bytes,
    ];
    let positions;
    let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(21);
    params.extend(columns);
    if plain {
        positions = batch.subject_positions();
        params.extend([
            &p.horizon_namespace as &(dyn ToSql + Sync),
            &positions,
            &p.recorded_at,
            &p.subject_namespace,
        ]);
    } else {
        params.extend([
            &p.horizon_namespace as &(dyn ToSql + Sync),
            &p.skip_duplicates,
            &p.expected_subjects,
            &p.expected_kinds,
            &p.expected_versions,
            &p.recorded_at,
            &p.subject_namespace,
        ]);
    }
    match client.query(statement, &params).await {
        Ok(rows) if plain => Ok(Attempt::Done(batch.outcome(
            rows.iter().map(|row| OutcomeRow {
                outcome: "appended".to_owned(),
                n: row.get(0),
                stream_version: row.get(1),
                subject: None,
            }),
            recorded_at,
        ))),
        Ok(rows) => Ok(Attempt::Done(
            batch.outcome(rows.iter().map(outcome_row), recorded_at),
        )),
        Err(e) => match unique_violation(&e) {
            Some(violation) => Ok(Attempt::Raced(violation)),
            None if is_transient(&e) => Ok(Attempt::Transient(db(e))),
            None => Err(db(e)),
        },
    }
}

/// Runs an append statement as [`attempt`] does, after taking the batch's subject locks
/// (`lock`: [`lock_subjects_sql`](crate::statements::lock_subjects_sql)) in a statement
/// of its own. Both are sent at once, so this is still one round trip; the append's
/// snapshot, taken after the locks, sees every version committed before them, so it
/// cannot race on a stream version. Only inside a transaction: the locks last until it
/// ends.
pub(crate) async fn attempt_locked(
    client: &impl GenericClient,
    lock: &Statement,
    statement: &Statement,
    keys: LockKeys,
    batch: &Batch<'_>,
    plain: bool,
) -> Result<Attempt> {
    let subjects = batch.subjects();
    let locked = async {
        if subjects.is_empty() {
            return Ok(());
        }
        client
            .execute(lock, &[&keys.subject, &subjects])
            .await
            .map(drop)
    };
    // `join` polls in order, and each query is sent when first polled: the locks go
    // first.
    let (locked, attempted) =
        futures::join!(locked, attempt(client, statement, keys, batch, plain));
    // A failed lock statement aborts the transaction, and with it the append: report
    // the cause. Outside a transaction block the append statement ran on its own, and
    // what it did stands.
    match locked {
        Ok(()) => attempted,
        Err(_) if matches!(attempted, Ok(Attempt::Done(_))) => attempted,
        Err(e) if is_transient(&e) => Ok(Attempt::Transient(db(e))),
        Err(e) => Err(db(e)),
    }
}

/// Runs [`attempt_locked`] in a savepoint, for a batch that skips duplicates inside a
/// caller's transaction (see [`crate::savepoint`]): after a `(source, id)` that a
/// concurrent transaction committed while the append waited, rolls back to the
/// savepoint and runs the attempt again, on a new snapshot, as long as each retry skips
/// one more event (see [`retries_after`]).
pub(crate) async fn attempt_in_savepoint(
    client: &impl GenericClient,
    lock: &Statement,
    statement: &Statement,
    keys: LockKeys,
    batch: &Batch<'_>,
) -> Result<Attempt> {
    // The savepoint goes with the locks and the append: still one round trip.
    let (saved, attempted) = futures::join!(
        savepoint(client, SAVEPOINT_SQL),
        attempt_locked(client, lock, statement, keys, batch, false)
    );
    saved?;
    let mut attempted = attempted?;
    let mut previous = None;
    while let Attempt::Raced(violation) = attempted {
        if !retries_after(&violation, previous.as_ref()) {
            attempted = Attempt::Raced(violation);
            break;
        }
        let (back, again) = futures::join!(
            savepoint(client, ROLLBACK_TO_SAVEPOINT_SQL),
            attempt_locked(client, lock, statement, keys, batch, false)
        );
        back?;
        attempted = again?;
        previous = Some(violation);
    }
    if let Attempt::Done(_) = attempted {
        savepoint(client, RELEASE_SAVEPOINT_SQL).await?;
    }
    Ok(attempted)
}

/// Runs a savepoint statement. Outside a transaction block, where it fails and none is
/// needed (a failed statement rolls back alone), it does nothing.
async fn savepoint(client: &impl GenericClient, sql: &str) -> Result<()> {
    match client.batch_execute(sql).await {
        Err(e)
            if e.code()
                .is_some_and(|c| is_outside_transaction_code(c.code())) =>
        {
            Ok(())
        }
        done => done.map_err(db),
    }
}

fn outcome_row(row: &Row) -> OutcomeRow {
    OutcomeRow {
        outcome: row.get(0),
        n: row.get(1),
        stream_version: row.get(2),
        subject: row.get(3),
    }
}
