-- The objects beside the table are named `<table>$<suffix>` from now on: no table
-- name holds `$`, so no other store's table or index can have such a name, where
-- `<table>_<suffix>` could be another store's (the index `events_time` of `events` is
-- the table of a store `events_time`; the `(type, time)` index of `events` is the
-- `time` index of a store `events_type`). A table made by this build has these names
-- from the start: this migration renames those of a table made before it. The
-- coordination tables are renamed in place here; SQLite cannot rename an index, so
-- the store then makes each index the table has again under its new name, from its
-- own definition, in time proportional to the table (`schema::rename_legacy_indexes`).
ALTER TABLE {legacy_checkpoints} RENAME TO {table_checkpoints};
ALTER TABLE {legacy_leases} RENAME TO {table_leases};
ALTER TABLE {legacy_dead_letters} RENAME TO {table_dead_letters};
ALTER TABLE {legacy_snapshots} RENAME TO {table_snapshots};
