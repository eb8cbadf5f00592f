"""The one place where an ``sqlite3`` error becomes a sqlkv error.

Every layer above the storage sees only the sqlkv exception tree. Here are
all the mappings: :func:`map_sqlite_error` for a database fault (by SQLite's
result code), :func:`refused` for a write that one of sqlkv's own triggers
aborted (a bucket limit, a mirror's guard: the trigger messages are read here
only), :func:`on_bucket` / :func:`mapped` for an operation on a bucket table
(a missing table: the bucket was deleted meanwhile), :func:`busy_too_long` for
a write lock held by another connection past the busy timeout, and
:func:`cannot_open_for_writing` / :func:`cannot_open_read_only` for a file
SQLite cannot open as asked. The database threads, the synchronous store and
the change feed hand every raw ``sqlite3.Error`` to one of these.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable

from .._model.errors import (
    BucketFullError,
    BucketNotFoundError,
    ReplicaReadOnlyError,
    StorageError,
    StorageFullError,
    StoreBusyError,
    ValueTooLargeError,
)
from .statements import BucketSQL

__all__ = [
    "SQLITE_ERRORS",
    "NotFused",
    "busy_too_long",
    "cannot_open_for_writing",
    "cannot_open_read_only",
    "is_busy",
    "map_sqlite_error",
    "mapped",
    "on_bucket",
    "refused",
    "sqlite_code",
]

SQLITE_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error, UnicodeDecodeError)
"""What a call into ``sqlite3`` raises for a database fault. Python's ``sqlite3`` raises UnicodeDecodeError
when SQLite's error message is not UTF-8, as when a corrupt schema page names an object in garbage."""

# Primary result codes (sqlite3.h).
SQLITE_BUSY, SQLITE_LOCKED, SQLITE_READONLY = 5, 6, 8
SQLITE_IOERR, SQLITE_CORRUPT, SQLITE_FULL = 10, 11, 13
SQLITE_CANTOPEN, SQLITE_NOTADB = 14, 26

_CODES_BY_MESSAGE = {
    "database is locked": SQLITE_BUSY,
    "database table is locked": SQLITE_LOCKED,
    "database or disk is full": SQLITE_FULL,
    "database disk image is malformed": SQLITE_CORRUPT,
    "file is not a database": SQLITE_NOTADB,
    "attempt to write a readonly database": SQLITE_READONLY,
    "unable to open database file": SQLITE_CANTOPEN,
}


def sqlite_code(exc: sqlite3.Error) -> int:
    """The primary SQLite result code of ``exc`` (from its message on Python 3.10, which does not carry it)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return int(code) & 0xFF
    message = str(exc)
    return next((c for text, c in _CODES_BY_MESSAGE.items() if message.startswith(text)), 0)


def is_busy(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite's "database is locked": another connection holds the write lock."""
    return isinstance(exc, sqlite3.OperationalError) and sqlite_code(exc) == SQLITE_BUSY


# The messages of sqlkv's own triggers (RAISE(ABORT, ...) in migrations/ and statements.ReplicaSQL).
_VALUE_TOO_LARGE = "sqlkv: value too large"
_BUCKET_FULL = "sqlkv: bucket full"
_READ_ONLY_REPLICA = "sqlkv: read-only replica"


def refused(
    exc: sqlite3.IntegrityError, conn: sqlite3.Connection, sql: BucketSQL, size: int | None = None
) -> Exception:
    """The sqlkv error for a write one of the bucket's triggers aborted (or ``exc`` itself: another constraint).

    ``size`` is the length of the value written, for the message (None: unknown).
    """
    message = str(exc)
    if message == _VALUE_TOO_LARGE:
        what = "value" if size is None else f"value of {size} bytes"
        return ValueTooLargeError(f"{what} exceeds the bucket's max_value_size ({sql.bucket})")
    if message == _BUCKET_FULL:
        return BucketFullError(f"maximum bytes exceeded: bucket {sql.bucket} is full")
    if message == _READ_ONLY_REPLICA:
        return read_only_replica(conn, sql)
    return exc


def read_only_replica(conn: sqlite3.Connection, sql: BucketSQL) -> ReplicaReadOnlyError:
    """The error for a write a mirror's guard trigger refused, naming the bucket it mirrors."""
    try:
        row = conn.execute(
            "SELECT origin, remote_bucket FROM sqlkv_replicas WHERE bucket_id = ?", (sql.bucket_id,)
        ).fetchone()
    except sqlite3.Error:
        row = None
    return ReplicaReadOnlyError(sql.bucket, f"bucket {row[1]!r} at {row[0]}" if row else "")


