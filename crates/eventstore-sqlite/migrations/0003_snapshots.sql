-- The latest snapshot of each subject's state, per kind of state (name).
CREATE TABLE {table_snapshots} (
    name           TEXT NOT NULL,
    subject        TEXT NOT NULL,
    stream_version INTEGER NOT NULL,
    state          TEXT NOT NULL,
    taken_at       TEXT NOT NULL,
    PRIMARY KEY (name, subject)
);
