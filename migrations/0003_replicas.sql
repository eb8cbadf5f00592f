-- sqlkv schema version 3: replicas of remote (NATS) buckets.
--
-- One row per local bucket that follows a remote bucket. The cursor (the last
-- remote revision applied) is written in the same transaction as the rows it
-- covers, so a restart resumes exactly after them. stream_created identifies
-- the remote bucket's stream: a different value means the remote bucket was
-- deleted and re-created. applying is 1 only inside the replica's own writes:
-- a mirror's guard trigger (created by the replica, not by this template)
-- refuses every other write. edge names this replica in the messages it
-- sends up (sync mode), so that it knows them when they come back down.

CREATE TABLE sqlkv_replicas (
    bucket_id      INTEGER PRIMARY KEY,
    mode           TEXT NOT NULL CHECK (mode IN ('mirror', 'sync')),
    origin         TEXT NOT NULL,
    remote_bucket  TEXT NOT NULL,
    stream_created TEXT NOT NULL DEFAULT '',
    cursor         INTEGER NOT NULL DEFAULT 0,
    remote_last    INTEGER NOT NULL DEFAULT 0,
    last_seen      INTEGER NOT NULL DEFAULT 0,
    applying       INTEGER NOT NULL DEFAULT 0,
    edge           TEXT NOT NULL DEFAULT ''
);

-- Sync mode: the remote revision of each key as the edge last saw it (what
-- a local write of the key is checked against when it is sent up).
CREATE TABLE sqlkv_replica_keys (
    bucket_id       INTEGER NOT NULL,
    key             TEXT NOT NULL,
    remote_revision INTEGER NOT NULL,
    PRIMARY KEY (bucket_id, key)
) WITHOUT ROWID;

-- Sync mode: local writes not yet sent up, oldest first, recorded by the
-- bucket's outbox trigger (created by the replica) in the write's own
-- transaction. base is the remote revision of the key the edge had seen when
-- it wrote (0: none); revision is the write's local revision.
CREATE TABLE sqlkv_replica_outbox (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    bucket_id INTEGER NOT NULL,
    revision  INTEGER NOT NULL,
    key       TEXT NOT NULL,
    op        INTEGER NOT NULL,
    value     BLOB NOT NULL,
    base      INTEGER NOT NULL
);

-- Every conflict a sync replica met, and what it decided.
CREATE TABLE sqlkv_replica_conflicts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    bucket_id       INTEGER NOT NULL,
    key             TEXT NOT NULL,
    local_revision  INTEGER NOT NULL,
    local_op        INTEGER NOT NULL,
    local_value     BLOB NOT NULL,
    remote_revision INTEGER NOT NULL,
    remote_op       INTEGER NOT NULL,
    remote_value    BLOB NOT NULL,
    decision        TEXT NOT NULL,
    at              INTEGER NOT NULL
);
