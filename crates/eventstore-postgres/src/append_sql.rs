//! The append statement: a whole batch in one round trip.
//!
//! One `INSERT … SELECT … FROM unnest(…)` over one array parameter per column, inside
//! a statement that, on the same snapshot, finds the batch's events already stored,
//! checks the expected versions, numbers each subject's new events after its current
//! version, takes the table's append lock shared and an exclusive lock per subject (in
//! hash order, so that writers of overlapping subjects queue instead of deadlocking on
//! the stream-version index), then the horizon lock (see [`crate::horizon`]) and only
//! then, gated on all that, inserts.
//!
//! A batch over [`MAX_SUBJECT_LOCKS`] subjects takes the table's append lock
//! exclusively instead of the subject locks: PostgreSQL's lock table has room for
//! `max_locks_per_transaction × max_connections` locks (6,400 by default) across all
//! sessions, and a 20,000-subject batch failed with "out of shared memory". It then
//! waits for every other append to the table, and they for it. A bulk import takes it
//! exclusively too ([`lock_appends_sql`]), for the whole import.
//!
//! The result rows say what happened:
//!
//! | outcome     | n                  | stream_version | subject |
//! |-------------|--------------------|----------------|---------|
//! | `appended`  | the sequence       | the version    |         |
//! | `duplicate` | the batch position | (1-based)      |         |
//! | `conflict`  | the actual version |                | subject |
//!
//! The gate is an uncorrelated sub-select, so PostgreSQL evaluates it (and with it the
//! horizon lock) once, before the insert's first row and so before the first
//! `nextval`. A writer that waited for a subject lock, or a concurrent writer of the
//! same `(source, id)`, may find its snapshot stale; the unique indexes then refuse the
//! insert (SQLSTATE 23505) and the store retries on a new snapshot, which sees the other
//! writer's events.

use eventstore_core::sql::TableName;

use crate::schema::sequence_name;

/// The statement's text for `table`. Parameters: `$1`–`$14` the column arrays, `$15`
/// the horizon-lock namespace (already shifted into the high 32 bits), `$16` whether
/// duplicates are skipped (`NULL`: write nothing, only report, for a batch that repeats
/// an event), `$17`–`$19` the expectations (subject, kind, version), `$20` the
/// recording time, `$21` the namespace of the subject locks.
pub fn append_sql(table: &TableName) -> String {
    let t = table.quoted();
    let sequence = sequence_name(table);
    let appends = appends_cte("$21", "fresh_subjects");
    let horizon = horizon_lock("$15", &sequence);
    format!(
        "WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
        $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::jsonb[],
        $12::text[], $13::jsonb[], $14::bytea[])
        WITH ORDINALITY AS u(id, source, type, subject, time, datacontenttype, dataschema,
            correlationid, topic, destination, extensions, data_kind, data, data_bytes, ord)
), duplicate AS (
    SELECT i.ord FROM input i
    WHERE EXISTS (SELECT 1 FROM {t} e WHERE e.source = i.source AND e.id = i.id)
), fresh AS (
    SELECT i.*, row_number() OVER (PARTITION BY i.subject ORDER BY i.ord) AS k
    FROM input i WHERE i.ord NOT IN (SELECT ord FROM duplicate)
), current AS (
    SELECT s.subject,
        (SELECT max(e.stream_version) FROM {t} e WHERE e.subject = s.subject) AS version
    FROM (SELECT DISTINCT subject FROM fresh WHERE subject IS NOT NULL) s
), expectation AS (
    SELECT x.subject, x.kind, x.version,
        (SELECT max(e.stream_version) FROM {t} e WHERE e.subject = x.subject) AS actual
    FROM unnest($17::text[], $18::text[], $19::int8[]) AS x(subject, kind, version)
), conflict AS (
    SELECT subject, actual FROM expectation
    WHERE NOT CASE kind
        WHEN 'no_stream' THEN actual IS NULL
        WHEN 'exists' THEN actual IS NOT NULL
        ELSE actual IS NOT DISTINCT FROM version END
), fresh_subjects AS MATERIALIZED (
    SELECT DISTINCT subject, hashtext(subject) AS h FROM fresh WHERE subject IS NOT NULL
), {appends} subject_locks AS (
    SELECT pg_advisory_xact_lock($21::int4, h)
    FROM (SELECT DISTINCT h FROM fresh_subjects WHERE NOT (SELECT wide FROM appends) ORDER BY 1) s
), horizon AS (
    {horizon}
), gate AS (
    SELECT NOT EXISTS (SELECT 1 FROM conflict)
        AND $16::bool IS NOT NULL
        AND ($16::bool OR NOT EXISTS (SELECT 1 FROM duplicate))
        AND (SELECT locked FROM appends)
        AND (SELECT count(*) FROM subject_locks) >= 0
        AND (SELECT count(*) FROM horizon) = 1 AS ok
), inserted AS (
    INSERT INTO {t} (stream_version, recorded_at, id, source, type, subject, time,
        datacontenttype, dataschema, correlationid, topic, destination, extensions,
        data_kind, data, data_bytes)
    SELECT CASE WHEN f.subject IS NULL THEN NULL ELSE COALESCE(c.version, 0) + f.k END,
        $20::timestamptz, f.id, f.source, f.type, f.subject, f.time, f.datacontenttype,
        f.dataschema, f.correlationid, f.topic, f.destination, f.extensions, f.data_kind,
        f.data, f.data_bytes
    FROM fresh f LEFT JOIN current c ON c.subject = f.subject
    WHERE (SELECT ok FROM gate)
    ORDER BY f.ord
    RETURNING sequence, stream_version
)
SELECT 'appended' AS outcome, sequence AS n, stream_version, NULL::text AS subject
    FROM inserted
