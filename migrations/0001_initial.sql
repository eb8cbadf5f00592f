-- sqlkv schema version 1.
--
-- The part above the per-bucket marker runs once per database file. The part
-- below it is the bucket-table template: it runs for every existing bucket
-- when this migration is applied, and is replayed for every bucket created
-- later, so that a later migration can evolve all bucket tables alike.
-- Placeholders: {{table}} is the quoted bucket table, {{table:suffix}} a quoted
-- name derived from it, {{bucket_id}} the bucket's integer id. No user string
-- is ever substituted.

CREATE TABLE sqlkv_buckets (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    name     TEXT NOT NULL UNIQUE,
    history  INTEGER NOT NULL CHECK (history BETWEEN 1 AND 64),
    config   TEXT NOT NULL,
    created  INTEGER NOT NULL
);

-- sqlkv:per-bucket

CREATE TABLE {{table}} (
    revision INTEGER PRIMARY KEY AUTOINCREMENT,
    key      TEXT NOT NULL,
    op       INTEGER NOT NULL,
    value    BLOB NOT NULL,
    created  INTEGER NOT NULL
);

CREATE INDEX {{table:key_revision}} ON {{table}} (key, revision);

-- Keep at most `history` rows per key (markers count): drop the (history+1)-th
-- newest row of the written key and everything older.
CREATE TRIGGER {{table:trim_history}} AFTER INSERT ON {{table}} WHEN NEW.op != 3
BEGIN
    DELETE FROM {{table}} WHERE key = NEW.key AND revision <= (
        SELECT revision FROM {{table}} WHERE key = NEW.key
        ORDER BY revision DESC
        LIMIT 1 OFFSET (SELECT history FROM sqlkv_buckets WHERE id = {{bucket_id}})
    );
END;

-- A purge marker removes every earlier row of its key.
CREATE TRIGGER {{table:purge_key}} AFTER INSERT ON {{table}} WHEN NEW.op = 3
BEGIN
    DELETE FROM {{table}} WHERE key = NEW.key AND revision < NEW.revision;
END;
