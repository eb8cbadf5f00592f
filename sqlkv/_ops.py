"""The key operations as plain functions on an ``sqlite3.Connection``.

This is the sans-I/O core: no threads, no event loop, no clock. Write
operations run inside the transaction the writer opened (``BEGIN
IMMEDIATE``); each checks before it writes, so an operation that raises has
written nothing. Read operations run inside the reader's snapshot. ``now``
(nanoseconds since the epoch) comes from the caller's clock, so expiry is
exact and testable. The async store (and any other front end) only decides
*where* these run.

Expiry: a key is *absent* when it has no row, when its latest row is an
``EXPIRE`` marker, when its latest row is older than the bucket TTL, or when
its latest row's per-key deadline (``expires``) has passed. Rows older than
the bucket TTL are never returned, whether or not the sweeper removed them.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

from ._config import BucketConfig
from ._entry import BucketStatus, Entry, Operation, make_entry, ns_to_datetime
from ._errors import (
    BucketFullError,
    InvalidArgumentError,
    KeyDeletedError,
    KeyExistsError,
    KeyNotFoundError,
    RunOnThread,
    ValueTooLargeError,
    WrongLastRevisionError,
)
from ._sql import BucketSQL
from ._validate import KeyMatcher

__all__ = [
    "MAX_VALUE_SIZE",
    "Row",
    "create",
    "get",
    "history",
    "keys",
    "put",
    "recount",
    "rows_after",
    "sequence",
    "snapshot",
    "status",
    "update",
    "watch_snapshot",
    "write_marker",
]

MAX_VALUE_SIZE = 64 * 1024 * 1024
"""Hard upper bound on a value, whatever the bucket's own limit."""

_PUT, _DEL, _PURGE, _EXPIRE = (int(op) for op in Operation)

Row = tuple[int, str, int, bytes, int]
"""A stored row as the change feed and watchers carry it: (revision, key, op, value, created ns)."""


@contextlib.contextmanager
def snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """Run several reads on one snapshot (a no-op inside a transaction already open)."""
    if conn.in_transaction:
        yield
        return
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")


def _expired(created: int, expires: int | None, ttl: int, now: int) -> bool:
    return (ttl > 0 and created <= now - ttl) or (expires is not None and expires <= now)


# -- writes ------------------------------------------------------------------------------------


def insert_row(
    conn: sqlite3.Connection, sql: BucketSQL, key: str, op: int, value: bytes, now: int, expires: int | None
) -> int:
    """Insert one row; the bucket's limits are enforced by its triggers."""
    if len(value) > MAX_VALUE_SIZE:
        raise ValueTooLargeError(f"value of {len(value)} bytes exceeds the limit of {MAX_VALUE_SIZE}")
    try:
        revision = conn.execute(sql.insert, (key, op, value, now, expires)).lastrowid
    except sqlite3.IntegrityError as exc:
        message = str(exc)
        if message == "sqlkv: value too large":
            raise ValueTooLargeError(
                f"value of {len(value)} bytes exceeds the bucket's max_value_size ({sql.bucket})"
            ) from None
        if message == "sqlkv: bucket full":
            raise BucketFullError(f"maximum bytes exceeded: bucket {sql.bucket} is full") from None
        raise
    assert revision is not None
    journal = getattr(conn, "journal", None)
    if journal is not None:
        journal.append((sql.bucket_id, (revision, key, op, value, now)))
    return revision


def _latest(conn: sqlite3.Connection, sql: BucketSQL, key: str, now: int) -> tuple[int, int] | None:
    """(revision, op) of the key's latest row, or None when the key is absent (see module doc)."""
    row = conn.execute(sql.latest, (key,)).fetchone()
    if row is None:
        return None
    revision, op, created, expires, ttl = row
    if op == _EXPIRE or _expired(created, expires, ttl, now):
        return None
    return revision, op


def _check_last(conn: sqlite3.Connection, sql: BucketSQL, key: str, last: int, now: int) -> None:
    row = _latest(conn, sql, key, now)
    actual = row[0] if row else 0
    if actual != last:
        raise WrongLastRevisionError(key, last, actual)


def put(conn: sqlite3.Connection, sql: BucketSQL, key: str, value: bytes, now: int, expires: int | None) -> int:
    """Append a PUT; return its revision. ``expires`` is the key's deadline (per-key TTL) or None."""
    return insert_row(conn, sql, key, _PUT, value, now, expires)


put.single_statement = True  # type: ignore[attr-defined]


