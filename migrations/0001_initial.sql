-- sqlkv schema version 1.
--
-- The part above the per-bucket marker runs once per database file. The part
-- below it is the bucket-table template: it runs for every existing bucket
-- when this migration is applied, and is replayed for every bucket created
-- later, so that a later migration can evolve all bucket tables alike.
-- Placeholders: {{table}} is the quoted bucket table, {{table:suffix}} a quoted
-- name derived from it, {{bucket_id}} the bucket's integer id, {{history}} its
-- history depth (statements using it are re-created when the depth changes).
-- No user string is ever substituted.

CREATE TABLE sqlkv_buckets (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    name     TEXT NOT NULL UNIQUE,
    history  INTEGER NOT NULL CHECK (history BETWEEN 1 AND 64),
    config   TEXT NOT NULL,
    created  INTEGER NOT NULL
);

-- sqlkv:per-bucket

-- revision is the rowid: SQLite gives a new row max(revision) + 1. Rows are
-- only ever deleted below the newest one, except by maintenance, and then the
-- keep_high_water trigger below preserves the maximum. op: 1 PUT, 2 DEL,
-- 3 PURGE; 0 marks the invisible high-water row.
CREATE TABLE {{table}} (
    revision INTEGER PRIMARY KEY,
    key      TEXT NOT NULL,
    op       INTEGER NOT NULL,
    value    BLOB NOT NULL,
    created  INTEGER NOT NULL
);

CREATE INDEX {{table:key_revision}} ON {{table}} (key, revision);

-- Keep at most {{history}} rows per key (markers count): drop the
-- ({{history}}+1)-th newest row of the written key and everything older.
CREATE TRIGGER {{table:trim_history}} AFTER INSERT ON {{table}} WHEN NEW.op != 3
BEGIN
    DELETE FROM {{table}} WHERE key = NEW.key AND revision <= (
        SELECT revision FROM {{table}} WHERE key = NEW.key
        ORDER BY revision DESC LIMIT 1 OFFSET {{history}}
    );
END;

-- A purge marker removes every earlier row of its key.
CREATE TRIGGER {{table:purge_key}} AFTER INSERT ON {{table}} WHEN NEW.op = 3
BEGIN
    DELETE FROM {{table}} WHERE key = NEW.key AND revision < NEW.revision;
END;

-- Revisions are never reused: if the newest row is deleted, an invisible
-- row (key '', op 0) takes its revision so that the next write gets a higher
-- one; older invisible rows are dropped.
CREATE TRIGGER {{table:keep_high_water}} AFTER DELETE ON {{table}}
WHEN NOT EXISTS (SELECT 1 FROM {{table}} WHERE revision > OLD.revision)
BEGIN
    DELETE FROM {{table}} WHERE op = 0;
    INSERT INTO {{table}} (revision, key, op, value, created) VALUES (OLD.revision, '', 0, x'', OLD.created);
END;
