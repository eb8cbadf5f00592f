"""The store's operations as plain functions on an ``sqlite3.Connection``.

This is the sans-I/O core: no threads, no event loop. Write operations run
inside the transaction the writer opened (``BEGIN IMMEDIATE``); each checks
before it writes, so an operation that raises has written nothing. Read
operations run inside the reader's snapshot. The async store (and any other
front end) only decides *where* these run.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator

from . import _migrations
from ._config import BucketConfig
from ._entry import BucketStatus, Entry, Operation, make_entry, ns_to_datetime
from ._errors import (
    BucketExistsError,
    BucketNotFoundError,
    KeyDeletedError,
    KeyExistsError,
    KeyNotFoundError,
    ValueTooLargeError,
    WrongLastRevisionError,
)
from ._sql import BucketSQL, CatalogSQL
from ._validate import KeyMatcher

__all__ = [
    "BucketRecord",
    "MAX_VALUE_SIZE",
    "create",
    "create_bucket",
    "delete_bucket",
    "find_bucket",
    "get",
    "history",
    "keys",
    "put",
    "status",
    "update",
    "write_marker",
]

MAX_VALUE_SIZE = 64 * 1024 * 1024
"""Hard upper bound on a value, whatever the bucket's own limit."""

_PUT, _DEL, _PURGE = int(Operation.PUT), int(Operation.DEL), int(Operation.PURGE)

BucketRecord = tuple[int, str, BucketConfig, int]
"""(id, name, config, created ns) of a catalog row."""


def _insert(conn: sqlite3.Connection, sql: BucketSQL, key: str, op: int, value: bytes) -> int:
    if len(value) > MAX_VALUE_SIZE:
        raise ValueTooLargeError(f"value of {len(value)} bytes exceeds the limit of {MAX_VALUE_SIZE}")
    created = time.time_ns()
    revision = conn.execute(sql.insert, (key, op, value, created)).lastrowid
    assert revision is not None
    journal = getattr(conn, "journal", None)
    if journal is not None:
        journal.append((sql.bucket_id, (revision, key, op, value, created)))
    return revision


def _latest(conn: sqlite3.Connection, sql: BucketSQL, key: str) -> tuple[int, int] | None:
    row: tuple[int, int] | None = conn.execute(sql.latest, (key,)).fetchone()
    return row


def _check_last(conn: sqlite3.Connection, sql: BucketSQL, key: str, last: int) -> None:
    row = _latest(conn, sql, key)
    actual = row[0] if row else 0
    if actual != last:
        raise WrongLastRevisionError(key, last, actual)


def put(conn: sqlite3.Connection, sql: BucketSQL, key: str, value: bytes) -> int:
    """Append a PUT; return its revision."""
    return _insert(conn, sql, key, _PUT, value)


put.single_statement = True  # type: ignore[attr-defined]


def create(conn: sqlite3.Connection, sql: BucketSQL, key: str, value: bytes) -> int:
    """PUT only if the key has no entry or its latest entry is a marker."""
    row = _latest(conn, sql, key)
    if row is not None and row[1] == _PUT:
        raise KeyExistsError(key, row[0])
    return _insert(conn, sql, key, _PUT, value)


def update(conn: sqlite3.Connection, sql: BucketSQL, key: str, value: bytes, last: int) -> int:
    """PUT only if the key's latest revision is ``last`` (0: the key has no entry)."""
    _check_last(conn, sql, key, last)
    return _insert(conn, sql, key, _PUT, value)


def write_marker(conn: sqlite3.Connection, sql: BucketSQL, key: str, op: Operation, last: int | None) -> int:
    """Append a DEL or PURGE marker (CAS on ``last`` when given); return its revision."""
    if last is not None:
        _check_last(conn, sql, key, last)
    return _insert(conn, sql, key, int(op), b"")


def _entry(sql: BucketSQL, key: str, row: tuple[int, int, bytes, int], delta: int) -> Entry:
    revision, op, value, created = row
    return make_entry(sql.bucket, key, value, revision, created, delta, op)


def get(conn: sqlite3.Connection, sql: BucketSQL, key: str, revision: int | None) -> Entry:
    """The latest entry of ``key``, or the entry at ``revision`` if it belongs to ``key``."""
    if revision is None:
        row = conn.execute(sql.get_latest, (key,)).fetchone()
    else:
        found = conn.execute(sql.get_revision, (revision,)).fetchone()
        row = (revision, *found[1:]) if found is not None and found[0] == key else None
    if row is None:
        if revision is None:
            raise KeyNotFoundError(key)
        raise KeyNotFoundError(key, f"key not found: {key} (no revision {revision} of this key)")
    if row[1] != _PUT:
        raise KeyDeletedError(key, row[0], Operation(row[1]))
    return _entry(sql, key, row, 0)


def history(conn: sqlite3.Connection, sql: BucketSQL, key: str) -> list[Entry]:
    """Every retained entry of ``key``, oldest first, markers included."""
    rows = conn.execute(sql.history, (key,)).fetchall()
    if not rows:
        raise KeyNotFoundError(key)
    last = len(rows) - 1
    return [_entry(sql, key, row, last - index) for index, row in enumerate(rows)]


