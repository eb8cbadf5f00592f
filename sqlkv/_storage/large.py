"""Large values in chunks, so that no thread holds the GIL for a whole value (and no event loop stalls meanwhile).

Binding a 60 MiB value copies it while holding the GIL (~30 ms here), and
fetching one copies it again (~170 ms with its overflow pages): every other
thread of the process waits, an event loop included. So a value over
:data:`LARGE_VALUE` is written as a ``zeroblob`` filled through SQLite's
incremental blob I/O, and read the same way, one :data:`CHUNK` at a time:
between two chunks any other thread may run. Statements that read values
return NULL in place of a large one (:func:`value_column`); :func:`fill` then
reads those. The blob API needs Python 3.11 (``Connection.blobopen``); on
3.10 values are bound and fetched whole, as before.
"""

from __future__ import annotations

import sqlite3
import sys

from .statements import LARGE_VALUE, bucket_table, value_by_revision

TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing at run time: a command starts sooner)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["CHUNK", "CHUNKED", "LARGE_VALUE", "fill", "load", "store"]

CHUNK = 1 << 20
"""Bytes per chunk (~0.3 ms of copying)."""

CHUNKED = hasattr(sqlite3.Connection, "blobopen")
"""Whether this Python has SQLite's incremental blob I/O (3.11+)."""

_CPYTHON = sys.implementation.name == "cpython"
_BYTES_DATA = bytes.__basicsize__ - 1  # offset of a bytes object's data (ob_sval) in CPython


def store(conn: sqlite3.Connection, bucket_id: int, revision: int, value: bytes) -> None:
    """Write ``value`` into the zeroblob of row ``revision`` (inside the writer's transaction), chunk by chunk."""
    view = memoryview(value)
    with conn.blobopen(bucket_table(bucket_id), "value", revision) as blob:  # type: ignore[attr-defined]
        for offset in range(0, len(value), CHUNK):
            blob.write(view[offset : offset + CHUNK])


def load(conn: sqlite3.Connection, bucket_id: int, revision: int) -> bytes:
    """The value of row ``revision``, read chunk by chunk (whole where blob I/O is missing).

    Call it inside the read transaction that found the row (``connection.snapshot``): outside one, another
    connection's commit may replace the row in between, and the row is then missing (``no such rowid``).
    """
    table = bucket_table(bucket_id)
    if not CHUNKED:
        row = conn.execute(value_by_revision(bucket_id), (revision,)).fetchone()
        if row is None:  # (as blobopen says it: never an empty value in its place)
            raise sqlite3.OperationalError(f"no such rowid: {revision}")
        return bytes(row[0])
    with conn.blobopen(table, "value", revision, readonly=True) as blob:  # type: ignore[attr-defined]
        size = len(blob)
        if not _CPYTHON:
            return b"".join(blob.read(CHUNK) for _ in range(0, size, CHUNK))
        import ctypes  # (only here: importing it costs every command line run a few milliseconds)

        result = _new_bytes(size)
        # A fresh bytes object no one else holds yet, filled in place: a join would copy the whole value at once.
        target = memoryview((ctypes.c_char * size).from_address(id(result) + _BYTES_DATA)).cast("B")
        for offset in range(0, size, CHUNK):
            chunk = blob.read(CHUNK)
            target[offset : offset + len(chunk)] = chunk
        return result


def _new_bytes(size: int) -> bytes:
    """An uninitialised bytes object of ``size`` bytes (CPython's ``PyBytes_FromStringAndSize(NULL, size)``)."""
    import ctypes

    make = ctypes.pythonapi.PyBytes_FromStringAndSize
    make.restype = ctypes.py_object
    make.argtypes = (ctypes.c_void_p, ctypes.c_ssize_t)
    return make(None, size)  # type: ignore[no-any-return]


def fill(conn: sqlite3.Connection, bucket_id: int, rows: list[Any], value: int) -> list[Any]:
    """``rows`` (revision first) with each NULL at index ``value`` (a large value left out) read in chunks.

    Like :func:`load`, inside the read transaction that read ``rows``.
    """
    if not any(row[value] is None for row in rows):
        return rows
    return [
        row if row[value] is not None else (*row[:value], load(conn, bucket_id, row[0]), *row[value + 1 :])
        for row in rows
    ]