UNION ALL SELECT 'duplicate', ord, NULL, NULL FROM duplicate
UNION ALL SELECT 'conflict', actual, NULL, subject FROM conflict"
    )
}

/// Takes the per-subject append locks of a batch (`$1` their namespace, `$2` the
/// subjects), in the same hash order as the append statement, so that concurrent
/// batches never wait on each other in a cycle.
pub fn lock_subjects_sql() -> String {
    format!(
        "WITH subjects AS MATERIALIZED (
    SELECT DISTINCT s AS subject, hashtext(s) AS h FROM unnest($2::text[]) s
), {appends}
SELECT (SELECT locked FROM appends)
    AND (SELECT count(pg_advisory_xact_lock($1::int4, h))
         FROM (SELECT DISTINCT h FROM subjects WHERE NOT (SELECT wide FROM appends) ORDER BY h) x) >= 0",
        appends = appends_cte("$1", "subjects").trim_end_matches(", ")
    )
}

/// The most subjects a batch locks one by one; a batch spanning more takes the table's
/// append lock exclusively instead (see the module's documentation).
pub const MAX_SUBJECT_LOCKS: usize = 256;

/// The `appends` common table expression, followed by `, `: `wide`, whether the batch
/// spans over [`MAX_SUBJECT_LOCKS`] subjects (the rows of `subjects`, one per distinct
/// subject, never per distinct hash: every statement of an append decides `wide` from
/// the same count, or two subjects whose `hashtext` collide would let the lock
/// statement take the append lock shared and the append statement then want it
/// exclusively, a lock upgrade that deadlocks against any other such append), and
/// `locked`, true once the table's append lock is taken: exclusively for
/// a wide batch, shared otherwise. `namespace` is the placeholder of the subject
/// locks' namespace; the append lock is the `bigint` key with that namespace in its high
/// 32 bits, apart from every `(int4, int4)` subject lock.
fn appends_cte(namespace: &str, subjects: &str) -> String {
    let key = append_lock_key(namespace);
    format!(
        "appends AS MATERIALIZED (
    SELECT wide, (wide AND pg_advisory_xact_lock({key}) IS NOT NULL)
        OR (NOT wide AND pg_advisory_xact_lock_shared({key}) IS NOT NULL) AS locked
    FROM (SELECT count(*) > {MAX_SUBJECT_LOCKS} AS wide FROM {subjects}) c
), "
    )
}

/// The table's append lock as an SQL `bigint` expression: the subject locks' namespace
/// (the placeholder `namespace`) in the high 32 bits, zeros below.
fn append_lock_key(namespace: &str) -> String {
    format!("{namespace}::int4::int8 << 32")
}

