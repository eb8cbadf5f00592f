"""Recently read entries of a store, served without SQLite while the file has not changed: exact across processes.

A get of a key's latest entry that this process read before, with no commit
to the file since (by this store, another store or another process), returns
that same (immutable) ``Entry`` again: SQLite would return the same row. "No
commit since" is the WAL-index header SQLite keeps in shared memory
(``_storage/walindex.py``): it is read before each read from SQLite and kept
as the *stamp* of what that read returned; an entry is served from the cache
only while the header still equals the stamp of the entries held. Any commit
changes the header, and the cache starts again. A key's entry is held from
its second read under one stamp (the first only notes the key: holding every
entry read once would cost a one-off read more than it saves). An entry past its deadline
(bucket TTL or per-key) is never served: the read goes to SQLite, which says
the key is gone.

The cache keeps a read connection of its own open while it is armed, so that
SQLite's mapping of the header stays in place while it is read (every
reading holds the cache's lock; ``close`` takes it). It arms itself after
``ARM_AFTER`` reads, so a short-lived process (one CLI command) never pays for
it, and holds at most ``MAX_ENTRIES`` entries and ``MAX_BYTES`` of values (none
over ``MAX_VALUE`` bytes). Linux only (``platform.READ_CACHE``); ``SQLKV_READ_CACHE=0`` turns it off.
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

__all__ = ["ARM_AFTER", "MAX_BYTES", "MAX_ENTRIES", "MAX_VALUE", "ReadCache"]

ARM_AFTER = 64
"""Reads through the store before the cache looks for the header (a one-shot command never does)."""

MAX_ENTRIES = 65536
"""Entries held at most; the cache starts again when full."""

MAX_VALUE = 16 * 1024
"""Larger values are never held."""

MAX_BYTES = 32 * 1024 * 1024
"""Value bytes held at most (with MAX_ENTRIES: whichever comes first); the cache starts again when full."""


_State = tuple[bytes, dict[int, dict[str, Entry]], dict[int, dict[str, int]], set[str]]
_EMPTY: _State = (b"", {}, {}, set())


class ReadCache:
    """The latest entries this store read, valid while the file's WAL-index header equals their stamp."""

    __slots__ = (
        "_bytes",
        "_count",
        "_generation",
        "_header",
        "_keeper",
        "_lock",
        "_options",
        "_reads",
        "_state",
        "enabled",
    )

    def __init__(self, options: StoreOptions) -> None:
        self._options = options
        self._lock = threading.Lock()  # held while the header is read: ``close`` unmaps it
        self._header: WalIndexHeader | None = None
        self._keeper: sqlite3.Connection | None = None
        # (stamp, bucket id -> key -> entry, bucket id -> key -> deadline in ns of the entries that have one,
        # the keys read once under this stamp), replaced whole. No tuple per entry: every object held is one more
        # for the garbage collector to visit.
        self._state: _State = _EMPTY
        self._count = 0
        self._bytes = 0
        self._reads = 0
        self._generation = FORKS.generation
        self.enabled = platform.READ_CACHE
        """False once the cache gave up (no header found, closed, forked): every read goes to SQLite."""

    def probe(self, bucket_id: int, key: str, now: int) -> Entry | bytes | None:
        """The held latest entry of ``key`` if the file has not changed since it was read and it is still alive.

        Otherwise the stamp to ``keep`` what SQLite then returns under (the
        header *before* that read), or None (the cache is off: keep nothing).
        """
        with self._lock:
            header = self._header
            if header is None or self._generation != FORKS.generation:
                return self._unarmed()
            stamp = header.read()
        held, entries, deadlines, _ = self._state
        if stamp != held:
            return stamp
        bucket = entries.get(bucket_id)
        entry = None if bucket is None else bucket.get(key)
        if entry is None:
            return stamp
        if deadlines:
            per_key = deadlines.get(bucket_id)
            deadline = None if per_key is None else per_key.get(key)
            if deadline is not None and deadline <= now:
                return stamp  # SQLite decides (the key is gone)
        return entry

    def keep(self, stamp: bytes | None, bucket_id: int, key: str, entry: Entry) -> None:
        """Hold ``entry``, read from SQLite after the header read ``stamp``.

        If anything was committed after ``stamp``, ``entry`` may be newer than
        it; it is held all the same, harmlessly: the header never reads
        ``stamp`` again, so nothing held under it is ever served.
        """
        size = len(entry.value)
        if stamp is None or size > MAX_VALUE:
            return
        state = self._state
        if stamp != state[0] or self._count >= MAX_ENTRIES or self._bytes >= MAX_BYTES:
            if not consistent(stamp):
                return  # read while a commit rewrote the header: it never reads so again
            state = self._state = (stamp, {}, {}, set())
            self._count = self._bytes = 0
        _, entries, deadlines, once = state
        if key not in once:  # held from its second read on: a key read once costs no entry kept alive
            once.add(key)
            self._count += 1
            return
        bucket = entries.get(bucket_id)
        if bucket is None:
            bucket = entries[bucket_id] = {}
        bucket[key] = entry
        self._count += 1
        self._bytes += size
        deadline = fresh_deadline_ns(entry)
        per_key = deadlines.get(bucket_id)
        if deadline is not None:
            if per_key is None:
                per_key = deadlines[bucket_id] = {}
            per_key[key] = deadline
        elif per_key is not None:
            per_key.pop(key, None)

    def _unarmed(self) -> bytes | None:
        """``probe`` before the cache is armed (under the lock): arm it after ARM_AFTER reads; the stamp then."""
        if not self.enabled:
            return None
        if self._generation != FORKS.generation:  # a forked child: the mapping may be gone with the parent's
            self._forked()  # connections; never read it
            return None
        self._reads += 1
        if self._reads < ARM_AFTER or not self._arm():
            return None
        assert self._header is not None
        return self._header.read()

    def _arm(self) -> bool:
        """Open the keeper connection and find the header (under the lock). False: the cache is off for good."""
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
            self._state = _EMPTY
            keeper, self._keeper = self._keeper, None
            if keeper is not None and self._generation == FORKS.generation:
                keeper.close()  # (under the lock: no reading of the header is under way)

    def _forked(self) -> None:
        """In a forked child (under the lock): drop the parent's keeper unclosed, and never read the header again."""
        self.enabled = False
        self._header = None
        self._keeper = None
        self._state = _EMPTY
