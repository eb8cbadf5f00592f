"""The replica interface: ``AsyncReplica`` (``async with store.replicate(...) as rep``) and its sync twin ``Replica``.

Written once here with the model only; ``sqlkv._replica`` implements both.
"""

from __future__ import annotations

import abc
from types import TracebackType

from .._model.replica import ReplicaConflict, ReplicaStatus

__all__ = ["AsyncReplica", "Replica"]


class AsyncReplica(abc.ABC):
    """A local bucket following a remote NATS KV bucket: ``async with store.replicate(...) as rep``.

    Entering starts it (connected or not: it retries for ever, the local
    bucket serving reads and watches meanwhile); leaving stops it.
    """

    @abc.abstractmethod
    async def start(self) -> None:
        """Start following the remote bucket (``async with`` does it)."""

    @abc.abstractmethod
    async def synced(self) -> None:
        """Return once every remote revision that existed when this was called is applied (and, in sync mode,
        every local write made before it was sent up); waits while the remote is unreachable.

        ReplicaError if the replica stopped (its remote bucket was re-created).
        """

    @abc.abstractmethod
    def status(self) -> ReplicaStatus:
        """Where the replica is: connected, lag, last_seen, pending local writes, conflicts, mode, origin."""

    @abc.abstractmethod
    async def conflicts(self) -> list[ReplicaConflict]:
        """Every conflict recorded for this bucket, oldest first (sync mode)."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Stop following (idempotent); what was applied stays, and a later replicate() resumes from it."""

    async def __aenter__(self) -> AsyncReplica:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


class Replica(abc.ABC):
    """A local bucket following a remote NATS KV bucket: ``with store.replicate(...) as rep``.

    Entering starts it on a background thread (connected or not: it retries
    for ever, the local bucket serving reads and watches meanwhile); leaving
    stops it.
    """

    @abc.abstractmethod
    def start(self) -> Replica:
        """Start following the remote bucket (``with`` does it)."""

    @abc.abstractmethod
    def synced(self, timeout: float | None = None) -> None:
        """Return once every remote revision that existed when this was called is applied (and, in sync mode,
        every local write made before it was sent up); waits while the remote is unreachable.

        ReplicaError if the replica stopped (its remote bucket was re-created);
        TimeoutError after ``timeout`` seconds when given.
        """

    @abc.abstractmethod
    def status(self) -> ReplicaStatus:
        """Where the replica is: connected, lag, last_seen, pending local writes, conflicts, mode, origin."""

    @abc.abstractmethod
    def conflicts(self) -> list[ReplicaConflict]:
        """Every conflict recorded for this bucket, oldest first (sync mode)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Stop following (idempotent); what was applied stays, and a later replicate() resumes from it."""

    def __enter__(self) -> Replica:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