/// Takes the table's append lock exclusively (`$1` the subject locks' namespace), as a
/// wide batch does, until the transaction ends: it waits for every append in flight to
/// the table, and every later append waits for it. The import takes it before its
/// horizon lock, the order in which appends take theirs (the append lock shared, then
/// the subject locks, then the horizon lock), so no two writers wait on each other in a
/// cycle.
pub(crate) fn lock_appends_sql() -> String {
    format!("SELECT pg_advisory_xact_lock({})", append_lock_key("$1"))
}

/// The plain append's text for `table`: the common case (no expectations, duplicates
/// are errors, no duplicate inside the batch) without the look-up of already-stored
/// events and the expectation checks. Parameters: `$1`–`$14` the column arrays, `$15`
/// the horizon-lock namespace (as in [`append_sql`]), `$16` each event's position in its
/// subject's share of the batch (1-based; `NULL` without a subject), `$17` the recording
/// time, `$18` the namespace of the subject locks. It returns `(sequence,
/// stream_version)` per event.
///
/// It takes the same locks in the same order as [`append_sql`]: the subject locks (in
/// hash order), then the horizon lock, both in an uncorrelated gate evaluated once
/// before the insert's first row and so before the first `nextval`. An event already
/// stored surfaces as a unique violation on `(source, id)`: the store then runs
/// [`append_sql`], which reports it as the caller asked. A stale stream version
/// surfaces as a unique violation on `(subject, stream_version)` and is retried, as
/// with [`append_sql`].
pub(crate) fn plain_append_sql(table: &TableName) -> String {
    let t = table.quoted();
    let sequence = sequence_name(table);
    let appends = appends_cte("$18", "subjects");
    let horizon = horizon_lock("$15", &sequence);
    format!(
        "WITH input AS MATERIALIZED (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
        $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::jsonb[],
        $12::text[], $13::jsonb[], $14::bytea[], $16::int8[])
        WITH ORDINALITY AS u(id, source, type, subject, time, datacontenttype, dataschema,
            correlationid, topic, destination, extensions, data_kind, data, data_bytes, k, ord)
), subjects AS MATERIALIZED (
    SELECT DISTINCT subject, hashtext(subject) AS h FROM input WHERE subject IS NOT NULL
), {appends} current AS (
    SELECT s.subject,
        (SELECT max(e.stream_version) FROM {t} e WHERE e.subject = s.subject) AS version,
        (SELECT wide FROM appends)
            OR pg_advisory_xact_lock($18::int4, s.h) IS NOT NULL AS locked
    FROM (SELECT subject, h FROM subjects ORDER BY h) s
), gate AS (
    SELECT (SELECT locked FROM appends)
        AND (SELECT count(*) FROM current) >= 0
        AND ({horizon}) IS NOT NULL AS ok
)
INSERT INTO {t} (stream_version, recorded_at, id, source, type, subject, time,
    datacontenttype, dataschema, correlationid, topic, destination, extensions, data_kind,
    data, data_bytes)
SELECT COALESCE(c.version, 0) + f.k, $17::timestamptz, f.id, f.source, f.type, f.subject,
    f.time, f.datacontenttype, f.dataschema, f.correlationid, f.topic, f.destination,
    f.extensions, f.data_kind, f.data, f.data_bytes
FROM input f LEFT JOIN current c ON c.subject = f.subject
WHERE (SELECT ok FROM gate)
ORDER BY f.ord
RETURNING sequence, stream_version"
    )
}

/// The statement that takes the safe horizon's lock (see [`crate::horizon`]): shared,
/// keyed by `namespace` (the placeholder of the horizon-lock namespace, already shifted
/// into the high 32 bits) and the highest sequence the table's `sequence` has handed
/// out, before the statement that holds it takes a sequence value.
pub(crate) fn horizon_lock(namespace: &str, sequence: &str) -> String {
    format!(
        "SELECT pg_advisory_xact_lock_shared({namespace}::int8 \
         | ((CASE WHEN is_called THEN last_value ELSE last_value - 1 END) & 4294967295)) \
         FROM {sequence}"
    )
}

/// The current version of one subject's stream.
pub fn current_version_sql(table: &TableName) -> String {
    format!(
        "SELECT max(stream_version) FROM {} WHERE subject = $1",
        table.quoted()
    )
}
