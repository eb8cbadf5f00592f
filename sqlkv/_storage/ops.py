"""The key operations as plain functions on an ``sqlite3.Connection``.

This is the sans-I/O core: no threads, no event loop, no clock. Write
operations run inside the transaction the writer opened (``BEGIN
IMMEDIATE``); each checks before it writes, so an operation that raises has
written nothing. Read operations run inside the reader's snapshot. ``now``
(nanoseconds since the epoch) comes from the caller's clock, so expiry is
exact and testable. The engine only decides *where* these run.

Expiry: a key is *absent* when it has no row, when its latest row is an
``EXPIRE`` marker, when its latest row is older than the bucket TTL, or when
its latest row's per-key deadline (``expires``) has passed. Rows older than
the bucket TTL are never returned, whether or not the sweeper removed them.
"""

from __future__ import annotations

import sqlite3

from .._model.config import BucketConfig
from .._model.entry import BucketStatus, Entry, Operation, deadline_ns, make_entry, ns_to_datetime
from .._model.errors import (
    BucketNotFoundError,
    InvalidArgumentError,
    KeyDeletedError,
    KeyExistsError,
    KeyNotFoundError,
    NotACounterError,
    ValueTooLargeError,
    WrongLastRevisionError,
)
from .._model.validate import COUNTER_DIGITS, MAX_VALUE_SIZE, KeyMatcher, add_to_counter, parse_counter
from . import large
from .changes import prefix_end, sequence
from .connection import snapshot
from .errors import SQLITE_ERRORS, NotFused, on_bucket, refused
from .statements import LARGE_VALUE, BucketSQL, insert_many

__all__ = [
    "MAX_VALUE_SIZE",
    "create",
    "get",
    "get_latest_within",
    "history",
    "holds_value_over",
    "import_rows",
    "incr",
    "insert_row",
    "keys",
    "latest_revision",
    "put",
    "counters",
    "recount",
    "status",
    "touch",
    "update",
    "write_marker",
]

_PUT, _DEL, _PURGE, _EXPIRE = (int(op) for op in Operation)


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
        if len(value) <= LARGE_VALUE or not large.CHUNKED:
            revision = conn.execute(sql.insert, (key, op, value, now, expires)).lastrowid
        else:  # a zeroblob filled chunk by chunk: binding the value whole would hold the GIL for its copy
            revision = conn.execute(sql.insert_large, (key, op, len(value), now, expires)).lastrowid
            assert revision is not None
            large.store(conn, sql.bucket_id, revision, value)
    except sqlite3.IntegrityError as exc:
        raise refused(exc, conn, sql, len(value)) from None
    assert revision is not None
    journal = getattr(conn, "journal", None)
    if journal is not None:
        journal.append((sql.bucket_id, (revision, key, op, value, now, expires)))
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


@on_bucket
def latest_revision(conn: sqlite3.Connection, sql: BucketSQL, key: str, now: int) -> int:
    """The key's latest revision, markers included (0: absent or expired), as a compare-and-set sees it."""
    row = _latest(conn, sql, key, now)
    return row[0] if row else 0


def _check_last(conn: sqlite3.Connection, sql: BucketSQL, key: str, last: int, now: int) -> None:
    row = _latest(conn, sql, key, now)
    actual = row[0] if row else 0
    if actual != last:
        raise WrongLastRevisionError(key, last, actual)


@on_bucket
def put(conn: sqlite3.Connection, sql: BucketSQL, key: str, value: bytes, now: int, expires: int | None) -> int:
    """Append a PUT; return its revision. ``expires`` is the key's deadline (per-key TTL) or None."""
    return insert_row(conn, sql, key, _PUT, value, now, expires)


def _one_insert(args: tuple[object, ...]) -> bool:
    """Whether ``put(*args)`` is a single INSERT (atomic on its own in autocommit mode): not for a large value."""
    return len(args[2]) <= LARGE_VALUE or not large.CHUNKED  # type: ignore[arg-type]


put.single_statement = _one_insert  # type: ignore[attr-defined]


