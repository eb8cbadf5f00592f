"""A SQLite bucket's replica port: its replica state and write path, as the replica layer uses them.

``bucket.replica_port()`` returns one. It runs ``_storage.replica``'s
operations through the bucket's engine like any operation (the writer's lock,
the journal, the watchers), awaiting them on the async store's engine and
calling them directly on the sync store's (whose replica runs them on its own
thread). The replica layer sees it as its ``ReplicaPort`` protocol.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Coroutine
from typing import Any, Protocol, TypeVar

from ..._model.config import BucketConfig
from ..._model.options import StoreOptions
from ..._runtime.forkgate import GATE
from ..._storage import replica as storage
from ..._storage.connection import open_connection
from ..._storage.errors import SQLITE_ERRORS, map_sqlite_error
from ..._storage.replica import ApplyRow, ConflictRow, OutboxEntry, RemoteRow, ReplicaState, SyncRow
from ..._storage.statements import BucketSQL

__all__ = ["SqliteReplicaPort", "run_now"]

T = TypeVar("T")


class EngineCalls(Protocol):
    """The engine as a port uses it: ``write``/``read`` return an awaitable (threaded) or the result (direct)."""

    def write(self, fn: Any, *args: Any) -> Any: ...

    def read(self, fn: Any, *args: Any) -> Any: ...


async def _result(value: Any) -> Any:
    """An engine call's result: awaited on the threaded engine, as is on the direct one."""
    return await value if hasattr(value, "__await__") else value  # (not inspect: `kv ls` loads this module)


def run_now(coroutine: Coroutine[Any, Any, T]) -> T:
    """The result of a sync store's port call, run to its end at once (the direct engine never suspends it)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    coroutine.close()
    raise RuntimeError("a sync store's replica port call suspended")


class SqliteReplicaPort:
    """The replica operations of one SQLite bucket (see the module)."""

    __slots__ = ("_closed", "_engine", "_lock", "_options", "_reader", "_sql", "config")

    def __init__(self, engine: EngineCalls, sql: BucketSQL, config: BucketConfig, options: StoreOptions) -> None:
        self._engine = engine
        self._sql = sql
        self._options = options
        self._reader: sqlite3.Connection | None = None
        self._closed = False
        self._lock = threading.Lock()
        self.config = config
        """The bucket's configuration as the handle knew it."""

    def counts_now(self) -> tuple[int, int, int]:
        """``counts()`` read at once from any thread, on a read connection of this port's own."""
        with self._lock:
            try:
                with GATE:  # as every connection: never inside SQLite at a fork
                    if self._closed:  # after close(): a connection for this one read, closed at once
                        with contextlib.closing(open_connection(self._options, reader=True)) as once:
                            return storage.counts(once, self._sql)
                    if self._reader is None:
                        self._reader = open_connection(self._options, reader=True)
                    return storage.counts(self._reader, self._sql)
            except SQLITE_ERRORS as exc:
                raise map_sqlite_error(exc, self._options.path) from None

    def close(self) -> None:
        """Close the read connection ``counts_now`` opened (idempotent); later calls open one for each read."""
        with self._lock:
            self._closed = True
            reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()

    async def state(self) -> ReplicaState | None:
        """The stored replica state (None: not a replica)."""
        found: ReplicaState | None = await _result(self._engine.read(storage.state, self._sql))
        return found

    async def attach(self, mode: str, origin: str, remote_bucket: str) -> ReplicaState:
        """Make the bucket this replica (or check that it is); its stored state."""
        found: ReplicaState = await _result(self._engine.write(storage.attach, self._sql, mode, origin, remote_bucket))
        return found

    async def detach(self, force: bool) -> int:
        """Make the bucket a plain local bucket again; the queued writes dropped, -1 if it was no replica."""
        dropped: int = await _result(self._engine.write(storage.detach, self._sql, force))
        return dropped

    async def apply(
        self, rows: list[ApplyRow], gone: list[int], cursor: int, remote_last: int, created: str, seen: int
    ) -> int:
        """Apply a mirror's remote rows and removals and move the cursor, in one transaction; rows applied."""
        applied: int = await _result(
            self._engine.write(storage.apply, self._sql, rows, gone, cursor, remote_last, created, seen)
        )
        return applied

    async def apply_sync(self, rows: list[SyncRow], cursor: int, remote_last: int, created: str, seen: int) -> int:
        """Apply hub rows to a two-way replica and move the cursor, in one transaction; rows written."""
        written: int = await _result(
            self._engine.write(storage.apply_sync, self._sql, rows, cursor, remote_last, created, seen)
        )
        return written

    async def revisions(self, upto: int, listing: bool) -> tuple[int, list[int]]:
        """How many rows up to ``upto`` the bucket holds, and (with ``listing``) which."""
        found: tuple[int, list[int]] = await _result(
            self._engine.read(storage.local_revisions, self._sql, upto, listing)
        )
        return found

    async def outbox(self, limit: int) -> list[OutboxEntry]:
        """The oldest local writes not yet sent up."""
        found: list[OutboxEntry] = await _result(self._engine.read(storage.outbox, self._sql, limit))
        return found

    async def counts(self) -> tuple[int, int, int]:
        """(queued local writes, newest queued id, conflicts recorded)."""
        found: tuple[int, int, int] = await _result(self._engine.read(storage.counts, self._sql))
        return found

    async def sent(self, entry: OutboxEntry, remote_revision: int) -> None:
        """A queued write reached the hub as ``remote_revision``."""
        await _result(self._engine.write(storage.sent, self._sql, entry, remote_revision))

    async def resolved(self, entry: OutboxEntry, remote: RemoteRow | None, decision: str, resent: int, at: int) -> None:
        """Record a conflict and carry out its decision, in one transaction."""
        await _result(self._engine.write(storage.resolved, self._sql, entry, remote, decision, resent, at))

    async def conflicts(self) -> list[ConflictRow]:
        """Every conflict recorded for the bucket, oldest first."""
        found: list[ConflictRow] = await _result(self._engine.read(storage.conflicts, self._sql))
        return found