def create(conn: sqlite3.Connection, sql: BucketSQL, key: str, value: bytes, now: int, expires: int | None) -> int:
    """PUT only if the key is absent or its latest entry is a marker."""
    row = _latest(conn, sql, key, now)
    if row is not None and row[1] == _PUT:
        raise KeyExistsError(key, row[0])
    return insert_row(conn, sql, key, _PUT, value, now, expires)


def update(
    conn: sqlite3.Connection,
    sql: BucketSQL,
    key: str,
    value: bytes,
    last: int,
    now: int,
    expires: int | None,
) -> int:
    """PUT only if the key's latest revision is ``last`` (0: the key is absent)."""
    _check_last(conn, sql, key, last, now)
    return insert_row(conn, sql, key, _PUT, value, now, expires)


def write_marker(conn: sqlite3.Connection, sql: BucketSQL, key: str, op: Operation, last: int | None, now: int) -> int:
    """Append a DEL or PURGE marker (CAS on ``last`` when given); return its revision."""
    if last is not None:
        _check_last(conn, sql, key, last, now)
    return insert_row(conn, sql, key, int(op), b"", now, None)


def import_row(
    conn: sqlite3.Connection, sql: BucketSQL, revision: int, key: str, op: int, value: bytes, created: int
) -> int:
    """Insert a row with its original revision and time (import); it must come after every stored revision."""
    current = sequence(conn, sql)
    if revision <= current:
        raise InvalidArgumentError(
            f"revision {revision} of {key!r} is not above bucket {sql.bucket}'s last revision {current}: "
            "import into an empty bucket, or renumber"
        )
    conn.execute(sql.insert_with_revision, (revision, key, op, value, created))
    return revision


# -- reads -------------------------------------------------------------------------------------


def _entry(sql: BucketSQL, key: str, revision: int, op: int, value: bytes, created: int, delta: int) -> Entry:
    return make_entry(sql.bucket, key, value, revision, created, delta, op)


def get(conn: sqlite3.Connection, sql: BucketSQL, key: str, revision: int | None, now: int) -> Entry:
    """The latest entry of ``key``, or the entry at ``revision`` if it belongs to ``key``."""
    if revision is not None:
        with snapshot(conn):
            return _get_revision(conn, sql, key, revision, now)
    return _get_latest(conn, sql, key, now, sql.get_latest)


def get_small(conn: sqlite3.Connection, sql: BucketSQL, key: str, revision: int | None, now: int) -> Entry:
    """``get`` for an event loop's thread: RunOnThread unless the latest value is at most SMALL_VALUE bytes.

    Its statement reads the value (and the columns stored after it) only when
    the value's length, from the row's header, is small: reading a large one
    would walk all its overflow pages.
    """
    if revision is not None:
        raise RunOnThread
    return _get_latest(conn, sql, key, now, sql.get_latest_small)


def _small_rows_only(fn: Callable[..., int]) -> Callable[..., int]:
    """The variant of a one-key write ``fn`` for an event loop's thread.

    RunOnThread if the key keeps a value over SMALL_VALUE bytes: checking the
    key's latest row or trimming an old one would walk that value's pages.
    """

    @functools.wraps(fn)
    def on_loop(conn: sqlite3.Connection, sql: BucketSQL, key: str, *args: Any) -> int:
        if conn.execute(sql.large_row_of_key, (key,)).fetchone() is not None:
            raise RunOnThread
        return fn(conn, sql, key, *args)

    on_loop.__name__ = on_loop.__qualname__ = f"{fn.__name__}_small"
    return on_loop


def _get_latest(conn: sqlite3.Connection, sql: BucketSQL, key: str, now: int, statement: str) -> Entry:
    latest = conn.execute(statement, (key,)).fetchone()
    if latest is None:
        raise KeyNotFoundError(key)
    newest, op, value, created, expires, ttl = latest
    if value is None:
        raise RunOnThread  # get_latest_small left a large value unread
    if op != _PUT:
        if op == _EXPIRE:
            raise KeyNotFoundError(key)
        if not _expired(created, expires, ttl, now):
            raise KeyDeletedError(key, newest, Operation(op))
    if (ttl and created <= now - ttl) or (expires is not None and expires <= now):
        raise KeyNotFoundError(key)
    return make_entry(sql.bucket, key, value, newest, created, 0, op)


