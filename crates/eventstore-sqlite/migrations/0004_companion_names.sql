-- The objects beside the table are named `<table>$<suffix>` from now on: no table
-- name holds `$`, so no other store's table or index can have such a name, where
-- `<table>_<suffix>` could be another store's (the index `events_time` of `events` is
-- the table of a store `events_time`; the `(type, time)` index of `events` is the
-- `time` index of a store `events_type`). A table made by this build has these names
-- from the start: this migration renames those of a table made before it. SQLite
-- cannot rename an index, so each is made again under its new name, in time
-- proportional to the table; the coordination tables are renamed in place.
ALTER TABLE {legacy_checkpoints} RENAME TO {table_checkpoints};
ALTER TABLE {legacy_leases} RENAME TO {table_leases};
ALTER TABLE {legacy_dead_letters} RENAME TO {table_dead_letters};
ALTER TABLE {legacy_snapshots} RENAME TO {table_snapshots};
DROP INDEX {legacy_dead_letters_relay};
CREATE INDEX {table_dead_letters_relay} ON {table_dead_letters} (relay, id);
DROP INDEX {legacy_source_id};
CREATE UNIQUE INDEX {table_source_id} ON {table} (source, id);
DROP INDEX {legacy_subject_version};
CREATE UNIQUE INDEX {table_subject_version} ON {table} (subject, stream_version)
    WHERE subject IS NOT NULL;
DROP INDEX {legacy_subject_sequence};
CREATE INDEX {table_subject_sequence} ON {table} (subject, sequence)
    WHERE subject IS NOT NULL;
DROP INDEX {legacy_type_sequence};
CREATE INDEX {table_type_sequence} ON {table} (type, sequence);
DROP INDEX {legacy_correlationid_sequence};
CREATE INDEX {table_correlationid_sequence} ON {table} (correlationid, sequence)
    WHERE correlationid IS NOT NULL;
DROP INDEX {legacy_time};
CREATE INDEX {table_time} ON {table} (time) WHERE time IS NOT NULL;
