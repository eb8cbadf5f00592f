"""A replica's state and its writes: rows applied with the remote's revisions, the cursor in the same transaction.

Plain functions of an ``sqlite3.Connection``, run by the engine's writer or
reader like any operation. ``apply`` is the only way rows enter a mirror: it
raises the bucket's ``applying`` flag (the guard triggers let only those
writes through), inserts the remote rows with their own revisions, operations
and times through ``ops.import_rows`` (the bucket's triggers trim history and
purge exactly as the remote did), removes the rows the remote no longer holds,
and moves the cursor: one transaction, so every remote revision is applied
exactly once whatever happens to the process.
"""

from __future__ import annotations

import os
import sqlite3
from typing import NamedTuple

from .changes import sequence
from .connection import snapshot
from .errors import on_bucket
from .ops import import_rows, insert_row
from .statements import BucketSQL, ReplicaSQL

__all__ = [
    "ReplicaState",
    "apply",
    "apply_sync",
    "attach",
    "conflicts",
    "counts",
    "detach",
    "local_revisions",
    "outbox",
    "resolved",
    "sent",
    "state",
]


class ReplicaState(NamedTuple):
    """A bucket's stored replica state (one row of ``sqlkv_replicas``)."""

    mode: str
    """``"mirror"`` or ``"sync"``."""
    origin: str
    """The hub's server URLs, without credentials."""
    remote_bucket: str
    stream_created: str
    """The remote stream's creation time as its INFO says it (its identity; "" before the first session)."""
    cursor: int
    """The last remote revision applied."""
    remote_last: int
    """The remote's last revision as last heard."""
    last_seen: int
    """When the remote was last heard from (ns since the epoch; 0: never)."""
    edge: str
    """Sync mode: this edge's id (it tags the writes it sends up); "" for a mirror."""


_STATE = (
    "SELECT mode, origin, remote_bucket, stream_created, cursor, remote_last, last_seen, edge "
    "FROM sqlkv_replicas WHERE bucket_id = ?"
)
_APPLYING = "UPDATE sqlkv_replicas SET applying = ? WHERE bucket_id = ?"
_MOVED = (
    "UPDATE sqlkv_replicas SET applying = 0, cursor = max(cursor, ?), remote_last = ?, last_seen = ?, "
    "stream_created = ? WHERE bucket_id = ?"
)
_SEEN_KEY = (
    "INSERT INTO sqlkv_replica_keys (bucket_id, key, remote_revision) VALUES (?, ?, ?) "
    "ON CONFLICT (bucket_id, key) DO UPDATE SET remote_revision = max(remote_revision, excluded.remote_revision)"
)
_KNOWN = "SELECT remote_revision FROM sqlkv_replica_keys WHERE bucket_id = ? AND key = ?"
_PENDING_FOR_KEY = "SELECT 1 FROM sqlkv_replica_outbox WHERE bucket_id = ? AND key = ? LIMIT 1"


def _cursor(conn: sqlite3.Connection, sql: BucketSQL) -> int:
    """The committed cursor; ReplicaError when the bucket is no replica any more (it was detached)."""
    row = conn.execute("SELECT cursor FROM sqlkv_replicas WHERE bucket_id = ?", (sql.bucket_id,)).fetchone()
    if row is None:
        from .._model.errors import ReplicaError

        raise ReplicaError(f"bucket {sql.bucket!r} was detached: it is no replica any more")
    return int(row[0])


@on_bucket
def state(conn: sqlite3.Connection, sql: BucketSQL) -> ReplicaState | None:
    """The bucket's replica state, or None when it follows no remote bucket."""
    row = conn.execute(_STATE, (sql.bucket_id,)).fetchone()
    return None if row is None else ReplicaState(*row)


