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

import sqlite3

from .changes import sequence
from .connection import snapshot
from .errors import on_bucket
from .ops import import_rows
from .statements import BucketSQL, ReplicaSQL

__all__ = ["ReplicaState", "apply", "attach", "local_revisions", "state"]

ReplicaState = tuple[str, str, str, str, int, int, int]
"""(mode, origin, remote bucket, stream created, cursor, remote last, last seen ns)."""

_STATE = (
    "SELECT mode, origin, remote_bucket, stream_created, cursor, remote_last, last_seen "
    "FROM sqlkv_replicas WHERE bucket_id = ?"
)


@on_bucket
def state(conn: sqlite3.Connection, sql: BucketSQL) -> ReplicaState | None:
    """The bucket's replica state, or None when it follows no remote bucket."""
    row = conn.execute(_STATE, (sql.bucket_id,)).fetchone()
    return None if row is None else (row[0], row[1], row[2], row[3], row[4], row[5], row[6])


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
    elif (found[0], found[2]) != (mode, remote_bucket):
        raise ReplicaError(
            f"bucket {sql.bucket!r} is a {found[0]} of bucket {found[2]!r} at {found[1]}, "
            f"not a {mode} of {remote_bucket!r}"
        )
    elif found[1] != origin:
        conn.execute("UPDATE sqlkv_replicas SET origin = ? WHERE bucket_id = ?", (origin, sql.bucket_id))
    if mode == "mirror":
        for statement in ReplicaSQL(sql.bucket_id).create_guards:
            conn.execute(statement)
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
    conn.execute("UPDATE sqlkv_replicas SET applying = 1 WHERE bucket_id = ?", (bid,))
    for revision in gone:
        conn.execute(sql.delete_revision, (revision,))
    applied = import_rows(conn, sql, rows) if rows else 0
    if cursor > sequence(conn, sql):
        conn.execute(ReplicaSQL(bid).set_high_water, (cursor, seen))
    conn.execute(
        "UPDATE sqlkv_replicas SET applying = 0, cursor = max(cursor, ?), remote_last = ?, last_seen = ?, "
        "stream_created = ? WHERE bucket_id = ?",
        (cursor, remote_last, seen, stream_created, bid),
    )
    return applied


@on_bucket
def local_revisions(conn: sqlite3.Connection, sql: BucketSQL, upto: int, listing: bool) -> tuple[int, list[int]]:
    """How many rows the bucket holds up to revision ``upto``, and (with ``listing``) their revisions."""
    statements = ReplicaSQL(sql.bucket_id)
    with snapshot(conn):
        count = int(conn.execute(statements.local_count, (upto,)).fetchone()[0])
        revisions = [r[0] for r in conn.execute(statements.local_revisions, (upto,))] if listing else []
    return count, revisions
