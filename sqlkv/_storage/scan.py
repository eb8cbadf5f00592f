"""Reads that scale with what they return: pages of latest entries in key order, and many keys at once.

A page is found in two steps on one snapshot: the latest revision of each key
in the range, in key order, from the ``(key, revision)`` index alone (no row
is read), up to the page's size; then those rows by revision, their values
included. Only live entries (latest row a PUT, not expired) are returned. A
caller walks the whole range page after page, each page on its own snapshot,
resuming after the last key it saw (see :class:`Page`).
"""

from __future__ import annotations

import sqlite3

from .._model.entry import Entry, EntryBuilder, Operation, deadline_ns, make_entry
from .._model.errors import BucketNotFoundError
from .._model.validate import KeyMatcher
from . import large
from .connection import snapshot
from .errors import on_bucket
from .statements import MANY_KEYS, BucketSQL, bucket_table, value_column

__all__ = ["PAGE_BYTES", "PAGE_SIZE", "Page", "get_many", "page"]

TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing at run time: a command starts sooner)
if TYPE_CHECKING:
    from typing import Any

PAGE_SIZE = 1000
"""Keys looked at per page: a page holds at most this many entries in memory."""

PAGE_BYTES = 16 * 1024 * 1024
"""A page stops once its values pass this many bytes (large values: fewer entries per page)."""

_PUT = int(Operation.PUT)


class Page:
    """One page of a scan: its live ``entries`` (or keys), and where the next page starts.

    ``last_key`` is the last key the page looked at (live or not), None when
    it looked at none; ``done`` is true when no key is left in the range.
    """

    __slots__ = ("done", "entries", "last_key")

    def __init__(self, entries: list[Any], last_key: str | None, done: bool) -> None:
        self.entries = entries
        self.last_key = last_key
        self.done = done


def _page_statement(bucket_id: int, lower: str, upper: bool, reverse: bool, values: bool) -> str:
    """The statement of one page: the latest revisions of keys in range (index only), then their rows, in key order.

    The rows come in the order of the materialised list of revisions (key
    order): no sort holds their values, so a page can stop after any row.
    """
    t = f'"{bucket_table(bucket_id)}"'
    bounds = f"key {lower} ?1" + (" AND key < ?2" if upper else "")
    order = "DESC" if reverse else "ASC"
    value = value_column("r.value") if values else "NULL"
    return (
        f"SELECT r.key, r.revision, r.op, {value}, r.created, r.expires FROM ("
        f"SELECT max(revision) AS latest FROM {t} WHERE {bounds} GROUP BY key ORDER BY key {order} LIMIT ?3) AS m "
        f"JOIN {t} AS r ON r.revision = m.latest"
    )


def _single_row_statement(bucket_id: int, lower: str, upper: bool, reverse: bool, values: bool) -> str:
    """A page of a bucket keeping one row per key (history 1): its live rows straight from the index order.

    Every key's one row is its latest, so no grouping is needed, and rows
    that are not live are skipped by SQLite itself.
    """
    t = f'"{bucket_table(bucket_id)}"'
    bounds = f"key {lower} ?1" + (" AND key < ?2" if upper else "")
    order = "DESC" if reverse else "ASC"
    value = value_column() if values else "NULL"
    return (
        f"SELECT key, revision, {value}, created, expires FROM {t} WHERE {bounds} AND op = 1 AND created > ?4 "
        f"AND (expires IS NULL OR expires > ?5) ORDER BY key {order} LIMIT ?3"
    )


_STATEMENTS: dict[tuple[int, str, bool, bool, bool, bool], str] = {}


def _statement(bucket_id: int, lower: str, upper: bool, reverse: bool, values: bool, single: bool) -> str:
    shape = (bucket_id, lower, upper, reverse, values, single)
    statement = _STATEMENTS.get(shape)
    if statement is None:
        make = _single_row_statement if single else _page_statement
        statement = _STATEMENTS[shape] = make(bucket_id, lower, upper, reverse, values)
    return statement


@on_bucket
def page(
    conn: sqlite3.Connection,
    sql: BucketSQL,
    low: str,
    low_inclusive: bool,
    high: str | None,
    reverse: bool,
    matcher: KeyMatcher | None,
    size: int,
    values: bool,
    now: int,
) -> Page:
    """Up to ``size`` keys of the range, in key order (descending with ``reverse``): their live entries or keys.

    The range is ``low`` (inclusive or not) to ``high`` (exclusive; None: no
    bound). ``matcher`` keeps only matching keys. With ``values=False`` the
    page holds keys, and no value is read. A page stops early once its values
    pass PAGE_BYTES (it then holds at least one entry).
    """
    lower = ">=" if low_inclusive else ">"
    if not low:  # the invisible high-water row has the empty key: leave it out with the index alone
        low, lower = "", ">"
    with snapshot(conn):
        settings = conn.execute(_SETTINGS, (sql.bucket_id,)).fetchone()
        if settings is None:
            raise BucketNotFoundError(f"bucket not found: {sql.bucket}")
        history, ttl = settings
        cutoff = now - ttl if ttl else -1
        single = history == 1
        statement = _statement(sql.bucket_id, lower, high is not None, reverse, values, single)
        if single:
            cursor = conn.execute(statement, (low, high, size, cutoff, now))
            try:
                return _live_rows(cursor, sql.bucket, sql.bucket_id, matcher, size, values, ttl)
            finally:
                cursor.close()
        cursor = conn.execute(statement, (low, high, size))
        try:
            return _latest_rows(cursor, sql.bucket, sql.bucket_id, matcher, size, values, reverse, cutoff, now, ttl)
        except _OutOfOrder:
            return _sorted_page(
                conn, statement, low, high, size, reverse, matcher, values, now, cutoff, sql.bucket, sql.bucket_id, ttl
            )
        finally:
            cursor.close()


