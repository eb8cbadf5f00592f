"""The replica layer's way into a local bucket: the ``ReplicaPort`` protocol a file store's bucket implements.

A SQLite bucket's ``replica_port()`` returns one (``_backends/sqlite/replica_port``):
its replica state and write path, run through the store's engine like any
operation. The replica layer names what it needs here instead of reaching
into the bucket's private attributes.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from .._model.config import BucketConfig
from .._storage.replica import ApplyRow, ConflictRow, OutboxEntry, RemoteRow, ReplicaState, SyncRow

__all__ = ["PortedBucket", "ReplicaPort"]


class ReplicaPort(Protocol):
    """One local bucket's replica state and the writes that apply remote rows (see ``_storage.replica``)."""

    @property
    def config(self) -> BucketConfig:
        """The bucket's configuration as its handle knew it."""
        ...

    async def state(self) -> ReplicaState | None:
        """The stored replica state (None: not a replica)."""
        ...

    async def attach(self, mode: str, origin: str, remote_bucket: str) -> ReplicaState:
        """Make the bucket this replica (or check that it is); its stored state."""
        ...

    async def detach(self, force: bool) -> int:
        """Make the bucket a plain local bucket again; the queued writes dropped, -1 if it was no replica."""
        ...

    async def apply(
        self, rows: list[ApplyRow], gone: list[int], cursor: int, remote_last: int, created: str, seen: int
    ) -> int:
        """Apply a mirror's remote rows and removals and move the cursor, in one transaction; rows applied."""
        ...

    async def apply_sync(self, rows: list[SyncRow], cursor: int, remote_last: int, created: str, seen: int) -> int:
        """Apply hub rows to a two-way replica and move the cursor, in one transaction; rows written."""
        ...

    async def revisions(self, upto: int, listing: bool) -> tuple[int, list[int]]:
        """How many rows up to ``upto`` the bucket holds, and (with ``listing``) which."""
        ...

    async def outbox(self, limit: int) -> list[OutboxEntry]:
        """The oldest local writes not yet sent up."""
        ...

    async def counts(self) -> tuple[int, int, int]:
        """(queued local writes, newest queued id, conflicts recorded)."""
        ...

    def counts_now(self) -> tuple[int, int, int]:
        """``counts()`` read at once from any thread (a replica's ``status()`` is synchronous)."""
        ...

    async def sent(self, entry: OutboxEntry, remote_revision: int) -> None:
        """A queued write reached the hub as ``remote_revision``."""
        ...

    async def resolved(self, entry: OutboxEntry, remote: RemoteRow | None, decision: str, resent: int, at: int) -> None:
        """Record a conflict and carry out its decision, in one transaction."""
        ...

    async def conflicts(self) -> list[ConflictRow]:
        """Every conflict recorded for the bucket, oldest first."""
        ...

    def close(self) -> None:
        """Release what ``counts_now`` opened (idempotent)."""
        ...


@runtime_checkable
class PortedBucket(Protocol):
    """A bucket that has a replica port (a file store's)."""

    def replica_port(self) -> ReplicaPort:
        """This bucket's replica port."""
        ...