def put_many(conn: sqlite3.Connection, sql: BucketSQL, puts: list[tuple[object, ...]]) -> list[int]:
    """Several ``put`` argument tuples ``(sql, key, value, now, expires)`` of one bucket, in one INSERT.

    The rows are inserted one after another, triggers included, exactly as by
    separate statements, and take consecutive revisions. An error of the
    statement (a limit, a read-only replica) undoes all of it and raises
    NotFused: the caller then runs the puts one by one for their own outcomes.
    """
    params: list[object] = []
    for _, key, value, now, expires in puts:
        params += (key, _PUT, value, now, expires)
    try:
        last = conn.execute(insert_many(sql.bucket_id, len(puts)), params).lastrowid
    except SQLITE_ERRORS as exc:
        raise NotFused from exc
    assert last is not None
    first = last - len(puts) + 1
    journal = getattr(conn, "journal", None)
    if journal is not None:
        journal.extend((sql.bucket_id, (first + i, p[1], _PUT, p[2], p[3], p[4])) for i, p in enumerate(puts))
    return list(range(first, last + 1))


put.fuse = put_many  # type: ignore[attr-defined]


@on_bucket
def create(conn: sqlite3.Connection, sql: BucketSQL, key: str, value: bytes, now: int, expires: int | None) -> int:
    """PUT only if the key is absent or its latest entry is a marker."""
    row = _latest(conn, sql, key, now)
    if row is not None and row[1] == _PUT:
        raise KeyExistsError(key, row[0])
    return insert_row(conn, sql, key, _PUT, value, now, expires)


@on_bucket
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


@on_bucket
def write_marker(
    conn: sqlite3.Connection,
    sql: BucketSQL,
    key: str,
    op: Operation,
    last: int | None,
    now: int,
    expires: int | None = None,
) -> int:
    """Append a DEL or PURGE marker (CAS on ``last`` when given); return its revision.

    ``expires``: the marker's own deadline (a purge TTL); once it passed, the key has no entry at all.
    """
    if last is not None:
        _check_last(conn, sql, key, last, now)
    return insert_row(conn, sql, key, int(op), b"", now, expires)


@on_bucket
def incr(conn: sqlite3.Connection, sql: BucketSQL, key: str, by: int, now: int, expires: int | None) -> tuple[int, int]:
    """Add ``by`` to the key's integer value (absent, deleted or expired: 0); return (revision, new value).

    The new value is stored as ASCII decimal in a new PUT revision; a value
    that is not a decimal integer, or a sum outside the signed 64-bit range,
    raises NotACounterError and writes nothing. Values over 20 bytes are never
    read whole: no counter is that long.
    """
    current = 0
    row = conn.execute(sql.get_latest_small, (key, COUNTER_DIGITS)).fetchone()
    if row is not None and row[1] == _PUT:
        revision, _, value, created, deadline, ttl = row
        if value is None:  # over 20 bytes: not a counter, unless the key expired
            if _latest(conn, sql, key, now) is not None:
                message = f"value of {key} is not a decimal integer (revision {revision} is over 20 bytes)"
                raise NotACounterError(key, message)
        elif not _expired(created, deadline, ttl, now):
            current = parse_counter(key, value)
    total = add_to_counter(key, current, by)
    return insert_row(conn, sql, key, _PUT, b"%d" % total, now, expires), total


@on_bucket
def touch(conn: sqlite3.Connection, sql: BucketSQL, key: str, expires: int | None, now: int) -> int:
    """Move the key's deadline to ``expires`` (None: no deadline) without a new revision; return its revision.

    KeyNotFoundError when the key is absent or expired, KeyDeletedError when
    its latest entry is a marker. The bucket TTL still counts from the write.
    """
    row = _latest(conn, sql, key, now)
    if row is None:
        raise KeyNotFoundError(key)
    revision, op = row
    if op != _PUT:
        raise KeyDeletedError(key, revision, Operation(op))
    conn.execute(sql.set_expires, (revision, expires))
    return revision


