"""What a SQLite bucket does with a checked call, shared by the async and the sync bucket.

Each ``_method`` turns the interface's checked arguments into one storage
operation and hands it to the store's engine: ``ThreadedEngine`` returns an
awaitable (the async bucket awaits it), ``DirectEngine`` runs it at once (the
sync bucket returns its result). So both twins run the very same code.
"""

from __future__ import annotations

from ..._api.arguments import ImportRow
from ..._api.transaction import Step
from ..._model.entry import Operation
from ..._model.errors import InvalidArgumentError, name_mutation
from ..._model.watch_options import WatchOptions
from ..._runtime.request import StorageCall
from ..._storage import atomic, expiry, ops, scan
from ..._storage.catalog import BucketRecord
from ..._storage.changes import prefix_end
from ..._storage.statements import BucketSQL

__all__ = ["ScanCursor", "SqliteBucketCore"]


TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing at run time: a command starts sooner)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, Protocol

    from ..._model.options import StoreOptions
    from ..._watch.hub import WatchHub
    from .replica_port import SqliteReplicaPort

    class EngineCalls(Protocol):
        """The engine as a bucket sees it: ``write``/``read`` return an awaitable (threaded) or the result (direct)."""

        options: StoreOptions

        def clock(self) -> int: ...

        def write(self, fn: StorageCall, *args: Any) -> Any: ...

        def read(self, fn: StorageCall, *args: Any) -> Any: ...

        def expect_deadline(self, deadline: int) -> None: ...


class SqliteBucketCore:
    """The state of a SQLite bucket handle and the storage call behind each interface method."""

    __slots__ = ("_engine", "_hub", "_sql", "_store", "_ttl_ns", "config")

    def __init__(self, store: Any, engine: EngineCalls, hub: Callable[[], WatchHub], record: BucketRecord) -> None:
        """A handle of bucket ``record`` of ``store``, whose engine runs its calls and whose ``hub()`` its watches."""
        bucket_id, name, config, _ = record
        self._store = store  # keeps the store alive while a handle is in use
        self._engine = engine
        self._hub = hub
        self._sql = BucketSQL.for_bucket(name, bucket_id)
        self._ttl_ns = config.ttl_ns
        self.config = config

    @property
    def name(self) -> str:
        """The bucket's name."""
        return self._sql.bucket

    def replica_port(self) -> SqliteReplicaPort:
        """This bucket's replica state and write path, for the replica layer (its ``ReplicaPort``)."""
        from .replica_port import SqliteReplicaPort

        return SqliteReplicaPort(self._engine, self._sql, self.config, self._engine.options)

    def _announce(self, now: int, expires: int | None) -> None:
        """Tell the sweeper when what this write stores expires (the bucket TTL as this handle knows it)."""
        ttl = self._ttl_ns
        if expires is not None or ttl:
            deadlines = [deadline for deadline in (expires, now + ttl if ttl else None) if deadline is not None]
            self._engine.expect_deadline(min(deadlines))

    def _value_write(self, fn: StorageCall, key: str, data: bytes, ttl: float | None, *last: int) -> Any:
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

    def _marker(self, key: str, op: Operation, last: int | None, ttl: float | None = None) -> Any:
        now = self._engine.clock()
        expires = None if ttl is None else now + round(ttl * 1e9)
        if self._ttl_ns or expires is not None:
            self._announce(now, expires)
        if expires is None:
            return self._engine.write(ops.write_marker, self._sql, key, op, last, now)
        return self._engine.write(ops.write_marker, self._sql, key, op, last, now, expires)

    def _incr(self, key: str, by: int, ttl: float | None) -> Any:
        engine = self._engine
        now = engine.clock()
        expires = None if ttl is None else now + round(ttl * 1e9)
        if expires is not None or self._ttl_ns:
            self._announce(now, expires)
        return engine.write(ops.incr, self._sql, key, by, now, expires)

    def _touch(self, key: str, ttl: float | None) -> Any:
        engine = self._engine
        now = engine.clock()
        expires = None if ttl is None else now + round(ttl * 1e9)
        if expires is not None:
            engine.expect_deadline(expires)
        return engine.write(ops.touch, self._sql, key, expires, now)

    def _get_many(self, keys: list[str]) -> Any:
        return self._engine.read(scan.get_many, self._sql, keys, self._engine.clock())

    def _page(self, cursor: ScanCursor) -> Any:
        """The next page of a scan (a read on one snapshot)."""
        engine = self._engine
        return engine.read(scan.page, self._sql, *cursor.page_args(), engine.clock())

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

    @classmethod
    def plan_transaction(
        cls, store: object, checks: list[Step], mutations: list[Step], handles: dict[str, SqliteBucketCore], now: int
    ) -> tuple[list[atomic.Check], list[atomic.Mutation]]:
        """A transaction's steps as storage checks and mutations (``handles``: the buckets named by a string).

        Tells the sweeper about each deadline the mutations store. Each bucket
        handle must belong to ``store``. (The SQLite stores' port into their
        handles: public on the implementation, not part of the interface.)
        """

        def handle_of(step: Step) -> SqliteBucketCore:
            if isinstance(step.bucket, str):
                return handles[step.bucket]
            if isinstance(step.bucket, SqliteBucketCore):
                handle: SqliteBucketCore = step.bucket
                if handle._store is store:
                    return handle
            raise InvalidArgumentError(f"bucket {step.bucket_name} is not a bucket of this store")

        storage_checks = []
        for step in checks:
            checked: SqliteBucketCore = handle_of(step)
            storage_checks.append(atomic.Check(checked._sql, step.key, step.last or 0))
        storage_mutations = []
        for index, step in enumerate(mutations):
            try:
                handle: SqliteBucketCore = handle_of(step)
            except InvalidArgumentError as exc:
                raise name_mutation(exc, index, step.describe()) from None
            expires = None if step.ttl is None else now + round(step.ttl * 1e9)
            if expires is not None or handle._ttl_ns:
                handle._announce(now, expires)
            mutation = atomic.Mutation(
                step.kind, handle._sql, step.key, value=step.value, last=step.last, by=step.by, expires=expires
            )
            storage_mutations.append(mutation)
        return storage_checks, storage_mutations


