-- sqlkv schema version 2: bucket TTL and limits, per-key TTL, counters kept by triggers.
--
-- {{max_value_size}} and {{max_bytes}} are the bucket's limits (-1: unlimited);
-- like {{history}}, a trigger using any of them is re-created when the
-- bucket's configuration changes.

-- Bucket TTL in nanoseconds (0: values never age out), read by every TTL-aware query.
ALTER TABLE sqlkv_buckets ADD COLUMN ttl INTEGER NOT NULL DEFAULT 0;

-- O(1) status: stored rows, their bytes (UTF-8 key + value), and live keys
-- (keys whose latest row is a PUT), kept by each bucket's triggers.
CREATE TABLE sqlkv_stats (
    bucket_id INTEGER PRIMARY KEY,
    rows      INTEGER NOT NULL,
    bytes     INTEGER NOT NULL,
    keys      INTEGER NOT NULL
);

-- sqlkv:per-bucket

-- Per-key TTL: the deadline (ns since the epoch) of the key, on its latest row.
ALTER TABLE {{table}} ADD COLUMN expires INTEGER;

CREATE INDEX {{table:expires}} ON {{table}} (expires) WHERE expires IS NOT NULL;

INSERT INTO sqlkv_stats (bucket_id, rows, bytes, keys)
SELECT {{bucket_id}}, count(*), coalesce(sum(length(CAST(key AS BLOB)) + length(value)), 0),
       (SELECT count(*) FROM (SELECT op, max(revision) FROM {{table}} WHERE op != 0 GROUP BY key) WHERE op = 1)
FROM {{table}} WHERE op != 0;

-- Limits and counters. Limits are checked before a row is stored (a refused
-- write aborts its own statement only); only values count against max_bytes,
-- so delete and purge markers always pass and a full bucket can be emptied.
-- On insert the key's previous latest row is still there (BEFORE).
CREATE TRIGGER {{table:account_insert}} BEFORE INSERT ON {{table}} WHEN NEW.op != 0
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

-- On delete: when the key's latest row goes, the next one (if any) becomes latest.
CREATE TRIGGER {{table:count_delete}} AFTER DELETE ON {{table}} WHEN OLD.op != 0
BEGIN
    UPDATE sqlkv_stats
    SET rows = rows - 1,
        bytes = bytes - length(CAST(OLD.key AS BLOB)) - length(OLD.value),
        keys = keys - CASE
            WHEN EXISTS (SELECT 1 FROM {{table}} WHERE key = OLD.key AND revision > OLD.revision) THEN 0
            ELSE (OLD.op = 1) - coalesce(
                (SELECT op = 1 FROM {{table}} WHERE key = OLD.key ORDER BY revision DESC LIMIT 1), 0)
        END
    WHERE bucket_id = {{bucket_id}};
END;
