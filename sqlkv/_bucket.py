"""AsyncBucket: the map operations of one bucket."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import _ops
from ._config import BucketConfig
from ._entry import BucketStatus, Entry, Operation
from ._sql import BucketSQL
from ._validate import check_key, check_revision, coerce_value, compile_filters
from ._watch import AsyncWatcher

if TYPE_CHECKING:
    from ._store import AsyncStore

__all__ = ["AsyncBucket"]


class AsyncBucket:
    """A handle on one bucket of an :class:`AsyncStore`.

    Every write returns the new revision once it is committed; every read
    sees every write acknowledged before it started, from any task or process.
    """

    __slots__ = ("_created", "_sql", "_store", "config")

    def __init__(self, store: AsyncStore, record: _ops.BucketRecord) -> None:
        bucket_id, name, config, created = record
        self._store = store
        self._sql = BucketSQL.for_bucket(name, bucket_id)
        self._created = created
        self.config: BucketConfig = config
        """The configuration the bucket had when this handle was made."""

    @property
    def name(self) -> str:
        """The bucket's name."""
        return self._sql.bucket

    def __repr__(self) -> str:
        return f"<AsyncBucket {self.name!r} history={self.config.history}>"

    async def put(self, key: str, value: bytes | str) -> int:
        """Store ``value`` as the key's new revision; return the revision."""
        revision: int = await self._store._write(_ops.put, self._sql, check_key(key), coerce_value(value))
        return revision

    async def create(self, key: str, value: bytes | str) -> int:
        """Put only if the key is absent or deleted; else KeyExistsError."""
        revision: int = await self._store._write(_ops.create, self._sql, check_key(key), coerce_value(value))
        return revision

    async def update(self, key: str, value: bytes | str, last: int) -> int:
        """Put only if ``last`` is the key's latest revision (0: the key has none).

        Mismatch: WrongLastRevisionError, carrying the expected and actual revision.
        """
        revision: int = await self._store._write(
            _ops.update,
            self._sql,
            check_key(key),
            coerce_value(value),
            check_revision(last, name="last", minimum=0),
        )
        return revision

    async def delete(self, key: str, *, last: int | None = None) -> int:
        """Write a delete marker (history kept); with ``last``, only if it is the latest revision."""
        return await self._marker(key, Operation.DEL, last)

    async def purge(self, key: str, *, last: int | None = None) -> int:
        """Write a purge marker and drop the key's earlier revisions; ``last`` as for delete."""
        return await self._marker(key, Operation.PURGE, last)

    async def _marker(self, key: str, op: Operation, last: int | None) -> int:
        check_key(key)
        if last is not None:
            check_revision(last, name="last", minimum=0)
        revision: int = await self._store._write(_ops.write_marker, self._sql, key, op, last)
        return revision

    async def get(self, key: str, *, revision: int | None = None) -> Entry:
        """The key's latest value, or the value at ``revision`` if that revision is this key's.

        KeyNotFoundError when there is none; KeyDeletedError (a subclass) when
        the entry is a delete or purge marker.
        """
        check_key(key)
        if revision is not None:
            check_revision(revision)
        entry: Entry = await self._store._read(_ops.get, self._sql, key, revision)
        return entry

    async def history(self, key: str) -> list[Entry]:
        """Every retained revision of the key, oldest first; KeyNotFoundError if none."""
        entries: list[Entry] = await self._store._read(_ops.history, self._sql, check_key(key))
        return entries

    async def keys(self, *filters: str) -> list[str]:
        """Live keys, sorted, optionally only those matching any of ``filters``.

        Filters use NATS wildcards: ``*`` one token, ``>`` (last) the rest.
        An empty bucket gives ``[]``.
        """
        matcher, prefix = compile_filters(filters)
        found: list[str] = await self._store._read(_ops.keys, self._sql, matcher, prefix)
        return found

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
        mark the end of the initial entries. ``ignore_deletes`` drops delete and
        purge markers; ``meta_only`` leaves values empty. Filters as for keys().
        """
        matcher, prefix = compile_filters(filters)
        if from_revision is not None:
            check_revision(from_revision, name="from_revision")
        literal = matcher is not None and not any("*" in f or ">" in f for f in filters)
        return AsyncWatcher(
            self._store,
            self._sql,
            matcher,
            prefix,
            exact_keys=tuple(filters) if literal else None,
            include_history=include_history,
            ignore_deletes=ignore_deletes,
            meta_only=meta_only,
            updates_only=updates_only,
            from_revision=from_revision,
            buffer_size=buffer_size,
        )

    async def status(self) -> BucketStatus:
        """Counts, sizes and configuration of the bucket."""
        result: BucketStatus = await self._store._read(_ops.status, self._sql, self.config, self._created)
        return result
