-- sqlkv schema version 4: a bucket of history 1 keeps its one row per key by replacement.
--
-- In a bucket of history 1 the key index is UNIQUE on the key alone, and every
-- insert is INSERT OR REPLACE: SQLite removes the key's previous row inside the
-- insert itself, where history 1 used to pay an AFTER INSERT trigger that looked
-- the row up again and deleted it (and a second counter update on that delete).
-- REPLACE fires no delete trigger, so the counters of such a bucket are kept by
-- account_replace, which reads the row about to be replaced. The new row still
-- takes max(revision) + 1: SQLite picks the rowid before it resolves the conflict.
-- Buckets of history 2 to 64 keep the (key, revision) index and the trim trigger.
-- {{key_index}} is the index for the bucket's history (schema.key_index_statements
-- swaps it when the history moves to or from 1).

-- sqlkv:per-bucket

-- At most one high-water row, and (history 1) at most one row per key, before the unique index.
DELETE FROM {{table}} WHERE op = 0 AND revision < (SELECT max(revision) FROM {{table}} WHERE op = 0);

DELETE FROM {{table}} WHERE {{history}} = 1 AND op != 0
    AND revision < (SELECT max(newer.revision) FROM {{table}} AS newer WHERE newer.key = {{table}}.key);

DROP INDEX IF EXISTS {{table:key_revision}};

DROP INDEX IF EXISTS {{table:key}};

CREATE {{key_index}};

DROP TRIGGER {{table:trim_history}};

CREATE TRIGGER {{table:trim_history}} AFTER INSERT ON {{table}} WHEN NEW.op != 3 AND {{history}} > 1
BEGIN
    DELETE FROM {{table}} WHERE key = NEW.key AND revision <= (
        SELECT revision FROM {{table}} WHERE key = NEW.key
        ORDER BY revision DESC LIMIT 1 OFFSET {{history}}
    );
END;

DROP TRIGGER {{table:account_insert}};

CREATE TRIGGER {{table:account_insert}} BEFORE INSERT ON {{table}} WHEN NEW.op != 0 AND {{history}} > 1
BEGIN
    SELECT RAISE(ABORT, 'sqlkv: value too large')
    WHERE {{max_value_size}} >= 0 AND length(NEW.value) > {{max_value_size}};
    SELECT RAISE(ABORT, 'sqlkv: bucket full')
    WHERE {{max_bytes}} >= 0 AND NEW.op = 1
      AND (SELECT bytes FROM sqlkv_stats WHERE bucket_id = {{bucket_id}})
          + length(CAST(NEW.key AS BLOB)) + length(NEW.value) > {{max_bytes}};
    UPDATE sqlkv_stats
    SET rows = rows + 1,
        bytes = bytes + length(CAST(NEW.key AS BLOB)) + length(NEW.value),
        keys = keys + (NEW.op = 1) - coalesce(
            (SELECT op = 1 FROM {{table}} WHERE key = NEW.key ORDER BY revision DESC LIMIT 1), 0)
    WHERE bucket_id = {{bucket_id}};
END;

-- History 1: the same limits (the row about to be replaced still counts, as it did
-- before its trim), and the counters net of that row.
CREATE TRIGGER {{table:account_replace}} BEFORE INSERT ON {{table}} WHEN NEW.op != 0 AND {{history}} = 1
BEGIN
    SELECT RAISE(ABORT, 'sqlkv: value too large')
    WHERE {{max_value_size}} >= 0 AND length(NEW.value) > {{max_value_size}};
    SELECT RAISE(ABORT, 'sqlkv: bucket full')
    WHERE {{max_bytes}} >= 0 AND NEW.op = 1
      AND (SELECT bytes FROM sqlkv_stats WHERE bucket_id = {{bucket_id}})
          + length(CAST(NEW.key AS BLOB)) + length(NEW.value) > {{max_bytes}};
    UPDATE sqlkv_stats
    SET (rows, bytes, keys) = (
        SELECT rows + 1 - count(*),
               bytes + length(CAST(NEW.key AS BLOB)) + length(NEW.value)
                     - coalesce(sum(length(CAST(key AS BLOB)) + length(value)), 0),
               keys + (NEW.op = 1) - coalesce(sum(op = 1), 0)
        FROM {{table}} WHERE key = NEW.key)
    WHERE bucket_id = {{bucket_id}};
END;
