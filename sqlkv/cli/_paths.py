"""The CLI's checks of the paths a user gives, before anything is opened or created.

Each check raises :class:`CliError` with a one-line message and the exit
status of its kind: a missing file or directory is "not found" (3), a path
that cannot be one (a directory, a special file, not a store) is "invalid
input" (2), a permission denied is "other error" (1).
"""

from __future__ import annotations

import errno
import os
import stat

__all__ = ["CliError", "check_input", "check_output", "check_store", "is_url", "os_error_status"]

EXIT_ERROR, EXIT_INVALID, EXIT_NOT_FOUND = 1, 2, 3

_SQLITE_MAGIC = b"SQLite format 3\x00"


class CliError(Exception):
    """A failure the CLI reports as ``sqlkv: error: <message>`` with exit status ``status``."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def is_url(location: str) -> bool:
    """Whether ``location`` names a server (``nats://host``), not a file: a URL scheme and ``://``.

    The same rule as ``AsyncStore`` (its registry): a scheme of two characters or more, so that a Windows drive
    (``C://``) is a path.
    """
    scheme, sep, _ = location.partition("://")
    return bool(
        sep
        and len(scheme) > 1
        and scheme.isascii()
        and scheme[:1].isalpha()
        and all(c.isalnum() or c in "+.-" for c in scheme)
    )


def os_error_status(error: OSError) -> int:
    """The exit status of an ``OSError``: 3 missing, 2 not a usable path, 1 anything else (permissions, I/O)."""
    if error.errno == errno.ENOENT:
        return EXIT_NOT_FOUND
    if error.errno in (errno.EISDIR, errno.ENOTDIR, errno.ENAMETOOLONG, errno.ELOOP, errno.EINVAL):
        return EXIT_INVALID
    return EXIT_ERROR


def _stat(path: str, action: str) -> os.stat_result | None:
    """``os.stat(path)``, None when it does not exist; other failures as CliError."""
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None
    except PermissionError:
        raise CliError(f"cannot {action} {path}: permission denied", EXIT_ERROR) from None
    except OSError as exc:
        raise CliError(f"cannot {action} {path}: {exc.strerror or exc}", os_error_status(exc)) from None


def _directory(path: str) -> str:
    return os.path.dirname(os.path.abspath(path))


def _check_parent(path: str) -> None:
    """The directory a new ``path`` would be created in exists, is a directory and is writable."""
    parent = _directory(path)
    found = _stat(parent, "create")
    if found is None:
        raise CliError(f"cannot create {path}: directory {parent} does not exist", EXIT_NOT_FOUND)
    if not stat.S_ISDIR(found.st_mode):
        raise CliError(f"cannot create {path}: {parent} is not a directory", EXIT_INVALID)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CliError(f"cannot create {path}: permission denied", EXIT_ERROR)


def check_store(path: str, *, create: bool, write: bool) -> bool:
    """Check the store file ``path`` before it is opened; return True to open it read-only.

    A missing store is an error unless ``create`` (``add``, ``import``): no
    other command makes a file. A store that cannot be written is opened
    read-only by a reading command (``write`` false) and refused by a writing
    one.
    """
    if is_url(path):
        return False  # a server: the store itself says what is wrong
    found = _stat(path, "open")
    if found is None:
        if not create:
            raise CliError(f"no store at {path} (create one with `sqlkv kv add BUCKET`)", EXIT_NOT_FOUND)
        _check_parent(path)
        return False
    if stat.S_ISDIR(found.st_mode):
        raise CliError(f"{path} is a directory, not a store file", EXIT_INVALID)
    if not stat.S_ISREG(found.st_mode):
        raise CliError(f"{path} is not a store file (not a regular file)", EXIT_INVALID)
    try:
        with open(path, "rb") as file:
            header = file.read(len(_SQLITE_MAGIC))
    except PermissionError:
        raise CliError(f"cannot read {path}: permission denied", EXIT_ERROR) from None
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}", os_error_status(exc)) from None
    if header and header != _SQLITE_MAGIC:  # empty: a store being created (its first pages still in the WAL)
        raise CliError(f"{path} is not an sqlkv store (not an SQLite database)", EXIT_INVALID)
    parent = _directory(path)
    writable = os.access(path, os.W_OK) and os.access(parent, os.W_OK | os.X_OK)
    if writable or not write:
        return not writable
    if not os.access(path, os.W_OK):
        raise CliError(f"cannot write to {path}: permission denied", EXIT_ERROR)
    raise CliError(
        f"cannot write to {path}: its directory {parent} is not writable (SQLite keeps -wal and -shm files there)",
        EXIT_ERROR,
    )


def check_input(path: str) -> None:
    """A file to read (``import FILE``) exists, is not a directory, and can be opened."""
    found = _stat(path, "read")
    if found is None:
        raise CliError(f"cannot read {path}: no such file", EXIT_NOT_FOUND)
    if stat.S_ISDIR(found.st_mode):
        raise CliError(f"cannot read {path}: it is a directory", EXIT_INVALID)
    try:
        with open(path, "rb"):
            pass
    except PermissionError:
        raise CliError(f"cannot read {path}: permission denied", EXIT_ERROR) from None
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}", os_error_status(exc)) from None


def check_output(path: str, *, force: bool) -> bool:
    """A file to write (``backup PATH``, ``export -o FILE``) can be made; True if it is a special file.

    An existing file is refused unless ``force``; a directory always. A
    special file (a pipe, ``/dev/null``) is written into as it is.
    """
    found = _stat(path, "write")
    if found is not None:
        if stat.S_ISDIR(found.st_mode):
            raise CliError(f"cannot write to {path}: it is a directory", EXIT_INVALID)
        if not stat.S_ISREG(found.st_mode):
            return True
    if (found is not None or os.path.lexists(path)) and not force:
        raise CliError(f"{path} exists (overwrite it with --force)", EXIT_INVALID)
    _check_parent(path)
    return False
