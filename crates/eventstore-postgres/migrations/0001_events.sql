-- The event table. One row per event; `sequence` is the global order, taken from a
-- sequence of its own (CACHE 1, so that its last_value is the highest value handed out,
-- which the safe horizon relies on), and `stream_version` numbers the events of a
-- subject from 1.
CREATE SEQUENCE {sequence} AS bigint CACHE 1;

CREATE TABLE {table} (
    sequence        bigint PRIMARY KEY DEFAULT nextval('{sequence_literal}'),
    stream_version  bigint,
    recorded_at     timestamptz NOT NULL,
    id              text NOT NULL,
    source          text NOT NULL,
    specversion     text NOT NULL DEFAULT '1.0',
    type            text NOT NULL,
    subject         text,
    -- RFC 3339 in the fixed-width form (YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ): nanoseconds
    -- kept (timestamptz has microseconds), byte order is time order.
    time            text COLLATE "C",
    datacontenttype text,
    dataschema      text,
    correlationid   text,
    topic           text,
    destination     text,
    -- Other extensions, typed: {"name": {"<type>": value}}.
    extensions      jsonb,
    data_kind       text CHECK (data_kind IN ('json', 'text', 'binary')),
    -- JSON data, when jsonb keeps its meaning; otherwise it is in data_bytes.
    data            jsonb,
    -- Text (UTF-8) and binary data, and JSON that jsonb would change.
    data_bytes      bytea,
    CONSTRAINT {table_source_id} UNIQUE (source, id),
    CHECK ((subject IS NULL) = (stream_version IS NULL)),
    CHECK (data IS NULL OR data_bytes IS NULL),
    CHECK ((data_kind IS NULL) = (data IS NULL AND data_bytes IS NULL)),
    CHECK (data IS NULL OR data_kind = 'json')
);

ALTER SEQUENCE {sequence} OWNED BY {table}.sequence;

-- One event per stream version: expected-version checks hold under concurrency;
-- serves stream(subject, from) and the current-version lookup.
CREATE UNIQUE INDEX {table_subject_version} ON {table} (subject, stream_version)
    WHERE subject IS NOT NULL;
-- Subject filters in sequence order, with keyset paging (`after`).
CREATE INDEX {table_subject_sequence} ON {table} (subject, sequence)
    WHERE subject IS NOT NULL;
-- Type filters in sequence order, with keyset paging.
CREATE INDEX {table_type_sequence} ON {table} (type, sequence);
-- Correlation, topic and destination filters in sequence order; partial, so events
-- without them cost nothing.
CREATE INDEX {table_correlationid_sequence} ON {table} (correlationid, sequence)
    WHERE correlationid IS NOT NULL;
CREATE INDEX {table_topic_sequence} ON {table} (topic, sequence)
    WHERE topic IS NOT NULL;
CREATE INDEX {table_destination_sequence} ON {table} (destination, sequence)
    WHERE destination IS NOT NULL;
-- Time ranges.
CREATE INDEX {table_time} ON {table} (time) WHERE time IS NOT NULL;
