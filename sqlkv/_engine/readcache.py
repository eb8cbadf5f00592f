"""Recently read entries of a store, served without SQLite while the file has not changed: exact across processes.

A get of a key's latest entry that this process read before, with no commit
to the file since (by this store, another store or another process), returns
that same (immutable) ``Entry`` again: SQLite would return the same row. "No
commit since" is the WAL-index header SQLite keeps in shared memory
(``_storage/walindex.py``): it is read before each read from SQLite and kept
as the *stamp* of what that read returned; an entry is served from the cache
only while the header still equals the stamp of the entries held. Any commit
changes the header, and the cache starts again. An entry past its deadline
(bucket TTL or per-key) is never served: the read goes to SQLite, which says
the key is gone.

The cache keeps a read connection of its own open while it is armed, so that
SQLite's mapping of the header stays in place while it is read (every
reading holds the cache's lock; ``close`` takes it). It arms itself after
``ARM_AFTER`` reads, so a short-lived process (one CLI command) never pays for
it, and holds at most ``MAX_ENTRIES`` entries of at most ``MAX_VALUE`` bytes.
Linux only (``platform.READ_CACHE``); ``SQLKV_READ_CACHE=0`` turns it off.
"""

from __future__ import annotations

import sqlite3
import threading

from .._model.entry import Entry, fresh_deadline_ns
from .._model.options import StoreOptions
from .._runtime import platform
from .._runtime.forkgate import FORKS
from .._storage.connection import open_connection
from .._storage.errors import SQLITE_ERRORS
from .._storage.walindex import WalIndexHeader, consistent, find_header

__all__ = ["ARM_AFTER", "MAX_ENTRIES", "MAX_VALUE", "ReadCache"]

ARM_AFTER = 64
"""Reads through the store before the cache looks for the header (a one-shot command never does)."""

MAX_ENTRIES = 65536
"""Entries held at most; the cache starts again when full."""

MAX_VALUE = 16 * 1024
"""Larger values are never held."""

_Held = tuple[Entry, "int | None"]  # an entry and its deadline (ns since the epoch; None: none)


class ReadCache:
    """The latest entries this store read, valid while the file's WAL-index header equals their stamp."""

    __slots__ = ("_entries", "_generation", "_header", "_keeper", "_lock", "_options", "_reads", "_stamp", "enabled")

    def __init__(self, options: StoreOptions) -> None:
        self._options = options
        self._lock = threading.Lock()
        self._header: WalIndexHeader | None = None
        self._keeper: sqlite3.Connection | None = None
        self._stamp = b""
        self._entries: dict[tuple[int, str], _Held] = {}
        self._reads = 0
        self._generation = FORKS.generation
        self.enabled = platform.READ_CACHE
        """False once the cache gave up (no header found, closed, forked): every read goes to SQLite."""

    def lookup(self, bucket_id: int, key: str, now: int) -> Entry | None:
        """The held latest entry of ``key`` if the file has not changed since it was read and it is still alive."""
        with self._lock:
            header = self._header
            if header is None or self._generation != FORKS.generation or header.read() != self._stamp:
                return None
            held = self._entries.get((bucket_id, key))
        if held is None:
            return None
        entry, deadline = held
        if deadline is not None and deadline <= now:
            return None  # SQLite decides (the key is gone)
        return entry

    def stamp(self) -> bytes | None:
        """The header now, read *before* a read from SQLite whose entry may be kept (None: nothing is kept)."""
        if not self.enabled:
            return None
        with self._lock:
            if self._generation != FORKS.generation:  # a forked child: the mapping may be gone with the parent's
                self._forked()  # connections; never read it
                return None
            header = self._header
            if header is None:
                self._reads += 1
                if self._reads < ARM_AFTER or not self._arm():
                    return None
                header = self._header
                assert header is not None
            return header.read()

    def keep(self, stamp: bytes | None, bucket_id: int, key: str, entry: Entry) -> None:
        """Hold ``entry``, read from SQLite after ``stamp``, if nothing was committed meanwhile."""
        if stamp is None or len(entry.value) > MAX_VALUE:
            return
        deadline = fresh_deadline_ns(entry)
        with self._lock:
            header = self._header
            if header is None or self._generation != FORKS.generation or header.read() != stamp:
                return  # a commit since the stamp: the entry may be newer than it
            if stamp != self._stamp or len(self._entries) >= MAX_ENTRIES:
                if not consistent(stamp):
                    return
                self._stamp, self._entries = stamp, {}
            self._entries[bucket_id, key] = (entry, deadline)

    def _arm(self) -> bool:
        """Open the keeper connection and find the header (under the lock). False: the cache is off for good."""
        if self._generation != FORKS.generation:  # a forked child: the parent's connection is not ours
            self.enabled = False
            return False
        try:
            keeper = open_connection(self._options, reader=True)
        except SQLITE_ERRORS:
            self.enabled = False
            return False
        try:
            keeper.execute("SELECT 1 FROM sqlkv_buckets LIMIT 1").fetchall()  # a read: SQLite maps the wal-index
            header = find_header(self._options.path)
        except SQLITE_ERRORS:
            header = None
        if header is None:
            keeper.close()
            self.enabled = False
            return False
        self._keeper, self._header = keeper, header
        return True

    def close(self) -> None:
        """Forget every entry and close the keeper connection (idempotent; the store is closing)."""
        with self._lock:
            self.enabled = False
            self._header = None
            self._entries = {}
            keeper, self._keeper = self._keeper, None
        if keeper is not None and self._generation == FORKS.generation:
            keeper.close()

    def _forked(self) -> None:
        """In a forked child (under the lock): drop the parent's keeper unclosed, and never read the header again."""
        self.enabled = False
        self._header = None
        self._keeper = None
        self._entries = {}
