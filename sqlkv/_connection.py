"""Opening SQLite connections with sqlkv's settings, and mapping sqlite3 errors."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Literal

from ._errors import (
    InvalidArgumentError,
    StorageError,
    StorageFullError,
    StoreBusyError,
)

__all__ = ["Connection", "Durability", "StoreOptions", "map_sqlite_error", "open_connection"]

Durability = Literal["normal", "full"]

_SYNCHRONOUS = {"normal": "PRAGMA synchronous = NORMAL", "full": "PRAGMA synchronous = FULL"}

# Primary result codes (sqlite3.h).
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY = 5, 6, 8
_SQLITE_IOERR, _SQLITE_CORRUPT, _SQLITE_FULL = 10, 11, 13
_SQLITE_CANTOPEN, _SQLITE_NOTADB = 14, 26


class Connection(sqlite3.Connection):
    """An ``sqlite3.Connection`` that can keep a journal of the rows its transaction wrote.

    The writer sets ``journal`` to a list before a batch; every insert then
    appends ``(bucket_id, row)``; after COMMIT the change feed hands those rows
    to watchers without reading them back.
    """

    journal: list[tuple[int, tuple[int, str, int, bytes, int]]] | None = None


class StoreOptions:
    """How a store opens its file: durability and lock waiting."""

    __slots__ = ("busy_timeout", "durability", "path", "read_only")

    def __init__(
        self, path: str | os.PathLike[str], durability: str, busy_timeout: float, read_only: bool = False
    ) -> None:
        if durability not in _SYNCHRONOUS:
            raise InvalidArgumentError(f"durability must be 'normal' or 'full', not {durability!r}")
        if isinstance(busy_timeout, bool) or not isinstance(busy_timeout, (int, float)) or busy_timeout < 0:
            raise InvalidArgumentError("busy_timeout must be a number of seconds >= 0")
        self.path = os.fspath(path)
        self.durability: Durability = durability  # type: ignore[assignment]
        self.busy_timeout = float(busy_timeout)
        self.read_only = bool(read_only)


_CODES_BY_MESSAGE = {
    "database is locked": _SQLITE_BUSY,
    "database table is locked": _SQLITE_LOCKED,
    "database or disk is full": _SQLITE_FULL,
    "database disk image is malformed": _SQLITE_CORRUPT,
    "file is not a database": _SQLITE_NOTADB,
    "attempt to write a readonly database": _SQLITE_READONLY,
    "unable to open database file": _SQLITE_CANTOPEN,
}


def sqlite_code(exc: sqlite3.Error) -> int:
    """The primary SQLite result code of ``exc`` (from its message on Python 3.10, which does not carry it)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return int(code) & 0xFF
    message = str(exc)
    return next((c for text, c in _CODES_BY_MESSAGE.items() if message.startswith(text)), 0)


def map_sqlite_error(exc: sqlite3.Error, path: str = "") -> StorageError:
    """The sqlkv error for an ``sqlite3`` error that reached the storage layer."""
    code = sqlite_code(exc)
    where = f" ({path})" if path else ""
    if code in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return StoreBusyError(f"database is locked by another connection{where}: {exc}")
    if code == _SQLITE_FULL:
        return StorageFullError(f"database or disk is full{where}: {exc}")
    if code in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return StorageError(f"file is not a valid sqlkv database or is corrupt{where}: {exc}")
    if code == _SQLITE_READONLY:
        return StorageError(f"database is read-only{where}: {exc}")
    if code == _SQLITE_CANTOPEN:
        return StorageError(f"cannot open database file{where}: {exc}")
    return StorageError(f"{exc}{where}")


def _create_private(path: str) -> None:
    """Create a new database file readable and writable by its owner only."""
    if path == ":memory:" or path.startswith("file:"):
        return
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    except FileNotFoundError:
        raise StorageError(f"cannot create database file: directory {Path(path).parent} does not exist") from None
    os.close(fd)


def _open_read_only(options: StoreOptions) -> sqlite3.Connection:
    """A connection that never writes the database: ``query_only``, on an existing file.

    SQLite still keeps its shared-memory index (``-shm``) beside a WAL file;
    where even that cannot be written (a read-only directory), the file is
    opened with ``mode=ro``.
    """
    if not os.path.exists(options.path):
        raise StorageError(f"cannot open {options.path} read-only: no such file")
    location = Path(options.path).absolute().as_posix()
    last_error: sqlite3.Error | None = None
    for mode in ("rw", "ro"):
        try:
            conn = sqlite3.connect(
                f"file:{location}?mode={mode}",
                uri=True,
                timeout=options.busy_timeout,
                isolation_level=None,
                check_same_thread=False,
                cached_statements=512,
                factory=Connection,
            )
            conn.execute("PRAGMA query_only = ON")
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.Error as exc:
            last_error = exc
    assert last_error is not None
    raise last_error


def open_connection(options: StoreOptions, *, reader: bool) -> sqlite3.Connection:
    """Open a connection in autocommit mode with WAL and the store's durability.

    The writer creates the file (mode 0600) if needed; a reader is set to
    ``query_only`` so it can never write. A read-only store opens every
    connection with SQLite's ``mode=ro``: the file is never created or written.
    """
    if options.read_only:
        return _open_read_only(options)
    target, uri = options.path, False
    if not reader:
        _create_private(options.path)
    conn = sqlite3.connect(
        target,
        timeout=options.busy_timeout,
        isolation_level=None,
        check_same_thread=False,
        cached_statements=512,
        factory=Connection,
        uri=uri,
    )
    try:
        if not reader:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise StorageError(f"could not switch {options.path} to WAL mode (got {mode})")
        conn.execute(_SYNCHRONOUS[options.durability])
        conn.execute("PRAGMA foreign_keys = ON")
        if reader:
            conn.execute("PRAGMA query_only = ON")
    except BaseException:
        conn.close()
        raise
    return conn