@on_bucket
def import_rows(conn: sqlite3.Connection, sql: BucketSQL, rows: list[tuple[int, str, int, bytes, int]]) -> int:
    """Insert rows with their own revisions and times (an import), all or none; return how many.

    ``rows`` are ``(revision, key, op, value, created ns)`` in increasing
    revision order, the first above every revision the bucket ever gave. A
    limit refuses the whole import (a savepoint undoes the rows before).
    """
    if not rows:
        return 0
    current = sequence(conn, sql)
    if rows[0][0] <= current:
        raise InvalidArgumentError(
            f"revision {rows[0][0]} of {rows[0][1]!r} is not above bucket {sql.bucket}'s last revision {current}: "
            "import into an empty bucket, or renumber"
        )
    previous = current
    for row in rows:
        if row[0] <= previous:  # (an insert must never meet an existing revision: it would replace it)
            raise InvalidArgumentError(f"revision {row[0]} of {row[1]!r} is not above the one before it ({previous})")
        previous = row[0]
        if len(row[3]) > MAX_VALUE_SIZE:
            raise ValueTooLargeError(f"value of {len(row[3])} bytes exceeds the limit of {MAX_VALUE_SIZE}")
    conn.execute("SAVEPOINT sqlkv_import")
    try:
        for row in rows:
            try:
                conn.execute(sql.insert_with_revision, row)
            except sqlite3.IntegrityError as exc:
                raise refused(exc, conn, sql, len(row[3])) from None
    except BaseException:
        conn.execute("ROLLBACK TO sqlkv_import")
        conn.execute("RELEASE sqlkv_import")
        raise
    conn.execute("RELEASE sqlkv_import")
    journal = getattr(conn, "journal", None)
    if journal is not None:
        journal.extend((sql.bucket_id, (*row, None)) for row in rows)  # imported rows carry no deadline
    return len(rows)


# -- reads -------------------------------------------------------------------------------------


@on_bucket
def get(conn: sqlite3.Connection, sql: BucketSQL, key: str, revision: int | None, now: int) -> Entry:
    """The latest entry of ``key``, or the entry at ``revision`` if it belongs to ``key``."""
    if revision is not None:
        with snapshot(conn):
            return _get_revision(conn, sql, key, revision, now)
    entry = _get_latest(conn, sql, key, now, sql.get_latest, (key,))
    assert entry is not None
    return entry


@on_bucket
def get_latest_within(conn: sqlite3.Connection, sql: BucketSQL, key: str, now: int, limit: int) -> Entry | None:
    """``get`` of the latest entry, but None when its value is over ``limit`` bytes (then it was not read at all).

    The statement reads the value, and the columns stored after it, only when
    the value's length (from the row's header) is within ``limit``: reading a
    large one would walk all its overflow pages.
    """
    return _get_latest(conn, sql, key, now, sql.get_latest_small, (key, limit))


@on_bucket
def holds_value_over(conn: sqlite3.Connection, sql: BucketSQL, key: str, limit: int) -> bool:
    """Whether any stored row of ``key`` has a value over ``limit`` bytes (one index range; values are not read)."""
    return conn.execute(sql.large_row_of_key, (key, limit)).fetchone() is not None


def _get_latest(
    conn: sqlite3.Connection, sql: BucketSQL, key: str, now: int, statement: str, parameters: tuple[object, ...]
) -> Entry | None:
    latest = conn.execute(statement, parameters).fetchone()
    if latest is None:
        raise KeyNotFoundError(key)
    newest, op, value, created, expires, ttl = latest
    if value is None:
        if statement is not sql.get_latest:
            return None  # get_latest_small left a large value unread
        if not conn.in_transaction:  # row and value on one snapshot: another process may replace the row meanwhile
            with snapshot(conn):
                return _get_latest(conn, sql, key, now, statement, parameters)
        value = large.load(conn, sql.bucket_id, newest)
    if op != _PUT:
        if op == _EXPIRE:
            raise KeyNotFoundError(key)
        if not _expired(created, expires, ttl, now):
            raise KeyDeletedError(key, newest, Operation(op))
    if (ttl and created <= now - ttl) or (expires is not None and expires <= now):
        raise KeyNotFoundError(key)
    return make_entry(sql.bucket, key, value, newest, created, 0, op, deadline_ns(created, ttl, expires))


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
    if value is None:
        value = large.load(conn, sql.bucket_id, newest)
    return make_entry(sql.bucket, key, value, newest, created, 0, op, deadline_ns(created, ttl, expires))


@on_bucket
def history(conn: sqlite3.Connection, sql: BucketSQL, key: str, now: int) -> list[Entry]:
    """Every retained entry of ``key``, oldest first, markers included; KeyNotFoundError if none."""
    with snapshot(conn):
        rows = conn.execute(sql.history, (key,)).fetchall()
        ttl = conn.execute(sql.ttl).fetchone()[0] if rows else 0
        rows = large.fill(conn, sql.bucket_id, rows, 2)
    if not rows:
        raise KeyNotFoundError(key)
    _, op, _, created, expires = rows[-1]
    if op == _EXPIRE or _expired(created, expires, ttl, now):
        raise KeyNotFoundError(key)
    kept = [r for r in rows if r[1] != _EXPIRE and not _expired(r[3], None if r[1] == _PUT else r[4], ttl, now)]
    last = len(kept) - 1
    bucket = sql.bucket  # the key's deadline (on its latest row) is every revision's, the bucket TTL each one's own
    return [
        make_entry(bucket, key, r[2], r[0], r[3], last - i, r[1], deadline_ns(r[3], ttl, expires))
        for i, r in enumerate(kept)
    ]


