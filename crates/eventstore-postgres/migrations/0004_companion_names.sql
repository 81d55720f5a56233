-- The objects beside the table are named `<table>$<suffix>` from now on: no table
-- name holds `$`, so no other store's table or object can have such a name, where
-- `<table>_<suffix>` could be another store's (the index `events_type_sequence` of
-- `events` is the sequence of a store `events_type`; the dead letters of `events` are
-- the table of a store `events_dead_letters`; its primary key `events_pkey` the table
-- of a store `events_pkey`). Renaming rewrites no row and rebuilds no index.
DO $$
DECLARE
    target record;
    current_name name;
    identity regclass;
BEGIN
    -- A table made before this migration, whose names migrations 1 and 2 wrote
    -- `<table>_<suffix>`; a new table has had companion names from the start (the
    -- sequence of that name, if any, is then another store's, and is left alone).
    IF EXISTS (SELECT 1 FROM pg_depend
               WHERE classid = 'pg_class'::regclass
                 AND objid = to_regclass('{schema}.{legacy_sequence}')
                 AND refobjid = '{table}'::regclass AND deptype = 'a') THEN
        ALTER SEQUENCE {schema}.{legacy_sequence} RENAME TO {table_sequence};
        ALTER TABLE {schema}.{legacy_checkpoints} RENAME TO {table_checkpoints};
        ALTER TABLE {schema}.{legacy_leases} RENAME TO {table_leases};
        ALTER TABLE {schema}.{legacy_dead_letters} RENAME TO {table_dead_letters};
        ALTER TABLE {schema}.{legacy_snapshots} RENAME TO {table_snapshots};
        -- Each index the table has (renaming the index of a constraint renames the
        -- constraint). One dropped by hand stays dropped: it only made reads faster.
        -- The unique ones the store's guarantees rest on, `source_id` and
        -- `subject_version`, were checked before this ran (`require_unique`), and the
        -- optional one on `extensions` is there only if it was asked for.
        FOR target IN
            SELECT * FROM (VALUES
                ('{legacy_source_id}', '{table_source_id}', '{table}'),
                ('{legacy_subject_version}', '{table_subject_version}', '{table}'),
                ('{legacy_subject_sequence}', '{table_subject_sequence}', '{table}'),
                ('{legacy_type_sequence}', '{table_type_sequence}', '{table}'),
                ('{legacy_correlationid_sequence}', '{table_correlationid_sequence}',
                    '{table}'),
                ('{legacy_topic_sequence}', '{table_topic_sequence}', '{table}'),
                ('{legacy_destination_sequence}', '{table_destination_sequence}',
                    '{table}'),
                ('{legacy_time}', '{table_time}', '{table}'),
                ('{legacy_extensions}', '{table_extensions}', '{table}'),
                ('{legacy_dead_letters_relay_idx}', '{table_dead_letters_relay_idx}',
                    '{schema}.{table_dead_letters}')) AS renames (legacy, renamed, rel)
        LOOP
            IF EXISTS (SELECT 1 FROM pg_index
                       WHERE indexrelid = to_regclass('{schema}.' || target.legacy)
                         AND indrelid = target.rel::regclass) THEN
                EXECUTE format('ALTER INDEX {schema}.%s RENAME TO %s', target.legacy,
                    target.renamed);
            END IF;
        END LOOP;
    END IF;
    -- The names PostgreSQL chose itself, on every table, new ones included (it never
    -- fails to choose one: it takes a free name): the primary keys' indexes and the
    -- dead letters' identity sequence.
    FOR target IN
        SELECT '{table}'::regclass AS rel, '{table_pkey}' AS quoted
        UNION ALL SELECT '{schema}.{table_checkpoints}'::regclass, '{table_checkpoints_pkey}'
        UNION ALL SELECT '{schema}.{table_leases}'::regclass, '{table_leases_pkey}'
        UNION ALL SELECT '{schema}.{table_dead_letters}'::regclass, '{table_dead_letters_pkey}'
        UNION ALL SELECT '{schema}.{table_snapshots}'::regclass, '{table_snapshots_pkey}'
    LOOP
        SELECT conname INTO current_name FROM pg_constraint
        WHERE conrelid = target.rel AND contype = 'p';
        -- A primary key dropped by hand stays dropped.
        IF current_name IS NOT NULL AND format('"%s"', current_name) <> target.quoted THEN
            EXECUTE format('ALTER TABLE %s RENAME CONSTRAINT %I TO %s',
                target.rel, current_name, target.quoted);
        END IF;
    END LOOP;
    identity := pg_get_serial_sequence('{schema}.{table_dead_letters}', 'id')::regclass;
    IF identity IS NOT NULL
       AND identity IS DISTINCT FROM to_regclass('{schema}.{table_dead_letters_id_seq}') THEN
        EXECUTE format('ALTER SEQUENCE %s RENAME TO %s', identity,
            '{table_dead_letters_id_seq}');
    END IF;
END
$$;
