-- The event table. One row per event; `sequence` is the global order, never reused
-- (AUTOINCREMENT), and `stream_version` numbers the events of a subject from 1.
CREATE TABLE {table} (
    sequence        INTEGER PRIMARY KEY AUTOINCREMENT,
    stream_version  INTEGER,
    recorded_at     TEXT NOT NULL,
    id              TEXT NOT NULL,
    source          TEXT NOT NULL,
    specversion     TEXT NOT NULL DEFAULT '1.0',
    type            TEXT NOT NULL,
    subject         TEXT,
    time            TEXT,
    datacontenttype TEXT,
    dataschema      TEXT,
    correlationid   TEXT,
    topic           TEXT,
    destination     TEXT,
    extensions      TEXT,
    data_kind       TEXT CHECK (data_kind IN ('json', 'text', 'binary')),
    data            BLOB,
    CHECK ((subject IS NULL) = (stream_version IS NULL)),
    CHECK ((data_kind IS NULL) = (data IS NULL))
);

-- Duplicate detection and get(source, id).
CREATE UNIQUE INDEX {table_source_id} ON {table} (source, id);
-- One event per stream version: expected-version checks hold under concurrency;
-- serves stream(subject, from) and the current-version lookup.
CREATE UNIQUE INDEX {table_subject_version} ON {table} (subject, stream_version)
    WHERE subject IS NOT NULL;
-- Subject filters in sequence order, with keyset paging (`after`).
CREATE INDEX {table_subject_sequence} ON {table} (subject, sequence)
    WHERE subject IS NOT NULL;
-- Type filters in sequence order, with keyset paging.
CREATE INDEX {table_type_sequence} ON {table} (type, sequence);
-- Correlation lookups in sequence order.
CREATE INDEX {table_correlationid_sequence} ON {table} (correlationid, sequence)
    WHERE correlationid IS NOT NULL;
-- Time ranges.
CREATE INDEX {table_time} ON {table} (time) WHERE time IS NOT NULL;
