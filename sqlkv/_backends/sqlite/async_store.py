"""``AsyncStore`` on a SQLite file: the store and its buckets, run by a ``ThreadedEngine``."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

from ..._api.async_interface import AsyncBucket, AsyncStore
from ..._api.lifecycle import State
from ..._api.registry import replica_entry
from ..._api.transaction import Step
from ..._engine.engine import SWEEP_BATCH
from ..._engine.threaded import ThreadedEngine
from ..._model.config import BucketConfig
from ..._model.entry import Entry
from ..._model.errors import StoreClosedError
from ..._model.options import StoreOptions
from ..._model.watch_options import WatchOptions
from ..._storage import admin, atomic, catalog, expiry, ops
from ..._storage.backup import backup
from ..._storage.catalog import BucketRecord
from ..._storage.expiry import SweepResult
from .bucket_core import ScanCursor, SqliteBucketCore
from .store_core import SqliteStoreCore

TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing at run time: a command starts sooner)
if TYPE_CHECKING:
    from typing import Any

    from .async_watcher import SqliteAsyncWatcher

__all__ = ["SqliteAsyncBucket", "SqliteAsyncStore"]


class SqliteAsyncStore(SqliteStoreCore, AsyncStore):
    """``AsyncStore`` on one SQLite file (see ``AsyncStore`` for the options)."""

    _engine: ThreadedEngine

    def __init__(self, path: str | os.PathLike[str], *, inline: bool = True, **options: Any) -> None:
        self._inline = inline
        super().__init__(path, **options)

    def _make_engine(self, options: StoreOptions) -> ThreadedEngine:
        return ThreadedEngine(options, inline=self._inline)

    async def open(self) -> SqliteAsyncStore:
        if self._state is not State.UNOPENED:
            raise StoreClosedError(f"store is {self._state.value}; a store can be opened once")
        self._state = State.OPEN
        try:
            await self._engine.start()
        except BaseException:
            await self.aclose()
            raise
        self._tracker.opened(self, self._engine.stop_nowait, f"sqlkv.AsyncStore({self.path!r})")
        return self

    async def aclose(self) -> None:
        if self._state is State.CLOSED:
            return
        self._state = State.CLOSED
        self._tracker.closed(self)
        await self._engine.stop()

    def close_nowait(self) -> None:
        if self._state is State.CLOSED:
            return
        self._state = State.CLOSED
        self._tracker.closed(self)
        self._engine.stop_nowait()

    @property
    def inline(self) -> bool:
        return self._engine.inline

    def _handle(self, record: BucketRecord) -> SqliteAsyncBucket:
        return SqliteAsyncBucket(self, self._engine, self._watch_hub, record)

    async def _create_bucket(self, name: str, config: BucketConfig) -> SqliteAsyncBucket:
        record = await self._engine.write(catalog.create_bucket, name, config)
        return self._handle(record)

    async def _update_bucket(self, name: str, changes: dict[str, object]) -> SqliteAsyncBucket:
        record = await self._engine.write(admin.update_bucket, name, changes, self._engine.clock())
        self._engine.configuration_changed()
        return self._handle(record)

    async def _bucket(self, name: str) -> SqliteAsyncBucket:
        return self._handle(await self._engine.read(catalog.find_bucket, name))

    async def bucket_names(self) -> list[str]:
        names: list[str] = await self._engine.read(catalog.bucket_names)
        return names

    async def _delete_bucket(self, name: str) -> None:
        await self._engine.write(catalog.delete_bucket, name)

    async def sweep(self) -> int:
        expired = 0
        while True:
            result: SweepResult = await self._engine.write(expiry.sweep, self._engine.clock(), SWEEP_BATCH)
            keys, _, more = result
            expired += keys
            if not more:
                return expired

    async def _atomic(self, checks: list[Step], mutations: list[Step]) -> list[int]:
        if not checks and not mutations:
            self._engine.check_open()
            return []
        named = {step.bucket for step in (*checks, *mutations) if isinstance(step.bucket, str)}
        handles = {name: await self._bucket(name) for name in sorted(named)}
        now = self._engine.clock()
        plan = SqliteBucketCore.plan_transaction(self, checks, mutations, handles, now)  # type: ignore[arg-type]
        revisions: list[int] = await self._engine.write(atomic.run, *plan, now)
        return revisions

    async def _backup(self, path: str, overwrite: bool) -> int:
        pages: int = await self._engine.read(backup, path, overwrite)
        return pages

    def _replicate(self, bucket: str, *args: Any) -> Any:
        return replica_entry("open_async")(self, bucket, *args)

    async def _replica_status(self, bucket: str) -> Any:
        return await replica_entry("stored_status")(self, bucket)

    async def _detach_replica(self, bucket: str, force: bool) -> int:
        handle = await self.bucket(bucket)
        assert isinstance(handle, SqliteAsyncBucket)
        return await handle.replica_port().detach(force)


class SqliteAsyncBucket(SqliteBucketCore, AsyncBucket):
    """``AsyncBucket`` of a SQLite store."""

    __slots__ = ()
    _engine: ThreadedEngine

    async def _get(self, key: str, revision: int | None) -> Entry:
        engine, sql = self._engine, self._sql
        now = engine.clock()
        if revision is not None:
            at_revision: Entry = await engine.read(ops.get, sql, key, revision, now)
            return at_revision
        cache = engine.read_cache
        found = cache.probe(sql.bucket_id, key, now)
        if isinstance(found, Entry):
            return await engine.served(found)
        entry: Entry = await engine.read(ops.get, sql, key, None, now)
        cache.keep(found, sql.bucket_id, key, entry)
        return entry

    async def _scan(
        self, options: WatchOptions, start: str, end: str | None, limit: int | None, reverse: bool, values: bool
    ) -> AsyncIterator[Any]:
        cursor = ScanCursor(options, start, end, limit, reverse, values)
        while not cursor.done:
            for item in cursor.advance(await self._page(cursor)):
                yield item

    def _watch(self, options: WatchOptions) -> SqliteAsyncWatcher:
        from .async_watcher import SqliteAsyncWatcher  # the watch layer loads on the first watch

        watcher = SqliteAsyncWatcher(self._store, self._hub(), self._engine, self._sql, options)
        watcher.ttl_ns = self._ttl_ns
        return watcher