class ScanCursor:
    """Where a scan (``entries()``, ``iter_keys()``) is: the range left, and how many entries it may still yield."""

    __slots__ = ("done", "high", "low", "low_inclusive", "matcher", "remaining", "reverse", "values")

    def __init__(
        self, options: WatchOptions, start: str, end: str | None, limit: int | None, reverse: bool, values: bool
    ) -> None:
        low, high = start, end
        if options.prefix:  # the filters' literal prefix narrows the range
            low = max(low, options.prefix)
            top = prefix_end(options.prefix)
            high = top if high is None else min(high, top)
        self.low, self.low_inclusive, self.high = low, True, high
        # One filter of literal tokens then ``>`` ("orders.eu.>"): every valid key in the prefix's range matches
        # (a key has no empty token), so no key needs the matcher.
        (only,) = options.filters if len(options.filters) == 1 else ("",)
        decided = bool(options.prefix) and only.endswith(".>") and "*" not in only and only.count(">") == 1
        self.matcher = None if decided else options.matcher
        self.remaining = limit
        self.reverse = reverse
        self.values = values
        self.done = limit == 0 or (high is not None and low >= high)

    def page_args(self) -> tuple[Any, ...]:
        """The arguments of ``scan.page`` for the next page (the clock's reading follows)."""
        size = scan.PAGE_SIZE if self.remaining is None else min(scan.PAGE_SIZE, max(self.remaining, 64))
        return self.low, self.low_inclusive, self.high, self.reverse, self.matcher, size, self.values

    def advance(self, page: scan.Page) -> list[Any]:
        """Take ``page``: move past it and return what of it to yield."""
        found = page.entries
        if self.remaining is not None:
            found = found[: self.remaining]
            self.remaining -= len(found)
        if page.done or self.remaining == 0 or page.last_key is None:
            self.done = True
        elif self.reverse:
            self.high = page.last_key
        else:
            self.low, self.low_inclusive = page.last_key, False
        return found
