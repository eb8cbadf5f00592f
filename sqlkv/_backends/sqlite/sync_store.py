"""``Store`` on a SQLite file: the store and its buckets, run on the calling thread by a ``DirectEngine``."""

from __future__ import annotations

from collections.abc import Iterator

from ..._api.lifecycle import State
from ..._api.registry import replica_entry
from ..._api.sync_interface import Bucket, Store
from ..._api.transaction import Step
from ..._engine.direct import DirectEngine
from ..._engine.engine import SWEEP_BATCH
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

    from .sync_watcher import SqliteWatcher

__all__ = ["SqliteBucket", "SqliteStore"]


class SqliteStore(SqliteStoreCore, Store):
    """``Store`` on one SQLite file (see ``Store`` for the options)."""

    _engine: DirectEngine

    def _make_engine(self, options: StoreOptions) -> DirectEngine:
        return DirectEngine(options)

    def open(self) -> SqliteStore:
        if self._state is not State.UNOPENED:
            raise StoreClosedError(f"store is {self._state.value}; a store can be opened once")
        self._engine.start()
        self._state = State.OPEN
        self._tracker.opened(self, self._engine.stop, f"sqlkv.Store({self.path!r})")
        return self

    def close(self) -> None:
        if self._state is State.CLOSED:
            return
        self._state = State.CLOSED
        self._tracker.closed(self)
        self._engine.stop()

    def _handle(self, record: BucketRecord) -> SqliteBucket:
        return SqliteBucket(self, self._engine, self._watch_hub, record)

    def _create_bucket(self, name: str, config: BucketConfig) -> SqliteBucket:
        return self._handle(self._engine.write(catalog.create_bucket, name, config))

    def _update_bucket(self, name: str, changes: dict[str, object]) -> SqliteBucket:
        record = self._engine.write(admin.update_bucket, name, changes, self._engine.clock())
        self._engine.configuration_changed()
        return self._handle(record)

    def _bucket(self, name: str) -> SqliteBucket:
        return self._handle(self._engine.read(catalog.find_bucket, name))

    def bucket_names(self) -> list[str]:
        names: list[str] = self._engine.read(catalog.bucket_names)
        return names

    def _delete_bucket(self, name: str) -> None:
        self._engine.write(catalog.delete_bucket, name)

    def sweep(self) -> int:
        expired = 0
        while True:
            result: SweepResult = self._engine.write(expiry.sweep, self._engine.clock(), SWEEP_BATCH)
            keys, _, more = result
            expired += keys
            if not more:
                return expired

    def _atomic(self, checks: list[Step], mutations: list[Step]) -> list[int]:
        if not checks and not mutations:
            self._engine.check_open()
            return []
        named = {step.bucket for step in (*checks, *mutations) if isinstance(step.bucket, str)}
        handles = {name: self._bucket(name) for name in sorted(named)}
        now = self._engine.clock()
        plan = SqliteBucketCore.plan_transaction(self, checks, mutations, handles, now)  # type: ignore[arg-type]
        revisions: list[int] = self._engine.write(atomic.run, *plan, now)
        return revisions

    def _backup(self, path: str, overwrite: bool) -> int:
        pages: int = self._engine.read(backup, path, overwrite)
        return pages

    def _replicate(self, bucket: str, *args: Any) -> Any:
        return replica_entry("open_sync")(self, bucket, *args)

    def _replica_status(self, bucket: str) -> Any:
        return replica_entry("stored_status_sync")(self, bucket)

    def _detach_replica(self, bucket: str, force: bool) -> int:
        from .replica_port import run_now

        handle = self.bucket(bucket)
        assert isinstance(handle, SqliteBucket)
        return run_now(handle.replica_port().detach(force))


class SqliteBucket(SqliteBucketCore, Bucket):
    """``Bucket`` of a SQLite store."""

    __slots__ = ()
    _engine: DirectEngine

    def _get(self, key: str, revision: int | None) -> Entry:
        engine, sql = self._engine, self._sql
        now = engine.clock()
        if revision is not None:
            at_revision: Entry = engine.read(ops.get, sql, key, revision, now)
            return at_revision
        cache = engine.read_cache
        found = cache.probe(sql.bucket_id, key, now)
        if isinstance(found, Entry):
            return found
        entry: Entry = engine.read(ops.get, sql, key, None, now)
        cache.keep(found, sql.bucket_id, key, entry)
        return entry

    def _scan(
        self, options: WatchOptions, start: str, end: str | None, limit: int | None, reverse: bool, values: bool
    ) -> Iterator[Any]:
        cursor = ScanCursor(options, start, end, limit, reverse, values)
        while not cursor.done:
            yield from cursor.advance(self._page(cursor))

    def _watch(self, options: WatchOptions, timeout: float | None) -> SqliteWatcher:
        from .sync_watcher import SqliteWatcher  # the watch layer loads on the first watch

        watcher = SqliteWatcher(self._store, self._hub(), self._engine, self._sql, options, timeout)
        watcher.ttl_ns = self._ttl_ns
        return watcher