@on_bucket
def keys(conn: sqlite3.Connection, sql: BucketSQL, matcher: KeyMatcher | None, prefix: str, now: int) -> list[str]:
    """Live keys (latest entry a PUT, not expired) accepted by ``matcher``, sorted."""
    if prefix:
        cursor = conn.execute(sql.live_keys_range, (now, prefix, prefix_end(prefix)))
    else:
        cursor = conn.execute(sql.live_keys, (now,))
    found = [row[0] for row in cursor]
    return found if matcher is None else [k for k in found if matcher(k)]


def _expired_now(conn: sqlite3.Connection, sql: BucketSQL, ttl: int, now: int) -> tuple[int, int, int]:
    """(rows, bytes, live keys) that reads already treat as gone but the sweeper has not removed yet.

    O(rows expired): rows past the bucket TTL are the oldest in revision order
    (the scan stops at the first young one); per-key deadlines come from their
    partial index. A key whose latest row expired is gone whole, history
    included; it was live if that row is a value.
    """
    gone: dict[int, tuple[str, int, int]] = {}  # revision -> (key, op, bytes)
    latest_gone: dict[str, int] = {}  # key -> its newest revision, which has expired
    if ttl:
        cutoff = now - ttl
        oldest = conn.execute(sql.oldest_sized)
        try:
            for revision, key, op, created, size in oldest:  # stepped only this far
                if created > cutoff:
                    break
                gone[revision] = (key, op, size)
        finally:
            oldest.close()
        for key in {key for key, _, _ in gone.values()}:
            newest = conn.execute(sql.newest_of_key, (key,)).fetchone()[0]
            if newest in gone:
                latest_gone[key] = newest
    for revision, key, _ in conn.execute(sql.expired_by_deadline, (now, -1)).fetchall():
        if key not in latest_gone and conn.execute(sql.newest_of_key, (key,)).fetchone()[0] == revision:
            latest_gone[key] = revision
            for other, op, size in conn.execute(sql.sizes_of_key, (key,)):
                gone[other] = (key, op, size)
    if not gone:
        return 0, 0, 0
    live = sum(gone[newest][1] == _PUT for newest in latest_gone.values())
    return len(gone), sum(size for _, _, size in gone.values()), live


@on_bucket
def status(conn: sqlite3.Connection, sql: BucketSQL, now: int) -> BucketStatus:
    """Counts and sizes of the bucket as every read sees them now, and its current config.

    The counters are kept by triggers (O(1)); what expired but was not swept
    yet is subtracted (O(rows expired), nothing once the sweeper caught up).
    """
    with snapshot(conn):
        catalog = conn.execute(sql.catalog_row).fetchone()
        counters = conn.execute(sql.stats).fetchone()
        if catalog is None or counters is None:
            raise BucketNotFoundError(f"bucket not found: {sql.bucket}")
        config = BucketConfig.from_json(catalog[0])
        gone_rows, gone_bytes, gone_keys = _expired_now(conn, sql, config.ttl_ns, now)
    values, size, live, last_revision = counters
    values, size, live = values - gone_rows, size - gone_bytes, live - gone_keys
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
        marker_ttl=config.marker_ttl,
        config=config,
    )


@on_bucket
def counters(conn: sqlite3.Connection, sql: BucketSQL) -> tuple[int, int, int]:
    """(rows, bytes, live keys) as the triggers keep them: every stored row, expired or not."""
    row = conn.execute(sql.stats).fetchone()
    if row is None:
        raise BucketNotFoundError(f"bucket not found: {sql.bucket}")
    return int(row[0]), int(row[1]), int(row[2])


@on_bucket
def recount(conn: sqlite3.Connection, sql: BucketSQL) -> tuple[int, int, int]:
    """(rows, bytes, live keys) counted from the table itself: what the counters must equal."""
    row = conn.execute(sql.recount).fetchone()
    return int(row[0]), int(row[1]), int(row[2])