@on_bucket
def attach(conn: sqlite3.Connection, sql: BucketSQL, mode: str, origin: str, remote_bucket: str) -> ReplicaState:
    """Make the bucket a replica (or check that it is this one); a mirror gets its guard triggers. Returns its state.

    A bucket that already follows another remote bucket, or in another mode,
    is refused (ReplicaError); so is a bucket that holds rows and is not a
    replica yet (its revisions would clash with the remote's).
    """
    from .._model.errors import ReplicaError

    found = state(conn, sql)
    if found is None:
        if sequence(conn, sql):
            raise ReplicaError(
                f"bucket {sql.bucket!r} already holds entries: a replica starts from an empty bucket "
                "(delete it, or use another name)"
            )
        conn.execute(
            "INSERT INTO sqlkv_replicas (bucket_id, mode, origin, remote_bucket) VALUES (?, ?, ?, ?)",
            (sql.bucket_id, mode, origin, remote_bucket),
        )
        found = state(conn, sql)
        assert found is not None
    elif (found.mode, found.remote_bucket) != (mode, remote_bucket):
        raise ReplicaError(
            f"bucket {sql.bucket!r} is a {found.mode} of bucket {found.remote_bucket!r} at {found.origin}, "
            f"not a {mode} of {remote_bucket!r}"
        )
    elif found.origin != origin:
        conn.execute("UPDATE sqlkv_replicas SET origin = ? WHERE bucket_id = ?", (origin, sql.bucket_id))
    statements = ReplicaSQL(sql.bucket_id)
    if mode == "mirror":
        for statement in statements.create_guards:
            conn.execute(statement)
    else:
        conn.execute(statements.create_outbox_limit)
        conn.execute(statements.create_outbox_trigger)
        if not found.edge:
            conn.execute("UPDATE sqlkv_replicas SET edge = ? WHERE bucket_id = ?", (os.urandom(8).hex(), sql.bucket_id))
            found = state(conn, sql)
            assert found is not None
    return found


ApplyRow = tuple[int, str, int, bytes, int]
"""(revision, key, op, value, created ns), in increasing revision order."""


@on_bucket
def apply(
    conn: sqlite3.Connection,
    sql: BucketSQL,
    rows: list[ApplyRow],
    gone: list[int],
    cursor: int,
    remote_last: int,
    stream_created: str,
    seen: int,
) -> int:
    """Apply remote rows, remove the revisions the remote no longer holds, and move the cursor; return rows applied.

    ``gone`` are local revisions (at most the cursor) to remove; ``cursor``
    is the last remote revision now covered: above the newest row when the
    remote's last revisions are gone, and then the bucket's high-water mark
    moves there too, so that the next local revision equals the remote's.
    """
    bid = sql.bucket_id
    committed = _cursor(conn, sql)
    conn.execute(_APPLYING, (1, bid))
    rows = [row for row in rows if row[0] > committed]  # another process replicating the bucket applied them
    for revision in gone:
        conn.execute(sql.delete_revision, (revision,))
    applied = import_rows(conn, sql, rows) if rows else 0
    if cursor > sequence(conn, sql):
        conn.execute(ReplicaSQL(bid).set_high_water, (cursor, seen))
    conn.execute(_MOVED, (cursor, remote_last, seen, stream_created, bid))
    return applied


@on_bucket
def local_revisions(conn: sqlite3.Connection, sql: BucketSQL, upto: int, listing: bool) -> tuple[int, list[int]]:
    """How many rows the bucket holds up to revision ``upto``, and (with ``listing``) their revisions."""
    statements = ReplicaSQL(sql.bucket_id)
    with snapshot(conn):
        count = int(conn.execute(statements.local_count, (upto,)).fetchone()[0])
        revisions = [r[0] for r in conn.execute(statements.local_revisions, (upto,))] if listing else []
    return count, revisions


# -- sync mode -------------------------------------------------------------------------------------

SyncRow = tuple[int, str, int, bytes, int, int]
"""(remote revision, key, op, value, created ns, echo): ``echo`` is the local revision of this edge's own write
that the message carries back (0: another writer's)."""


