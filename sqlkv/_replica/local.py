"""The local side of a replica: its bucket in a file store, written through the store's own engine.

Works for both stores: an ``AsyncStore``'s engine returns awaitables, a sync
``Store``'s returns results (the follower then runs on its own thread).
Applied rows go through the engine's writer like any write, so the store's
watchers receive them, and the journal hands them to other processes'.
"""

from __future__ import annotations

import inspect
import time
from typing import Any

from .._model.errors import BucketNotFoundError
from .._storage import replica as storage
from .._storage.replica import ApplyRow, ConflictRow, OutboxEntry, RemoteRow, ReplicaState, SyncRow

__all__ = ["LocalBucket", "resolve"]


async def resolve(value: Any) -> Any:
    """``value`` itself, or its result when it is awaitable (an AsyncStore's call)."""
    return await value if inspect.isawaitable(value) else value


class LocalBucket:
    """One local bucket of a replica: its state, and the writes that apply remote rows."""

    def __init__(self, store: Any, name: str) -> None:
        self.store = store
        self.name = name
        self._bucket: Any = None

    async def open(self, history: int) -> None:
        """The bucket's handle; the bucket is created with the remote's history when missing."""
        try:
            self._bucket = await resolve(self.store.bucket(self.name))
        except BucketNotFoundError:
            self._bucket = await resolve(self.store.create_bucket(self.name, history=history))

    async def recreate(self, history: int) -> None:
        """Delete the bucket and create it empty (a resync from scratch)."""
        await resolve(self.store.delete_bucket(self.name))
        self._bucket = await resolve(self.store.create_bucket(self.name, history=history))

    async def set_history(self, history: int, mirror: bool) -> None:
        """Follow the remote's history depth (the bucket's triggers trim as the remote does).

        A mirror's bucket has no TTL of its own: the hub expires entries, and the
        replica reconciles (a local sweep would write EXPIRE markers with
        revisions of its own).
        """
        config = self._bucket.config
        changes: dict[str, Any] = {}
        if config.history != history:
            changes["history"] = history
        if mirror and config.ttl:
            changes["ttl"] = None
        if changes:
            self._bucket = await resolve(self.store.update_bucket(self.name, **changes))

    def _write(self, fn: Any, *args: Any) -> Any:
        bucket = self._bucket
        return bucket._engine.write(fn, bucket._sql, *args)

    def _read(self, fn: Any, *args: Any) -> Any:
        bucket = self._bucket
        return bucket._engine.read(fn, bucket._sql, *args)

    async def attach(self, mode: str, origin: str, remote_bucket: str) -> ReplicaState:
        """Make the bucket this replica (or check that it is); returns the stored state with its cursor."""
        result: ReplicaState = await resolve(self._write(storage.attach, mode, origin, remote_bucket))
        return result

    async def state(self) -> ReplicaState | None:
        """The stored state (None: not a replica)."""
        result: ReplicaState | None = await resolve(self._read(storage.state))
        return result

    async def apply(self, rows: list[ApplyRow], gone: list[int], cursor: int, remote_last: int, created: str) -> int:
        """Apply remote rows and removals and move the cursor, in one transaction."""
        applied: int = await resolve(
            self._write(storage.apply, rows, gone, cursor, remote_last, created, time.time_ns())
        )
        return applied

    async def revisions(self, upto: int, listing: bool) -> tuple[int, list[int]]:
        """How many rows up to ``upto`` the bucket holds, and (with ``listing``) which."""
        result: tuple[int, list[int]] = await resolve(self._read(storage.local_revisions, upto, listing))
        return result

    async def apply_sync(self, rows: list[SyncRow], cursor: int, remote_last: int, created: str) -> int:
        """Apply hub rows to a two-way replica and move the cursor, in one transaction."""
        written: int = await resolve(
            self._write(storage.apply_sync, rows, cursor, remote_last, created, time.time_ns())
        )
        return written

    async def outbox(self, limit: int) -> list[OutboxEntry]:
        """The oldest local writes not yet sent up."""
        result: list[OutboxEntry] = await resolve(self._read(storage.outbox, limit))
        return result

    async def counts(self) -> tuple[int, int, int]:
        """(queued local writes, newest queued id, conflicts recorded)."""
        result: tuple[int, int, int] = await resolve(self._read(storage.counts))
        return result

    async def sent(self, entry: OutboxEntry, remote_revision: int) -> None:
        """A queued write reached the hub."""
        await resolve(self._write(storage.sent, entry, remote_revision))

    async def resolved(self, entry: OutboxEntry, remote: RemoteRow | None, decision: str, resent: int) -> None:
        """Record a conflict and carry out its decision."""
        await resolve(self._write(storage.resolved, entry, remote, decision, resent, time.time_ns()))

    async def conflicts(self) -> list[ConflictRow]:
        """Every conflict recorded for the bucket."""
        result: list[ConflictRow] = await resolve(self._read(storage.conflicts))
        return result