def _get_revision(conn: sqlite3.Connection, sql: BucketSQL, key: str, revision: int, now: int) -> Entry:
    latest = conn.execute(sql.get_latest, (key,)).fetchone()
    if latest is None:
        raise KeyNotFoundError(key)
    newest, op, value, created, expires, ttl = latest
    if op == _EXPIRE or _expired(created, expires, ttl, now):
        raise KeyNotFoundError(key)
    if revision != newest:
        found = conn.execute(sql.get_revision, (revision,)).fetchone()
        if found is None or found[0] != key or found[1] == _EXPIRE or _expired(found[3], None, ttl, now):
            raise KeyNotFoundError(key, f"key not found: {key} (no revision {revision} of this key)")
        newest, (_, op, value, created) = revision, found
    if op != _PUT:
        raise KeyDeletedError(key, newest, Operation(op))
    return make_entry(sql.bucket, key, value, newest, created, 0, op)


def history(conn: sqlite3.Connection, sql: BucketSQL, key: str, now: int) -> list[Entry]:
    """Every retained entry of ``key``, oldest first, markers included; KeyNotFoundError if none."""
    with snapshot(conn):
        rows = conn.execute(sql.history, (key,)).fetchall()
        ttl = conn.execute(sql.ttl).fetchone()[0] if rows else 0
    if not rows:
        raise KeyNotFoundError(key)
    _, op, _, created, expires = rows[-1]
    if op == _EXPIRE or _expired(created, expires, ttl, now):
        raise KeyNotFoundError(key)
    kept = [r for r in rows if r[1] != _EXPIRE and not _expired(r[3], None, ttl, now)]
    last = len(kept) - 1
    return [_entry(sql, key, r[0], r[1], r[2], r[3], last - i) for i, r in enumerate(kept)]


def _prefix_end(prefix: str) -> str:
    """The smallest string greater than every string starting with ``prefix``."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def keys(conn: sqlite3.Connection, sql: BucketSQL, matcher: KeyMatcher | None, prefix: str, now: int) -> list[str]:
    """Live keys (latest entry a PUT, not expired) accepted by ``matcher``, sorted."""
    if prefix:
        cursor = conn.execute(sql.live_keys_range, (now, prefix, _prefix_end(prefix)))
    else:
        cursor = conn.execute(sql.live_keys, (now,))
    found = [row[0] for row in cursor]
    return found if matcher is None else [k for k in found if matcher(k)]


def status(conn: sqlite3.Connection, sql: BucketSQL) -> BucketStatus:
    """Counts and sizes of the bucket, from the trigger-kept counters (O(1)), and its current config."""
    with snapshot(conn):
        catalog = conn.execute(sql.catalog_row).fetchone()
        counters = conn.execute(sql.stats).fetchone()
    if catalog is None or counters is None:
        raise sqlite3.OperationalError("no such table: the bucket was deleted")
    config = BucketConfig.from_json(catalog[0])
    values, size, live, last_revision = counters
    return BucketStatus(
        bucket=sql.bucket,
        values=values,
        keys=live,
        bytes=size,
        history=config.history,
        ttl=config.ttl,
        max_value_size=config.max_value_size,
        max_bytes=config.max_bytes,
        created=ns_to_datetime(catalog[1]),
        description=config.description,
        metadata=dict(config.metadata),
        last_revision=last_revision or 0,
    )


def recount(conn: sqlite3.Connection, sql: BucketSQL) -> tuple[int, int, int]:
    """(rows, bytes, live keys) counted from the table itself: what the counters must equal."""
    row = conn.execute(sql.recount).fetchone()
    return int(row[0]), int(row[1]), int(row[2])


# -- watch -------------------------------------------------------------------------------------


def sequence(conn: sqlite3.Connection, sql: BucketSQL) -> int:
    """The highest revision ever given in the bucket (0 if none)."""
    row = conn.execute(sql.sequence).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


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
            rows = conn.execute(sql.latest_rows_range, (now, prefix, _prefix_end(prefix))).fetchall()
        else:
            rows = conn.execute(sql.latest_rows, (now,)).fetchall()
    return rows, high


def rows_after(conn: sqlite3.Connection, sql: BucketSQL, after: int, limit: int) -> tuple[list[Row], int]:
    """Up to ``limit`` rows with a revision above ``after``, and how far the scan reached."""
    with snapshot(conn):
        rows: list[Row] = conn.execute(sql.rows_after, (after, limit)).fetchall()
        if len(rows) == limit:
            return rows, rows[-1][0]
        return rows, max(sequence(conn, sql), rows[-1][0] if rows else after)


# The one-key writes an event loop may run itself (AsyncStore(inline=True)), each refusing keys with a large value.
put_small = _small_rows_only(put)
create_small = _small_rows_only(create)
update_small = _small_rows_only(update)
write_marker_small = _small_rows_only(write_marker)