@on_bucket
def apply_sync(
    conn: sqlite3.Connection,
    sql: BucketSQL,
    rows: list[SyncRow],
    cursor: int,
    remote_last: int,
    stream_created: str,
    seen: int,
) -> int:
    """Apply hub rows to a two-way replica (local revisions of its own) and move the cursor; return rows written.

    An echo of the edge's own write is not written again (the bucket has it);
    a hub row of a key with local writes still queued is not written either:
    sending those writes meets it as a conflict, and the policy decides; nor
    is one at or below the key's known remote revision (a settled conflict
    already covered it).
    """
    bid = sql.bucket_id
    committed = _cursor(conn, sql)
    conn.execute(_APPLYING, (1, bid))
    written = 0
    for revision, key, op, value, created, echo in rows:
        if revision <= committed:
            continue  # another process replicating the bucket applied it
        if echo:
            conn.execute("DELETE FROM sqlkv_replica_outbox WHERE bucket_id = ? AND revision = ?", (bid, echo))
        elif conn.execute(_PENDING_FOR_KEY, (bid, key)).fetchone() is not None:
            continue
        elif (conn.execute(_KNOWN, (bid, key)).fetchone() or (0,))[0] >= revision:
            continue  # old news: a conflict's resolution (or the edge's own send) already covered it
        else:
            insert_row(conn, sql, key, op, value, created, None)
            written += 1
        conn.execute(_SEEN_KEY, (bid, key, revision))
    conn.execute(_MOVED, (cursor, remote_last, seen, stream_created, bid))
    return written


OutboxEntry = tuple[int, int, str, int, bytes, int]
"""(id, local revision, key, op, value, base remote revision)."""


@on_bucket
def outbox(conn: sqlite3.Connection, sql: BucketSQL, limit: int) -> list[OutboxEntry]:
    """The oldest ``limit`` local writes not yet sent up."""
    return [
        (r[0], r[1], r[2], r[3], r[4], r[5])
        for r in conn.execute(
            "SELECT id, revision, key, op, value, base FROM sqlkv_replica_outbox WHERE bucket_id = ? "
            "ORDER BY id LIMIT ?",
            (sql.bucket_id, limit),
        )
    ]


@on_bucket
def counts(conn: sqlite3.Connection, sql: BucketSQL) -> tuple[int, int, int]:
    """(local writes queued, newest queued id or 0, conflicts recorded)."""
    bid = sql.bucket_id
    with snapshot(conn):  # (two statements: the outbox and the conflicts as of one moment)
        pending, newest = conn.execute(
            "SELECT count(*), coalesce(max(id), 0) FROM sqlkv_replica_outbox WHERE bucket_id = ?", (bid,)
        ).fetchone()
        recorded = conn.execute("SELECT count(*) FROM sqlkv_replica_conflicts WHERE bucket_id = ?", (bid,)).fetchone()[
            0
        ]
    return int(pending), int(newest), int(recorded)


@on_bucket
def sent(conn: sqlite3.Connection, sql: BucketSQL, entry: OutboxEntry, remote_revision: int) -> None:
    """A queued write reached the hub as ``remote_revision``: later writes of its key now build on that."""
    _cursor(conn, sql)  # ReplicaError if the bucket was detached meanwhile: the follower stops
    bid = sql.bucket_id
    conn.execute("DELETE FROM sqlkv_replica_outbox WHERE id = ?", (entry[0],))
    conn.execute(
        "UPDATE sqlkv_replica_outbox SET base = ? WHERE bucket_id = ? AND key = ? AND base = ? AND id > ?",
        (remote_revision, bid, entry[2], entry[5], entry[0]),
    )
    conn.execute(_SEEN_KEY, (bid, entry[2], remote_revision))


RemoteRow = tuple[int, int, bytes, int]
"""The hub's latest row of a key: (remote revision, op, value, created ns)."""


