"""What a replica reports: its status, and each conflict a two-way replica met (plain values, no I/O)."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from .entry import Operation

__all__ = ["REPLICA_MODES", "ReplicaConflict", "ReplicaProblem", "ReplicaStatus"]

REPLICA_MODES = ("mirror", "sync")


class ReplicaProblem(NamedTuple):
    """Why a replica's sessions with its hub fail, while they do (``ReplicaStatus.last_error``)."""

    kind: str
    """What failed, as the error's class name: ``RemoteBucketMissing``, ``ConnectionRefusedError``, ..."""
    message: str
    """The error's own words (``no bucket 'zz' on the remote``)."""
    since: datetime
    """When the sessions began failing for this reason (aware UTC)."""
    retry_in: float
    """Seconds until the next attempt (the back-off: 0.05 s doubling to 2 s)."""

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}" if self.message else self.kind


class ReplicaStatus:
    """A replica's state: ``connected``, ``lag`` (remote revisions known and not yet applied), ``last_seen``.

    ``revision`` is the last remote revision applied (the cursor); ``pending``
    the local writes not yet sent up (sync mode); ``conflicts`` how many
    conflicts were recorded; ``error`` why the replica stopped (None while it
    runs). ``last_seen`` is when the remote was last heard from (None: never).
    ``last_error`` is why its sessions with the hub are failing (a
    ``ReplicaProblem``: kind, message, since when, next retry), None once a
    session succeeds. ``attached``: whether the bucket is a replica yet (it
    becomes one when a first session succeeds).
    """

    __slots__ = (
        "attached",
        "bucket",
        "conflicts",
        "connected",
        "error",
        "lag",
        "last_error",
        "last_seen",
        "mode",
        "origin",
        "pending",
        "remote_bucket",
        "revision",
    )

    def __init__(
        self,
        *,
        bucket: str,
        remote_bucket: str,
        origin: str,
        mode: str,
        connected: bool,
        revision: int,
        lag: int,
        last_seen: datetime | None,
        pending: int = 0,
        conflicts: int = 0,
        error: str | None = None,
        last_error: ReplicaProblem | None = None,
        attached: bool = True,
    ) -> None:
        self.bucket = bucket
        self.remote_bucket = remote_bucket
        self.origin = origin
        self.mode = mode
        self.connected = connected
        self.revision = revision
        self.lag = lag
        self.last_seen = last_seen
        self.pending = pending
        self.conflicts = conflicts
        self.error = error
        self.last_error = last_error
        self.attached = attached

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in sorted(self.__slots__))
        return f"ReplicaStatus({fields})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ReplicaStatus):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self.__slots__)

    __hash__ = None  # type: ignore[assignment]


class ReplicaConflict:
    """A write of the edge that met a newer remote write of the same key, and what the policy decided.

    ``decision`` is ``"remote"`` (the hub's value stands on both sides),
    ``"local"`` (the edge's value was written again on top of the hub's), or
    ``"refused"`` (the hub would not take the write: over its maximum payload;
    the hub's value stands).
    """

    __slots__ = (
        "at",
        "bucket",
        "decision",
        "key",
        "local_operation",
        "local_revision",
        "local_value",
        "remote_operation",
        "remote_revision",
        "remote_value",
    )

    def __init__(
        self,
        *,
        bucket: str,
        key: str,
        local_revision: int,
        local_operation: Operation,
        local_value: bytes,
        remote_revision: int,
        remote_operation: Operation,
        remote_value: bytes,
        decision: str,
        at: datetime,
    ) -> None:
        self.bucket = bucket
        self.key = key
        self.local_revision = local_revision
        self.local_operation = local_operation
        self.local_value = local_value
        self.remote_revision = remote_revision
        self.remote_operation = remote_operation
        self.remote_value = remote_value
        self.decision = decision
        self.at = at

    def __repr__(self) -> str:
        return (
            f"ReplicaConflict({self.bucket!r}, {self.key!r}, local={self.local_revision}, "
            f"remote={self.remote_revision}, decision={self.decision!r})"
        )


TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from .entry import Entry

    ConflictPolicy = str | Callable[[str, Entry | None, Entry | None], str]
    """``"remote"``, ``"local"``, or ``policy(key, local_entry, remote_entry) -> "local" | "remote"``."""