_SETTINGS = "SELECT history, ttl FROM sqlkv_buckets WHERE id = ?"


def _live_rows(
    cursor: sqlite3.Cursor, bucket: str, bucket_id: int, matcher: KeyMatcher | None, size: int, values: bool, ttl: int
) -> Page:
    """A page from rows that are live already (one per key, in key order)."""
    found: list[Any] = []
    append = found.append
    count = 0
    key = None
    budget = PAGE_BYTES
    builder, entry_class, put = EntryBuilder, Entry, Operation.PUT
    for key, revision, value, created, expires in cursor:
        count += 1
        if matcher is not None and not matcher(key):
            continue
        if not values:
            append(key)
            continue
        if value is None:  # a large value: read in chunks
            value = large.load(cursor.connection, bucket_id, revision)
        if ttl:
            expires = deadline_ns(created, ttl, expires)
        entry = builder(bucket, key, value, revision, created, 0, put, expires)
        entry.__class__ = entry_class  # type: ignore[assignment]  # (make_entry inlined: an entry per row)
        append(entry)
        budget -= len(value)
        if budget < 0:
            return Page(found, key, False)
    return Page(found, key, count < size)


def _latest_rows(
    cursor: sqlite3.Cursor,
    bucket: str,
    bucket_id: int,
    matcher: KeyMatcher | None,
    size: int,
    values: bool,
    reverse: bool,
    cutoff: int,
    now: int,
    ttl: int,
) -> Page:
    """A page from the latest row of each key (markers and expired rows among them), in key order."""
    found: list[Any] = []
    append = found.append
    looked = 0
    last_key: str | None = None
    budget = PAGE_BYTES
    for key, revision, op, value, created, expires in cursor:
        if last_key is not None and (key < last_key if not reverse else key > last_key):
            raise _OutOfOrder
        looked += 1
        last_key = key
        if op != _PUT or created <= cutoff or (expires is not None and expires <= now):
            continue
        if matcher is not None and not matcher(key):
            continue
        if not values:
            append(key)
            continue
        if value is None:  # a large value: read in chunks
            value = large.load(cursor.connection, bucket_id, revision)
        append(make_entry(bucket, key, value, revision, created, 0, op, deadline_ns(created, ttl, expires)))
        budget -= len(value)
        if budget < 0:
            return Page(found, last_key, False)
    return Page(found, last_key, looked < size)


class _OutOfOrder(Exception):
    """SQLite returned a page's rows out of key order (never seen): read it again, sorted here."""


def _sorted_page(
    conn: sqlite3.Connection,
    statement: str,
    low: str,
    high: str | None,
    size: int,
    reverse: bool,
    matcher: KeyMatcher | None,
    values: bool,
    now: int,
    cutoff: int,
    bucket: str,
    bucket_id: int,
    ttl: int,
) -> Page:
    """The page, should SQLite ever return its rows out of key order: all of them, sorted here (same snapshot)."""
    rows = sorted(conn.execute(statement, (low, high, size)).fetchall(), key=lambda row: row[0], reverse=reverse)
    if values:
        rows = large.fill(conn, bucket_id, [(r[1], *r) for r in rows], 4)  # (revision first, for fill)
        rows = [row[1:] for row in rows]
    found: list[Any] = [
        make_entry(bucket, key, value, revision, created, 0, op, deadline_ns(created, ttl, expires)) if values else key
        for key, revision, op, value, created, expires in rows
        if op == _PUT and created > cutoff and (expires is None or expires > now) and (matcher is None or matcher(key))
    ]
    return Page(found, rows[-1][0] if rows else None, len(rows) < size)


@on_bucket
def get_many(conn: sqlite3.Connection, sql: BucketSQL, keys: list[str], now: int) -> dict[str, Entry]:
    """The latest live entry of each of ``keys``, from one snapshot; absent, deleted and expired keys are left out.

    One statement per MANY_KEYS keys; the result is in the order of ``keys``.
    """
    wanted = list(dict.fromkeys(keys))
    rows: dict[str, Entry] = {}
    bucket, bucket_id, statement = sql.bucket, sql.bucket_id, sql.get_latest_many
    with snapshot(conn):
        for start in range(0, len(wanted), MANY_KEYS):
            chunk = wanted[start : start + MANY_KEYS]
            if len(chunk) < MANY_KEYS:
                chunk += [None] * (MANY_KEYS - len(chunk))  # type: ignore[list-item]  # NULL matches no key
            for key, revision, op, value, created, expires, ttl in conn.execute(statement, chunk):
                if op != _PUT or (ttl and created <= now - ttl) or (expires is not None and expires <= now):
                    continue
                if value is None:  # a large value: read in chunks
                    value = large.load(conn, bucket_id, revision)
                rows[key] = make_entry(bucket, key, value, revision, created, 0, op, deadline_ns(created, ttl, expires))
    return {key: rows[key] for key in wanted if key in rows}
