-- Every text column compares bytewise (COLLATE "C"), as `time` already did and as
-- SQLite's BINARY does. Equality, the only comparison the store's queries make on them,
-- was already byte equality, so no answer changes; but every index entry appended or
-- looked up used to be compared under the database's locale (strcoll), which costs
-- appends and index descents measurable time. Changing a column's collation rewrites no
-- rows; the indexes on these columns are rebuilt.
--
-- PostgreSQL refuses to change the type of a column that a view, a rule, a row
-- security policy, a trigger's condition, an SQL function's body or a generated column
-- uses. Such a column, the application's, keeps its collation (it only compares slower;
-- a warning names it) rather than the store failing to open: the others change.
DO $$
DECLARE
    wanted text[] := ARRAY['id', 'source', 'specversion', 'type', 'subject',
        'datacontenttype', 'dataschema', 'correlationid', 'topic', 'destination',
        'data_kind'];
    kept text[];
    changes text;
BEGIN
    SELECT array_agg(DISTINCT a.attname::text ORDER BY a.attname::text) INTO kept
    FROM pg_depend d
    JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
    WHERE d.refclassid = 'pg_class'::regclass
      AND d.refobjid = '{table}'::regclass
      AND a.attname::text = ANY (wanted)
      AND (d.classid IN ('pg_rewrite'::regclass, 'pg_policy'::regclass,
                         'pg_trigger'::regclass, 'pg_proc'::regclass)
           OR (d.classid = 'pg_class'::regclass AND d.objid = d.refobjid
               AND d.objsubid <> 0));
    SELECT string_agg(format('ALTER COLUMN %I TYPE text COLLATE "C"', c), ', ')
    INTO changes
    FROM unnest(wanted) AS c
    WHERE c <> ALL (COALESCE(kept, '{}'));
    IF changes IS NOT NULL THEN
        EXECUTE format('ALTER TABLE %s %s', '{table}', changes);
    END IF;
    IF kept IS NOT NULL THEN
        RAISE WARNING 'the columns % of % keep their collation: a view, rule, policy, trigger, function or generated column uses them, and PostgreSQL cannot change it under one',
            kept, '{table}';
    END IF;
END
$$;