class NotFused(Exception):
    """A fused statement (``ops.put_many``) failed and wrote nothing: run its operations one by one."""


def busy_too_long(path: str, seconds: float) -> StoreBusyError:
    """The error for a write that found the write lock taken by another connection for over ``seconds``."""
    return StoreBusyError(f"database is locked by another connection ({path}) for over {seconds:g} s")


def cannot_open_for_writing(path: str, exc: sqlite3.Error) -> StorageError:
    """The error for a store SQLite could not open for writing in a directory that is not writable."""
    return StorageError(
        f"cannot open {path} for writing: its directory is not writable (SQLite keeps its -wal "
        f"and -shm files beside the store); to read it, open it with read_only=True ({exc})"
    )


def cannot_open_read_only(path: str, present: str, exc: sqlite3.Error) -> StorageError:
    """The error for a read-only open SQLite refused: the directory is not writable and ``present`` is missing."""
    return StorageError(
        f"cannot open {path} read-only: its directory is not writable and SQLite needs {present} "
        f"beside it to read a store in WAL mode ({exc}); open it as a user who can write the directory, "
        "or copy the file (with its -wal) somewhere writable"
    )


def map_sqlite_error(exc: Exception, path: str = "") -> StorageError:
    """The sqlkv error for an ``sqlite3`` error (one of ``SQLITE_ERRORS``) that reached the storage layer."""
    where = f" ({path})" if path else ""
    if not isinstance(exc, sqlite3.Error):
        return StorageError(f"file is corrupt: SQLite reported an error that is not UTF-8 text{where}")
    code = sqlite_code(exc)
    if code in (SQLITE_BUSY, SQLITE_LOCKED):
        return StoreBusyError(f"database is locked by another connection{where}: {exc}")
    if code == SQLITE_FULL:
        return StorageFullError(f"database or disk is full{where}: {exc}")
    if code in (SQLITE_CORRUPT, SQLITE_NOTADB):
        return StorageError(f"file is not a valid sqlkv database or is corrupt{where}: {exc}")
    if code == SQLITE_READONLY:
        return StorageError(f"database is read-only{where}: {exc}")
    if code == SQLITE_CANTOPEN:
        return StorageError(f"cannot open database file{where}: {exc}")
    return StorageError(f"{exc}{where}")


TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing at run time: a command starts sooner)
if TYPE_CHECKING:
    from typing import Any, Concatenate, ParamSpec, TypeVar

    P = ParamSpec("P")
    R = TypeVar("R")


def _translating(
    fn: Callable[Concatenate[sqlite3.Connection, BucketSQL, P], R], every_error: bool
) -> Callable[Concatenate[sqlite3.Connection, BucketSQL, P], R]:
    def operation(conn: sqlite3.Connection, sql: BucketSQL, *args: Any) -> R:  # positional only: the fast call
        try:
            return fn(conn, sql, *args)  # type: ignore[call-arg]
        except SQLITE_ERRORS as exc:
            if isinstance(exc, sqlite3.OperationalError) and str(exc).startswith("no such table"):
                raise BucketNotFoundError(f"bucket not found: {sql.bucket}") from None
            if isinstance(exc, sqlite3.IntegrityError):
                error = refused(exc, conn, sql)
                if error is not exc:
                    raise error from None
            if every_error:
                raise map_sqlite_error(exc) from None
            raise

    return functools.update_wrapper(operation, fn)  # type: ignore[return-value]


def on_bucket(
    fn: Callable[Concatenate[sqlite3.Connection, BucketSQL, P], R],
) -> Callable[Concatenate[sqlite3.Connection, BucketSQL, P], R]:
    """Decorate an operation on a bucket table: a missing table means the bucket was deleted.

    Other ``sqlite3`` errors pass unchanged: the engine must see "database is
    locked" to wait, and maps the rest when the batch fails.
    """
    return _translating(fn, every_error=False)


def mapped(
    fn: Callable[Concatenate[sqlite3.Connection, BucketSQL, P], R],
) -> Callable[Concatenate[sqlite3.Connection, BucketSQL, P], R]:
    """Decorate a read of a bucket table done outside a request (change feed, sweeper): every error a sqlkv one.

    A missing table is BucketNotFoundError; any other ``sqlite3`` error its
    ``map_sqlite_error`` (these reads never wait on a lock, so none is retried).
    """
    return _translating(fn, every_error=True)
