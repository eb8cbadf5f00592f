"""What a SQLite bucket does with a checked call, shared by the async and the sync bucket.

Each ``_method`` turns the interface's checked arguments into one storage
operation and hands it to the store's engine: ``ThreadedEngine`` returns an
awaitable (the async bucket awaits it), ``DirectEngine`` runs it at once (the
sync bucket returns its result). So both twins run the very same code.
"""

from __future__ import annotations

from ..._model.entry import Operation
from ..._model.watch_options import WatchOptions
from ..._runtime.request import Operation as StorageOperation
from ..._storage import expiry, ops
from ..._storage.catalog import BucketRecord
from ..._storage.statements import BucketSQL
from ..arguments import ImportRow

__all__ = ["EngineCalls", "SqliteBucketCore"]


TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing at run time: a command starts sooner)
if TYPE_CHECKING:
    from typing import Any, Protocol

    class EngineCalls(Protocol):
        """The engine as a bucket sees it: ``write``/``read`` return an awaitable (threaded) or the result (direct)."""

        def clock(self) -> int: ...

        def write(self, fn: StorageOperation, *args: Any) -> Any: ...

        def read(self, fn: StorageOperation, *args: Any) -> Any: ...

        def expect_deadline(self, deadline: int) -> None: ...


class SqliteBucketCore:
    """The state of a SQLite bucket handle and the storage call behind each interface method."""

    __slots__ = ("_engine", "_sql", "_store", "_ttl_ns", "config")

    def _attach(self, store: Any, engine: EngineCalls, record: BucketRecord) -> None:
        bucket_id, name, config, _ = record
        self._store = store  # keeps the store alive while a handle is in use
        self._engine = engine
        self._sql = BucketSQL.for_bucket(name, bucket_id)
        self._ttl_ns = config.ttl_ns
        self.config = config

    @property
    def name(self) -> str:
        """The bucket's name."""
        return self._sql.bucket

    def _announce(self, now: int, expires: int | None) -> None:
        """Tell the sweeper when what this write stores expires (the bucket TTL as this handle knows it)."""
        ttl = self._ttl_ns
        if expires is not None or ttl:
            deadlines = [deadline for deadline in (expires, now + ttl if ttl else None) if deadline is not None]
            self._engine.expect_deadline(min(deadlines))

    def _value_write(self, fn: StorageOperation, key: str, data: bytes, ttl: float | None, *last: int) -> Any:
        engine = self._engine
        now = engine.clock()
        expires = None if ttl is None else now + round(ttl * 1e9)
        if expires is not None or self._ttl_ns:
            self._announce(now, expires)
        return engine.write(fn, self._sql, key, data, *last, now, expires)

    def _put(self, key: str, data: bytes, ttl: float | None) -> Any:
        if ttl is None and not self._ttl_ns:  # the common case, without a detour
            engine = self._engine
            return engine.write(ops.put, self._sql, key, data, engine.clock(), None)
        return self._value_write(ops.put, key, data, ttl)

    def _create(self, key: str, data: bytes, ttl: float | None) -> Any:
        return self._value_write(ops.create, key, data, ttl)

    def _update(self, key: str, data: bytes, last: int, ttl: float | None) -> Any:
        return self._value_write(ops.update, key, data, ttl, last)

    def _marker(self, key: str, op: Operation, last: int | None) -> Any:
        now = self._engine.clock()
        if self._ttl_ns:
            self._announce(now, None)
        return self._engine.write(ops.write_marker, self._sql, key, op, last, now)

    def _get(self, key: str, revision: int | None) -> Any:
        engine = self._engine
        return engine.read(ops.get, self._sql, key, revision, engine.clock())

    def _history(self, key: str) -> Any:
        return self._engine.read(ops.history, self._sql, key, self._engine.clock())

    def _keys(self, options: WatchOptions) -> Any:
        return self._engine.read(ops.keys, self._sql, options.matcher, options.prefix, self._engine.clock())

    def _purge_deletes(self, older_than: float) -> Any:
        return self._engine.write(expiry.purge_deletes, self._sql, self._engine.clock(), round(older_than * 1e9))

    def _status(self) -> Any:
        return self._engine.read(ops.status, self._sql, self._engine.clock())

    def _import_entries(self, rows: list[ImportRow]) -> Any:
        return self._engine.write(ops.import_rows, self._sql, rows)

    def _recount(self) -> Any:
        """(rows, bytes, live keys) counted from the table, for checking the counters."""
        return self._engine.read(ops.recount, self._sql)

    def _counters(self) -> Any:
        """(rows, bytes, live keys) as the triggers keep them (``status()`` also leaves out what expired)."""
        return self._engine.read(ops.counters, self._sql)
