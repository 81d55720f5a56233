-- Durable positions of followers (outbox relays, projections), one per name.
CREATE TABLE {table_checkpoints} (
    name       TEXT PRIMARY KEY,
    position   INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);

-- Exclusive, expiring leases: one active relay per name across processes.
CREATE TABLE {table_leases} (
    name          TEXT PRIMARY KEY,
    holder        TEXT NOT NULL,
    expires_at_ms INTEGER NOT NULL
);

-- Events a relay gave up delivering.
CREATE TABLE {table_dead_letters} (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    relay     TEXT NOT NULL,
    sequence  INTEGER NOT NULL,
    source    TEXT NOT NULL,
    event_id  TEXT NOT NULL,
    error     TEXT NOT NULL,
    failed_at TEXT NOT NULL
);
CREATE INDEX {table_dead_letters_relay} ON {table_dead_letters} (relay, id);
