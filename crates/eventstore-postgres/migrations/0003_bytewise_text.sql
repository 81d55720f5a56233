-- Every text column compares bytewise (COLLATE "C"), as `time` already did and as
-- SQLite's BINARY does. Equality, the only comparison the store's queries make on them,
-- was already byte equality, so no answer changes; but every index entry appended or
-- looked up used to be compared under the database's locale (strcoll), which costs
-- appends and index descents measurable time. Changing a column's collation rewrites no
-- rows; the indexes on these columns are rebuilt.
ALTER TABLE {table}
    ALTER COLUMN id TYPE text COLLATE "C",
    ALTER COLUMN source TYPE text COLLATE "C",
    ALTER COLUMN specversion TYPE text COLLATE "C",
    ALTER COLUMN type TYPE text COLLATE "C",
    ALTER COLUMN subject TYPE text COLLATE "C",
    ALTER COLUMN datacontenttype TYPE text COLLATE "C",
    ALTER COLUMN dataschema TYPE text COLLATE "C",
    ALTER COLUMN correlationid TYPE text COLLATE "C",
    ALTER COLUMN topic TYPE text COLLATE "C",
    ALTER COLUMN destination TYPE text COLLATE "C",
    ALTER COLUMN data_kind TYPE text COLLATE "C";
