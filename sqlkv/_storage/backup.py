"""An online backup: the store copied to a new file as one consistent snapshot, while others keep writing."""

from __future__ import annotations

import os
import sqlite3

from .._model.errors import InvalidArgumentError, StorageError
from .errors import map_sqlite_error

__all__ = ["backup"]


def backup(conn: sqlite3.Connection, target: str, overwrite: bool) -> int:
    """Copy the database of ``conn`` to ``target`` (mode 0600) in one step; return the pages copied.

    A single-step SQLite backup reads inside one read transaction, so the copy
    holds every write committed before it started, and nothing after.
    ``target`` is left in WAL mode, ready to open as a store.
    """
    if os.path.isdir(target):
        raise InvalidArgumentError(f"cannot back up to {target}: it is a directory")
    if os.path.lexists(target) and not os.path.isfile(target):
        raise InvalidArgumentError(f"cannot back up to {target}: it is not a regular file")
    if os.path.lexists(target):
        if not overwrite:
            raise InvalidArgumentError(f"{target} exists (overwrite it with overwrite=True / --force)")
        try:
            os.remove(target)
        except OSError as exc:
            raise StorageError(f"cannot replace {target}: {exc.strerror or exc}") from None
    try:
        fd = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except OSError as exc:
        raise StorageError(f"cannot create {target}: {exc.strerror or exc}") from None
    os.close(fd)
    try:
        destination = sqlite3.connect(target)
        try:
            conn.backup(destination)
            pages: int = destination.execute("PRAGMA page_count").fetchone()[0]
            destination.execute("PRAGMA journal_mode = WAL")
        finally:
            destination.close()
    except sqlite3.Error as exc:
        raise map_sqlite_error(exc, target) from None
    return pages
