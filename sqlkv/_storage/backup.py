"""An online backup: the store copied to a file as one consistent snapshot, while others keep writing.

No file that another handle may hold open is ever removed or renamed over
(Windows refuses both, and elsewhere a process that has the old file open
would go on using a file no longer there): a new backup is written to a
temporary file beside the target and renamed to the free name once complete;
an existing target (``overwrite``) is overwritten in place, through SQLite's
own backup, so that whoever has it open sees the new content.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3

from .._model.errors import InvalidArgumentError, StorageError
from .errors import map_sqlite_error

__all__ = ["backup"]


def backup(conn: sqlite3.Connection, target: str, overwrite: bool) -> int:
    """Copy the database of ``conn`` to ``target`` in one step; return the pages copied.

    A single-step SQLite backup reads inside one read transaction, so the copy
    holds every write committed before it started, and nothing after.
    ``target`` is left in WAL mode, ready to open as a store; a new file is
    made mode 0600, an existing one keeps its mode.
    """
    if os.path.isdir(target):
        raise InvalidArgumentError(f"cannot back up to {target}: it is a directory")
    if os.path.lexists(target) and not os.path.isfile(target):
        raise InvalidArgumentError(f"cannot back up to {target}: it is not a regular file")
    if not os.path.lexists(target):
        return _to_new_file(conn, target)
    if not overwrite:
        raise InvalidArgumentError(f"{target} exists (overwrite it with overwrite=True / --force)")
    source = conn.execute("PRAGMA database_list").fetchone()[2]
    with contextlib.suppress(OSError):
        if source and os.path.samefile(source, target):
            raise InvalidArgumentError(f"cannot back up {target} onto itself")
    return _in_place(conn, target)


def _copy(conn: sqlite3.Connection, target: str) -> int:
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


def _to_new_file(conn: sqlite3.Connection, target: str) -> int:
    """Back up into a temporary file (0600, O_EXCL) beside ``target``, renamed to ``target`` once complete."""
    directory, name = os.path.split(os.path.abspath(target))
    try:
        import tempfile  # on first use: a command that backs up nothing does not load it

        fd, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=directory)
    except OSError as exc:
        raise StorageError(f"cannot create {target}: {exc.strerror or exc}") from None
    os.close(fd)
    try:
        pages = _copy(conn, temporary)
        _take_name(temporary, target)
    except BaseException:
        for leftover in (temporary, f"{temporary}-wal", f"{temporary}-shm"):
            with contextlib.suppress(OSError):
                os.unlink(leftover)
        raise
    return pages


def _in_place(conn: sqlite3.Connection, target: str) -> int:
    """Overwrite the existing file ``target``: SQLite's backup writes into it (under its locks, with its -wal)."""
    try:
        return _copy(conn, target)
    except StorageError as exc:
        if not _not_a_database(target):
            raise
        cause = exc
    try:  # a regular file that is no database: emptied in place (an empty file is an empty database)
        os.truncate(target, 0)
    except OSError as exc:
        raise StorageError(f"cannot replace {target}: {exc.strerror or exc}") from cause
    return _copy(conn, target)


def _not_a_database(path: str) -> bool:
    try:
        with open(path, "rb") as file:
            header = file.read(16)
    except OSError:
        return False
    return header != b"SQLite format 3\x00"


_NO_HARD_LINKS = {errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP}
"""How a file system without hard links (FAT, some network shares) refuses ``os.link``."""


def _take_name(temporary: str, target: str) -> None:
    """Give the finished copy the name ``target`` only if that name is still free (never replace a file).

    A hard link fails if ``target`` appeared meanwhile; where links are not
    supported, a rename (which Windows refuses over an existing file).
    """
    try:
        os.link(temporary, target)
    except FileExistsError:
        raise InvalidArgumentError(f"{target} exists (overwrite it with overwrite=True / --force)") from None
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise StorageError(f"cannot create {target}: {exc.strerror or exc}") from None
        if os.path.lexists(target):
            raise InvalidArgumentError(f"{target} exists (overwrite it with overwrite=True / --force)") from None
        try:
            os.rename(temporary, target)
        except OSError as exc:
            raise StorageError(f"cannot create {target}: {exc.strerror or exc}") from None
        return
    with contextlib.suppress(OSError):
        os.unlink(temporary)
