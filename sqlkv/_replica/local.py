"""The local side of a replica: its bucket in a file store, reached through the bucket's ``ReplicaPort``.

Works for both stores: an ``AsyncStore``'s calls are awaited, a sync
``Store``'s return at once (the follower then runs on a thread of its own).
Applied rows go through the store's engine like any write, so the store's
watchers receive them, and the journal hands them to other processes'.
"""

from __future__ import annotations

import time

from .._api.arguments import UNSET, Unset
from .._api.async_interface import AsyncBucket, AsyncStore
from .._api.sync_interface import Bucket, Store
from .._model.errors import BucketNotFoundError, UnsupportedError
from .._storage.replica import ApplyRow, ConflictRow, OutboxEntry, RemoteRow, ReplicaState, SyncRow
from .port import PortedBucket, ReplicaPort

__all__ = ["LocalBucket", "LocalStore", "port_of"]

LocalStore = AsyncStore | Store
"""The file store a replica's bucket lives in."""


def port_of(bucket: AsyncBucket | Bucket) -> ReplicaPort:
    """The replica port of a file store's bucket; UnsupportedError for any other."""
    if not isinstance(bucket, PortedBucket):
        raise UnsupportedError(f"bucket {bucket.name!r} cannot be a replica: replicas live in a file store")
    return bucket.replica_port()


class LocalBucket:
    """One local bucket of a replica: its handle's port, and the store calls that create or reshape it."""

    def __init__(self, store: LocalStore, name: str) -> None:
        self.store = store
        self.name = name
        self._port: ReplicaPort | None = None

    @property
    def port(self) -> ReplicaPort:
        """The bucket's port (after ``open``)."""
        assert self._port is not None, "LocalBucket.open() first"
        return self._port

    def _use(self, bucket: AsyncBucket | Bucket) -> None:
        old, self._port = self._port, port_of(bucket)
        if old is not None:
            old.close()

    async def _bucket(self) -> AsyncBucket | Bucket:
        store = self.store
        return await store.bucket(self.name) if isinstance(store, AsyncStore) else store.bucket(self.name)

    async def _create(self, history: int) -> AsyncBucket | Bucket:
        store = self.store
        if isinstance(store, AsyncStore):
            return await store.create_bucket(self.name, history=history)
        return store.create_bucket(self.name, history=history)

    async def open(self, history: int, create: bool) -> bool:
        """Take the bucket's port; with ``create``, the bucket is created with ``history`` when missing.

        False when the bucket does not exist (and was not created).
        """
        try:
            self._use(await self._bucket())
        except BucketNotFoundError:
            if not create:
                return False
            self._use(await self._create(history))
        return True

    async def recreate(self, history: int) -> None:
        """Delete the bucket and create it empty (a resync from scratch)."""
        store = self.store
        if isinstance(store, AsyncStore):
            await store.delete_bucket(self.name)
        else:
            store.delete_bucket(self.name)
        self._use(await self._create(history))

    async def set_history(self, history: int, mirror: bool) -> None:
        """Follow the remote's history depth (the bucket's triggers trim as the remote does).

        A mirror's bucket has no TTL of its own: the hub expires entries, and the
        replica reconciles (a local sweep would write EXPIRE markers with
        revisions of its own).
        """
        config = self.port.config
        new_history = history if config.history != history else UNSET
        ttl: Unset | None = None if mirror and config.ttl else UNSET
        if new_history is UNSET and ttl is UNSET:
            return
        store = self.store
        if isinstance(store, AsyncStore):
            self._use(await store.update_bucket(self.name, history=new_history, ttl=ttl))
        else:
            self._use(store.update_bucket(self.name, history=new_history, ttl=ttl))

    async def attach(self, mode: str, origin: str, remote_bucket: str) -> ReplicaState:
        """Make the bucket this replica (or check that it is); returns the stored state with its cursor."""
        return await self.port.attach(mode, origin, remote_bucket)

    async def state(self) -> ReplicaState | None:
        """The stored state (None: not a replica)."""
        return await self.port.state()

    async def apply(self, rows: list[ApplyRow], gone: list[int], cursor: int, remote_last: int, created: str) -> int:
        """Apply remote rows and removals and move the cursor, in one transaction."""
        return await self.port.apply(rows, gone, cursor, remote_last, created, time.time_ns())

    async def revisions(self, upto: int, listing: bool) -> tuple[int, list[int]]:
        """How many rows up to ``upto`` the bucket holds, and (with ``listing``) which."""
        return await self.port.revisions(upto, listing)

    async def apply_sync(self, rows: list[SyncRow], cursor: int, remote_last: int, created: str) -> int:
        """Apply hub rows to a two-way replica and move the cursor, in one transaction."""
        return await self.port.apply_sync(rows, cursor, remote_last, created, time.time_ns())

    async def outbox(self, limit: int) -> list[OutboxEntry]:
        """The oldest local writes not yet sent up."""
        return await self.port.outbox(limit)

    async def counts(self) -> tuple[int, int, int]:
        """(queued local writes, newest queued id, conflicts recorded)."""
        return await self.port.counts()

    def counts_now(self) -> tuple[int, int, int]:
        """``counts()`` at once, from any thread ((0, 0, 0) before ``open``)."""
        return (0, 0, 0) if self._port is None else self._port.counts_now()

    async def sent(self, entry: OutboxEntry, remote_revision: int) -> None:
        """A queued write reached the hub."""
        await self.port.sent(entry, remote_revision)

    async def resolved(self, entry: OutboxEntry, remote: RemoteRow | None, decision: str, resent: int) -> None:
        """Record a conflict and carry out its decision."""
        await self.port.resolved(entry, remote, decision, resent, time.time_ns())

    async def conflicts(self) -> list[ConflictRow]:
        """Every conflict recorded for the bucket."""
        return await self.port.conflicts()

    def close(self) -> None:
        """Release the port's own read connection."""
        if self._port is not None:
            self._port.close()
