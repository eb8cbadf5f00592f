"""AsyncBucket: the map operations of one bucket, for asyncio and trio."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from . import _expiry, _ops
from ._config import to_seconds
from ._core import BucketCore
from ._entry import BucketStatus, Entry, Operation
from ._lock import AsyncLock
from ._validate import check_key, check_revision
from ._watch import AsyncWatcher

if TYPE_CHECKING:
    from ._store import AsyncStore

__all__ = ["AsyncBucket"]


class AsyncBucket(BucketCore):
    """A handle on one bucket of an :class:`AsyncStore`.

    Every write returns the new revision once it is committed; every read
    sees every write acknowledged before it started, from any task or process.
    """

    __slots__ = ()

    _store: AsyncStore

    async def put(self, key: str, value: bytes | str, *, ttl: float | timedelta | None = None) -> int:
        """Store ``value`` as the key's new revision; return the revision.

        With ``ttl`` (seconds or a timedelta) the whole key, history included,
        expires that long from now unless it is written again (a later write
        without ``ttl`` keeps it for good).
        """
        key, data, now, expires = self._value_args(key, value, ttl)
        revision: int = await self._store._write(_ops.put, self._sql, key, data, now, expires)
        self._committed(expires)
        return revision

    async def create(self, key: str, value: bytes | str, *, ttl: float | timedelta | None = None) -> int:
        """Put only if the key is absent (or deleted, or expired); else KeyExistsError. ``ttl`` as for put."""
        key, data, now, expires = self._value_args(key, value, ttl)
        revision: int = await self._store._write(_ops.create, self._sql, key, data, now, expires)
        self._committed(expires)
        return revision

    async def update(self, key: str, value: bytes | str, last: int, *, ttl: float | timedelta | None = None) -> int:
        """Put only if ``last`` is the key's latest revision (0: the key is absent). ``ttl`` as for put.

        Mismatch: WrongLastRevisionError, carrying the expected and actual revision.
        """
        key, data, now, expires = self._value_args(key, value, ttl)
        last = check_revision(last, name="last", minimum=0)
        revision: int = await self._store._write(_ops.update, self._sql, key, data, last, now, expires)
        self._committed(expires)
        return revision

    async def delete(self, key: str, *, last: int | None = None) -> int:
        """Write a delete marker (history kept); with ``last``, only if it is the latest revision."""
        return await self._marker(key, Operation.DEL, last)

    async def purge(self, key: str, *, last: int | None = None) -> int:
        """Write a purge marker and drop the key's earlier revisions; ``last`` as for delete."""
        return await self._marker(key, Operation.PURGE, last)

    async def _marker(self, key: str, op: Operation, last: int | None) -> int:
        key, last = self._marker_args(key, last)
        revision: int = await self._store._write(_ops.write_marker, self._sql, key, op, last, self._store._clock())
        return revision

    async def get(self, key: str, *, revision: int | None = None) -> Entry:
        """The key's latest value, or the value at ``revision`` if that revision is this key's.

        KeyNotFoundError when there is none (or it expired); KeyDeletedError (a
        subclass) when the entry is a delete or purge marker.
        """
        check_key(key)
        if revision is not None:
            check_revision(revision)
        entry: Entry = await self._store._read(_ops.get, self._sql, key, revision, self._store._clock())
        return entry

    async def history(self, key: str) -> list[Entry]:
        """Every retained revision of the key, oldest first; KeyNotFoundError if none."""
        entries: list[Entry] = await self._store._read(_ops.history, self._sql, check_key(key), self._store._clock())
        return entries

    async def keys(self, *filters: str) -> list[str]:
        """Live keys, sorted, optionally only those matching any of ``filters``.

        Filters use NATS wildcards: ``*`` one token, ``>`` (last) the rest.
        An empty bucket gives ``[]``.
        """
        plan = self._watch_filters(filters, None)
        found: list[str] = await self._store._read(
            _ops.keys, self._sql, plan["matcher"], plan["prefix"], self._store._clock()
        )
        return found

    async def purge_deletes(self, *, older_than: float | timedelta | None = None) -> int:
        """Drop the history of deleted keys, and their markers once older than ``older_than``.

        ``older_than`` defaults to 30 minutes (as NATS); ``0`` removes every
        marker. Returns the number of rows removed. Watchers are not notified.
        """
        threshold = self._purge_threshold(older_than)
        removed: int = await self._store._write(_expiry.purge_deletes, self._sql, self._store._clock(), threshold)
        return removed

    def watch(
        self,
        *filters: str,
        include_history: bool = False,
        ignore_deletes: bool = False,
        meta_only: bool = False,
        updates_only: bool = False,
        from_revision: int | None = None,
        buffer_size: int = 1024,
    ) -> AsyncWatcher:
        """A live stream of the bucket's changes: ``async with kv.watch() as w: async for e in w``.

        Initial entries first (latest entry of each matching key; every retained
        entry with ``include_history``; every entry from revision
        ``from_revision`` on; none with ``updates_only``), then live entries, all
        in revision order. ``watcher.initial_done`` / ``await watcher.initial()``
        mark the end of the initial entries. ``ignore_deletes`` drops delete,
        purge and expiry markers; ``meta_only`` leaves values empty. Filters as for keys().
        """
        return AsyncWatcher(
            **self._watcher_options(
                filters,
                include_history=include_history,
                ignore_deletes=ignore_deletes,
                meta_only=meta_only,
                updates_only=updates_only,
                from_revision=from_revision,
                buffer_size=buffer_size,
            ),
        )

    def lock(
        self, key: str, *, ttl: float | timedelta = 10.0, wait: bool = True, timeout: float | None = None
    ) -> AsyncLock:
        """An exclusive lock on ``key``: ``async with kv.lock("file.txt", ttl=10) as lock: ...``.

        Taken with ``create`` (the value names the holder), kept alive by
        ``update`` with the revision it holds every ``ttl/3``, released by a
        CAS ``delete``; if the holder dies, the key expires after ``ttl`` and
        the lock is free. ``wait=False`` fails at once with
        LockNotAcquiredError when the lock is held; otherwise it waits, for at
        most ``timeout`` seconds when given.
        """
        return AsyncLock(self, check_key(key), to_seconds(ttl, "ttl"), wait, timeout)

    async def status(self) -> BucketStatus:
        """Counts, sizes and configuration of the bucket (O(1): trigger-kept counters)."""
        result: BucketStatus = await self._store._read(_ops.status, self._sql)
        return result

    async def _recount(self) -> tuple[int, int, int]:
        """(rows, bytes, live keys) counted from the table, for checking the counters."""
        counted: tuple[int, int, int] = await self._store._read(_ops.recount, self._sql)
        return counted
