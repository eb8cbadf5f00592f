"""Opening SQLite connections with sqlkv's settings: WAL, durability, busy timeout, private files, read-only."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator

from .._model.errors import NotAStoreError, StorageError
from .._model.options import StoreOptions
from .errors import cannot_open_for_writing, cannot_open_read_only

__all__ = ["Connection", "Row", "open_connection", "snapshot"]

Row = tuple[int, str, int, bytes, int, int | None]
"""A stored row as the change feed and watchers carry it: (revision, key, op, value, created ns, the key's own
deadline in ns or None)."""

_SYNCHRONOUS = {"normal": "PRAGMA synchronous = NORMAL", "full": "PRAGMA synchronous = FULL"}


class Connection(sqlite3.Connection):
    """An ``sqlite3.Connection`` that can keep a journal of the rows its transaction wrote.

    While anyone watches, the writer keeps ``journal`` a list: every insert
    appends ``(bucket_id, row)``, and a change to a bucket that is not one
    row (an import, a dropped table) appends ``(bucket_id, None)``. After
    COMMIT the change feed hands those rows to watchers without reading them
    back, and reads the table for the buckets with a ``None``.
    """

    journal: list[tuple[int, Row | None]] | None = None


def _create_private(path: str) -> None:
    """Create a new database file readable and writable by its owner only."""
    if path == ":memory:" or path.startswith("file:"):
        return
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    except FileNotFoundError:
        raise StorageError(
            f"cannot create database file: directory {os.path.dirname(os.path.abspath(path))} does not exist"
        ) from None
    except IsADirectoryError:
        raise StorageError(f"cannot create database file: {path} is a directory") from None
    except PermissionError:
        raise StorageError(f"cannot create database file {path}: permission denied") from None
    except OSError as exc:
        raise StorageError(f"cannot create database file {path}: {exc.strerror or exc}") from None
    os.close(fd)


def _connect_uri(options: StoreOptions, query: str) -> Connection:
    location = os.path.abspath(options.path)
    conn: Connection = sqlite3.connect(
        f"file:{location}?{query}",
        uri=True,
        timeout=options.busy_timeout,
        isolation_level=None,
        check_same_thread=False,
        cached_statements=512,
        factory=Connection,
    )
    try:
        conn.execute("PRAGMA query_only = ON")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except BaseException:
        conn.close()
        raise
    return conn


def _directory_writable(path: str) -> bool:
    return os.access(os.path.dirname(os.path.abspath(path)) or ".", os.W_OK)


def _open_read_only(options: StoreOptions) -> Connection:
    """A connection that never writes the database: ``query_only``, on an existing file.

    SQLite keeps a shared-memory index (``-shm``) beside a WAL file and needs
    to create it. Where it cannot (a read-only directory, a read-only copy or
    medium) and there is neither a ``-wal`` nor a ``-shm`` file, the file is
    opened with ``immutable=1``: SQLite then takes no locks and reads no WAL,
    which is exact as long as nobody writes the store meanwhile (a writer
    would have to create its ``-wal`` in that same directory). Otherwise the
    error says why and what to do.
    """
    if not os.path.exists(options.path):
        raise StorageError(f"cannot open {options.path} read-only: no such file")
    last_error: sqlite3.Error | None = None
    for query in ("mode=rw", "mode=ro"):
        try:
            return _connect_uri(options, query)
        except sqlite3.Error as exc:
            last_error = exc
    assert last_error is not None
    wal, shm = options.path + "-wal", options.path + "-shm"
    if _directory_writable(options.path):
        raise last_error
    if not os.path.exists(wal) and not os.path.exists(shm):
        try:
            return _connect_uri(options, "mode=ro&immutable=1")
        except sqlite3.Error as exc:
            last_error = exc
    present = " and ".join(os.path.basename(p) for p in (wal, shm) if os.path.exists(p)) or "its -shm file"
    raise cannot_open_read_only(options.path, present, last_error)


def _refuse_a_foreign_database(conn: sqlite3.Connection, path: str) -> None:
    """NotAStoreError for an SQLite database that is not an sqlkv store (it must not even switch to WAL mode)."""
    if (
        conn.execute("PRAGMA user_version").fetchone()[0] == 0
        and conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlkv_%' AND name NOT LIKE 'kv_%'"
        ).fetchone()[0]
    ):
        raise NotAStoreError(f"{path} is an SQLite database, but not an sqlkv store: it is left as it is")


def open_connection(options: StoreOptions, *, reader: bool) -> Connection:
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
    conn: Connection = sqlite3.connect(
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
            _refuse_a_foreign_database(conn, options.path)
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise StorageError(f"could not switch {options.path} to WAL mode (got {mode})")
        conn.execute(_SYNCHRONOUS[options.durability])
        conn.execute("PRAGMA foreign_keys = ON")
        if reader:
            conn.execute("PRAGMA query_only = ON")
    except sqlite3.Error as exc:
        conn.close()
        if not reader and not _directory_writable(options.path):
            raise cannot_open_for_writing(options.path, exc) from None
        raise
    except BaseException:
        conn.close()
        raise
    return conn


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
