"""Reading what changed: a bucket's newest revision, the rows above a revision, a watcher's initial rows.

Plain functions of an ``sqlite3.Connection`` for the change feed and for
watchers: the feed reads the rows above its cursor after a commit, a watcher
loads its initial snapshot and, when it fell behind, catches up page by page.
Every error they raise is a sqlkv error (``BucketNotFoundError`` once the
bucket was deleted).
"""

from __future__ import annotations

import sqlite3

from . import large
from .connection import Row, snapshot
from .errors import SQLITE_ERRORS, map_sqlite_error, mapped
from .statements import BucketSQL

__all__ = ["LargeValues", "checkpoint", "data_version", "prefix_end", "rows_after", "sequence", "watch_snapshot"]


@mapped
def sequence(conn: sqlite3.Connection, sql: BucketSQL) -> int:
    """The highest revision ever given in the bucket (0 if none)."""
    row = conn.execute(sql.sequence).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def prefix_end(prefix: str) -> str:
    """The smallest string greater than every string starting with ``prefix``."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


@mapped
def watch_snapshot(
    conn: sqlite3.Connection, sql: BucketSQL, mode: str, prefix: str, start: int, now: int
) -> tuple[list[Row], int]:
    """A watcher's initial rows and the highest revision of the snapshot they come from.

    ``mode`` is ``"latest"`` (latest row of every present key, markers
    included), ``"all"`` (every row from revision ``start`` on, EXPIRE markers
    included) or ``"none"`` (updates only). Expired entries are left out.
    """
    with snapshot(conn):
        high = sequence(conn, sql)
        if mode == "none":
            rows: list[Row] = []
        elif mode == "all":
            rows = conn.execute(sql.rows_between, (now, start, high)).fetchall()
        elif prefix:
            rows = conn.execute(sql.latest_rows_range, (now, prefix, prefix_end(prefix))).fetchall()
        else:
            rows = conn.execute(sql.latest_rows, (now,)).fetchall()
        rows = large.fill(conn, sql.bucket_id, rows, 3)
    return rows, high


class LargeValues(Exception):
    """``rows_after(small_only=True)`` met a large value: read the rows where its chunks may take a while."""


@mapped
def rows_after(
    conn: sqlite3.Connection, sql: BucketSQL, after: int, limit: int, small_only: bool = False
) -> tuple[list[Row], int]:
    """Up to ``limit`` rows with a revision above ``after``, and how far the scan reached.

    With ``small_only`` (an event loop reading), LargeValues instead of reading a large value's chunks.
    """
    if not conn.in_transaction:  # the common cases, without a transaction of three statements:
        found = conn.execute(sql.rows_after_top, (after, limit)).fetchall()
        if not found:
            if sequence(conn, sql) <= after:  # nothing then, and still nothing above ``after`` after
                return [], after
        elif all(row[3] is not None for row in found):  # rows with the sequence, in one snapshot, none large
            plain: list[Row] = [row[:6] for row in found]
            last = plain[-1][0]
            return plain, last if len(plain) == limit else max(found[-1][6], last)
    if small_only:
        raise LargeValues
    with snapshot(conn):
        rows: list[Row] = large.fill(conn, sql.bucket_id, conn.execute(sql.rows_after, (after, limit)).fetchall(), 3)
        if len(rows) == limit:
            return rows, rows[-1][0]
        return rows, max(sequence(conn, sql), rows[-1][0] if rows else after)


def data_version(conn: sqlite3.Connection) -> int:
    """``PRAGMA data_version``: changes whenever another connection committed to the file."""
    try:
        return int(conn.execute("PRAGMA data_version").fetchone()[0])
    except SQLITE_ERRORS as exc:
        raise map_sqlite_error(exc) from None


def checkpoint(conn: sqlite3.Connection) -> None:
    """A PASSIVE WAL checkpoint: copies what it can back into the file, never blocking writers or readers."""
    try:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    except SQLITE_ERRORS as exc:
        raise map_sqlite_error(exc) from None
