-- Durable positions of followers (outbox relays, projections), one per name.
CREATE TABLE {schema}.{table_checkpoints} (
    name       text PRIMARY KEY,
    position   bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Exclusive, expiring leases: one active relay or projection per name.
CREATE TABLE {schema}.{table_leases} (
    name       text PRIMARY KEY,
    holder     text NOT NULL,
    expires_at timestamptz NOT NULL
);

-- Events a relay gave up delivering.
CREATE TABLE {schema}.{table_dead_letters} (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    relay     text NOT NULL,
    sequence  bigint NOT NULL,
    source    text NOT NULL,
    event_id  text NOT NULL,
    error     text NOT NULL,
    failed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX {table_dead_letters_relay_idx} ON {schema}.{table_dead_letters} (relay, id);

-- The latest snapshot of each subject's state, per kind of state (name).
CREATE TABLE {schema}.{table_snapshots} (
    name           text NOT NULL,
    subject        text NOT NULL,
    stream_version bigint NOT NULL,
    state          text NOT NULL,
    taken_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, subject)
);
