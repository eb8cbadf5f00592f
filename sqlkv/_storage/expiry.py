"""Removing what expired, and old delete markers: the sweeper's work and ``purge_deletes``.

Plain functions of an ``sqlite3.Connection``, run in the writer's
transaction. Reads never depend on them (they compare ages and deadlines
themselves); these only reclaim space and announce expiry to watchers.

A sweep costs O(rows expired): bucket-TTL candidates are the oldest rows in
revision order (the scan stops at the first row still young enough), and
per-key deadlines come from a partial index on ``expires``.
"""

from __future__ import annotations

import sqlite3

from .._model.entry import Operation
from .catalog import all_buckets
from .connection import snapshot
from .errors import SQLITE_ERRORS, map_sqlite_error, on_bucket
from .ops import insert_row
from .statements import BucketSQL

__all__ = ["SweepResult", "next_deadline", "purge_deletes", "sweep", "sweep_bucket"]

_PUT, _EXPIRE = int(Operation.PUT), int(Operation.EXPIRE)

SweepResult = tuple[int, int, bool]
"""(keys expired, rows removed, whether more expired rows remain)."""


def next_deadline(conn: sqlite3.Connection) -> int | None:
    """The earliest moment (ns) at which some stored entry of any bucket expires; None if never.

    Any error is a sqlkv error (the sweeper's own connection reads this).
    """
    try:
        return _next_deadline(conn)
    except SQLITE_ERRORS as exc:
        raise map_sqlite_error(exc) from None


def _next_deadline(conn: sqlite3.Connection) -> int | None:
    best: int | None = None
    with snapshot(conn):
        for sql, config in all_buckets(conn):
            candidates = [conn.execute(sql.next_expires).fetchone()[0]]
            if config.ttl_ns:
                oldest = conn.execute(sql.oldest, (1,)).fetchone()
                if oldest is not None:
                    candidates.append(oldest[3] + config.ttl_ns)
            for deadline in candidates:
                if deadline is not None and (best is None or deadline < best):
                    best = deadline
    return best


def _expire_key(conn: sqlite3.Connection, sql: BucketSQL, key: str, op: int, now: int, marker_ttl: int | None) -> int:
    """Remove every row of ``key``; when its value expired, leave an EXPIRE marker. Returns rows removed.

    The marker lives ``marker_ttl`` ns (None: until something else removes it);
    a marker that expires itself leaves nothing.
    """
    removed = conn.execute(sql.delete_key, (key,)).rowcount
    if op == _PUT:
        insert_row(conn, sql, key, _EXPIRE, b"", now, None if marker_ttl is None else now + marker_ttl)
    return removed


def _is_latest(conn: sqlite3.Connection, sql: BucketSQL, key: str, revision: int) -> bool:
    return bool(conn.execute(sql.newest_of_key, (key,)).fetchone()[0] == revision)


def sweep_bucket(
    conn: sqlite3.Connection, sql: BucketSQL, ttl: int, now: int, limit: int, marker_ttl: int | None = None
) -> tuple[int, int, int]:
    """Sweep one bucket: (keys expired, rows removed, candidate rows handled) for at most ``limit`` rows.

    A marker with a deadline of its own (an EXPIRE marker under ``marker_ttl``,
    a purge with a TTL) goes at that deadline even below a newer revision,
    as NATS drops a message whose TTL passed; a value's deadline belongs to
    its key and ends when the key is written again.
    """
    expired = removed = handled = 0
    if ttl:
        cutoff = now - ttl
        for revision, key, op, created in conn.execute(sql.oldest, (limit,)).fetchall():
            if created > cutoff:
                break
            handled += 1
            if _is_latest(conn, sql, key, revision):
                removed += _expire_key(conn, sql, key, op, now, marker_ttl)
                expired += op == _PUT
            else:
                removed += conn.execute(sql.delete_revision, (revision,)).rowcount
    for revision, key, op in conn.execute(sql.expired_by_deadline, (now, limit - handled)).fetchall():
        handled += 1
        if _is_latest(conn, sql, key, revision):
            removed += _expire_key(conn, sql, key, op, now, marker_ttl)
            expired += op == _PUT
        elif op != _PUT:
            removed += conn.execute(sql.delete_revision, (revision,)).rowcount  # a marker's own lifetime ended
        else:
            conn.execute(sql.clear_expires, (revision,))  # the key was written again since
    return expired, removed, handled


def sweep(conn: sqlite3.Connection, now: int, limit: int = 1000) -> SweepResult:
    """Remove up to ``limit`` expired rows (or keys) over all buckets.

    A key whose latest value expired (bucket TTL or per-key deadline) loses all
    its rows and gets an EXPIRE marker with a revision of its own, which
    watchers receive; older revisions past the bucket TTL, and expired
    markers, go silently. Several processes may sweep at once: each sweep runs
    in a write transaction and re-checks every row, so nothing is done twice.
    """
    expired = removed = handled = 0
    for sql, config in all_buckets(conn):
        if handled >= limit:
            return expired, removed, True
        keys, rows, seen = sweep_bucket(conn, sql, config.ttl_ns, now, limit - handled, config.marker_ttl_ns)
        expired, removed, handled = expired + keys, removed + rows, handled + seen
    return expired, removed, handled >= limit


@on_bucket
def purge_deletes(conn: sqlite3.Connection, sql: BucketSQL, now: int, older_than: int) -> int:
    """Drop the history of deleted keys; their markers too once older than ``older_than`` ns.

    Keys whose latest entry is a DEL, PURGE or EXPIRE marker lose every earlier
    row; a marker older than ``older_than`` goes as well (the key then has no
    row at all and ``create``/``update(last=0)`` start afresh). No watcher is
    notified, as in NATS. Returns the number of rows removed.
    """
    removed = 0
    for key, newest, created in conn.execute(sql.latest_markers).fetchall():
        if created > now - older_than:
            removed += conn.execute(sql.delete_key_below, (key, newest)).rowcount
        else:
            removed += conn.execute(sql.delete_key, (key,)).rowcount
    return removed