@on_bucket
def resolved(
    conn: sqlite3.Connection,
    sql: BucketSQL,
    entry: OutboxEntry,
    remote: RemoteRow | None,
    decision: str,
    resent: int,
    at: int,
) -> None:
    """Record a conflict and carry out its decision, in one transaction.

    ``"remote"`` (or ``"refused"``: the hub would not take the write, too large):
    the hub's row is written locally (unless later local writes
    of the key are still queued: they meet it in turn), or the key's rows go
    when the hub has none. ``"local"``: the edge's write was sent again on top
    of the hub's, as ``resent``; later writes of the key build on that.
    """
    _cursor(conn, sql)  # ReplicaError if the bucket was detached meanwhile: nothing is written
    bid = sql.bucket_id
    key = entry[2]
    conn.execute(
        "INSERT INTO sqlkv_replica_conflicts (bucket_id, key, local_revision, local_op, local_value, "
        "remote_revision, remote_op, remote_value, decision, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (bid, key, entry[1], entry[3], entry[4], remote[0] if remote else 0, remote[1] if remote else 0,
         remote[2] if remote else b"", decision, at),
    )  # fmt: skip
    conn.execute("DELETE FROM sqlkv_replica_outbox WHERE id = ?", (entry[0],))
    if decision == "local":
        conn.execute(
            "UPDATE sqlkv_replica_outbox SET base = ? WHERE bucket_id = ? AND key = ? AND id > ?",
            (resent, bid, key, entry[0]),
        )
        conn.execute(_SEEN_KEY, (bid, key, resent))
        return
    if conn.execute(_PENDING_FOR_KEY, (bid, key)).fetchone() is not None:
        return
    conn.execute(_APPLYING, (1, bid))
    if remote is None:
        conn.execute(sql.delete_key, (key,))
        conn.execute("DELETE FROM sqlkv_replica_keys WHERE bucket_id = ? AND key = ?", (bid, key))
    else:
        insert_row(conn, sql, key, remote[1], remote[2], remote[3], None)
        conn.execute(_SEEN_KEY, (bid, key, remote[0]))
    conn.execute(_APPLYING, (0, bid))


ConflictRow = tuple[str, int, int, bytes, int, int, bytes, str, int]
"""(key, local revision, local op, local value, remote revision, remote op, remote value, decision, at ns)."""


@on_bucket
def conflicts(conn: sqlite3.Connection, sql: BucketSQL) -> list[ConflictRow]:
    """Every conflict recorded for the bucket, oldest first."""
    return [
        (r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8])
        for r in conn.execute(
            "SELECT key, local_revision, local_op, local_value, remote_revision, remote_op, remote_value, "
            "decision, at FROM sqlkv_replica_conflicts WHERE bucket_id = ? ORDER BY id",
            (sql.bucket_id,),
        )
    ]


@on_bucket
def detach(conn: sqlite3.Connection, sql: BucketSQL, force: bool) -> int:
    """Make a replica's bucket a plain local bucket again, its entries kept; return the queued writes dropped.

    Its state, guard and outbox triggers, outbox, known remote revisions and
    recorded conflicts go. A sync replica with local writes not yet sent up is
    refused (ReplicaError saying how many) unless ``force``. A bucket that is
    no replica is left as it is (-1).
    """
    from .._model.errors import ReplicaError

    bid = sql.bucket_id
    found = state(conn, sql)
    if found is None:
        return -1
    queued = int(conn.execute("SELECT count(*) FROM sqlkv_replica_outbox WHERE bucket_id = ?", (bid,)).fetchone()[0])
    if queued and not force:
        raise ReplicaError(
            f"bucket {sql.bucket!r} has {queued} local write{'s' if queued != 1 else ''} not yet sent to bucket "
            f"{found.remote_bucket!r} at {found.origin}: replicate it until they are sent, or detach with force "
            "to drop them"
        )
    for statement in ReplicaSQL(bid).drop_triggers:
        conn.execute(statement)
    conn.execute("DELETE FROM sqlkv_replica_outbox WHERE bucket_id = ?", (bid,))
    conn.execute("DELETE FROM sqlkv_replica_keys WHERE bucket_id = ?", (bid,))
    conn.execute("DELETE FROM sqlkv_replica_conflicts WHERE bucket_id = ?", (bid,))
    conn.execute("DELETE FROM sqlkv_replicas WHERE bucket_id = ?", (bid,))
    return queued