def _prefix_end(prefix: str) -> str:
    """The smallest string greater than every string starting with ``prefix``."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def keys(conn: sqlite3.Connection, sql: BucketSQL, matcher: KeyMatcher | None, prefix: str) -> list[str]:
    """Live keys (latest entry a PUT) accepted by ``matcher``, sorted."""
    if prefix:
        cursor = conn.execute(sql.live_keys_range, (prefix, _prefix_end(prefix)))
    else:
        cursor = conn.execute(sql.live_keys)
    found = [row[0] for row in cursor]
    return found if matcher is None else [k for k in found if matcher(k)]


def status(conn: sqlite3.Connection, sql: BucketSQL, config: BucketConfig, created: int) -> BucketStatus:
    """Counts and sizes of the bucket, from one snapshot."""
    values, size, live, last_revision = conn.execute(sql.stats).fetchone()
    return BucketStatus(
        bucket=sql.bucket,
        values=values,
        keys=live,
        bytes=size,
        history=config.history,
        created=ns_to_datetime(created),
        description=config.description,
        last_revision=last_revision or 0,
    )


def find_bucket(conn: sqlite3.Connection, name: str) -> BucketRecord:
    """The catalog row of bucket ``name``; BucketNotFoundError if there is none."""
    row = conn.execute(CatalogSQL.select_by_name, (name,)).fetchone()
    if row is None:
        raise BucketNotFoundError(f"bucket not found: {name}")
    return row[0], row[1], BucketConfig.from_json(row[3]), row[4]


def bucket_names(conn: sqlite3.Connection) -> list[str]:
    """Every bucket name, sorted."""
    return [row[0] for row in conn.execute(CatalogSQL.select_names)]


def create_bucket(conn: sqlite3.Connection, name: str, config: BucketConfig) -> BucketRecord:
    """Create bucket ``name``; the same config again returns the existing bucket."""
    row = conn.execute(CatalogSQL.select_by_name, (name,)).fetchone()
    if row is not None:
        existing = BucketConfig.from_json(row[3])
        if existing != config:
            raise BucketExistsError(f"bucket name already in use with a different configuration: {name}")
        return row[0], row[1], existing, row[4]
    created = time.time_ns()
    cursor = conn.execute(CatalogSQL.insert, (name, config.history, config.to_json(), created))
    bucket_id = cursor.lastrowid
    assert bucket_id is not None
    for statement in _migrations.bucket_template(bucket_id, config.history):
        conn.execute(statement)
    return bucket_id, name, config, created


def delete_bucket(conn: sqlite3.Connection, name: str) -> None:
    """Drop bucket ``name`` and all its data; its revision counter starts again if re-created."""
    bucket_id = find_bucket(conn, name)[0]
    conn.execute(BucketSQL.for_bucket(name, bucket_id).drop)
    conn.execute(CatalogSQL.delete, (bucket_id,))


Row = tuple[int, str, int, bytes, int]
"""A stored row as the change feed and watchers carry it: (revision, key, op, value, created ns)."""


@contextlib.contextmanager
def _snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """Run several reads on one snapshot (a no-op inside a transaction already open)."""
    if conn.in_transaction:
        yield
        return
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")


def _sequence(conn: sqlite3.Connection, sql: BucketSQL) -> int:
    row = conn.execute(sql.sequence).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def watch_snapshot(
    conn: sqlite3.Connection, sql: BucketSQL, mode: str, prefix: str, start: int
) -> tuple[list[Row], int]:
    """A watcher's initial rows and the highest revision of the snapshot they come from.

    ``mode`` is ``"latest"`` (latest row of every key), ``"all"`` (every row
    from revision ``start`` on) or ``"none"`` (updates only).
    """
    with _snapshot(conn):
        high = _sequence(conn, sql)
        if mode == "none":
            rows: list[Row] = []
        elif mode == "all":
            rows = conn.execute(sql.rows_between, (start, high)).fetchall()
        elif prefix:
            rows = conn.execute(sql.latest_rows_range, (prefix, _prefix_end(prefix))).fetchall()
        else:
            rows = conn.execute(sql.latest_rows).fetchall()
    return rows, high


def rows_after(conn: sqlite3.Connection, sql: BucketSQL, after: int, limit: int) -> tuple[list[Row], int]:
    """Up to ``limit`` rows with a revision above ``after``, and how far the scan reached."""
    with _snapshot(conn):
        rows: list[Row] = conn.execute(sql.rows_after, (after, limit)).fetchall()
        if len(rows) == limit:
            return rows, rows[-1][0]
        return rows, max(_sequence(conn, sql), rows[-1][0] if rows else after)


def sequence(conn: sqlite3.Connection, sql: BucketSQL) -> int:
    """The highest revision ever given in the bucket (0 if none)."""
    return _sequence(conn, sql)
