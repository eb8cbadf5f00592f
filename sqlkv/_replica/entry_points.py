"""What the stores call (through the registry, on first use): open a replica, read a replica's stored state."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from .._api.async_interface import AsyncStore
from .._api.sync_interface import Store
from .._backends.sqlite.replica_port import run_now
from .._model.errors import InvalidArgumentError
from .._model.replica import REPLICA_MODES, ReplicaStatus
from .._storage.replica import ReplicaState
from .follower import Follower
from .local import port_of
from .mirror import MirrorFollower
from .port import ReplicaPort
from .sync import SyncFollower
from .threaded import LoopThreadReplica

__all__ = ["follower", "open_async", "open_sync", "stored_status", "stored_status_sync"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .._model.replica import ConflictPolicy
    from .local import LocalStore


def follower(
    store: LocalStore,
    bucket: str,
    url: str,
    mode: str,
    remote_bucket: str,
    resync: bool,
    conflict: ConflictPolicy,
    attach_offline: bool,
    nats_options: dict[str, Any],
) -> Follower[Any]:
    """The follower of ``mode`` (``MirrorFollower`` or ``SyncFollower``) for a store's bucket."""
    if mode not in REPLICA_MODES:
        raise InvalidArgumentError(f"mode must be 'mirror' or 'sync', not {mode!r}")
    if mode == "sync":
        return SyncFollower(store, bucket, url, remote_bucket, resync, attach_offline, nats_options, conflict)
    if not (conflict in ("remote", "local") or callable(conflict)):
        raise InvalidArgumentError("conflict must be 'remote', 'local' or a callable")
    return MirrorFollower(store, bucket, url, remote_bucket, resync, attach_offline, nats_options)


def open_async(store: AsyncStore, bucket: str, *args: Any) -> Follower[Any]:
    """The AsyncReplica of an AsyncStore's bucket (started by ``async with``)."""
    return follower(store, bucket, *args)


def open_sync(store: Store, bucket: str, *args: Any) -> LoopThreadReplica:
    """The Replica of a sync Store's bucket: a follower on a thread of its own (started by ``with``)."""
    return LoopThreadReplica(lambda: follower(store, bucket, *args))


def _status(bucket: str, state: ReplicaState | None, counts: tuple[int, int, int]) -> ReplicaStatus | None:
    if state is None:
        return None
    return ReplicaStatus(
        bucket=bucket,
        remote_bucket=state.remote_bucket,
        origin=state.origin,
        mode=state.mode,
        connected=False,
        revision=state.cursor,
        lag=max(state.remote_last - state.cursor, 0),
        last_seen=datetime.fromtimestamp(state.last_seen / 1e9, timezone.utc) if state.last_seen else None,
        pending=counts[0],
        conflicts=counts[2],
    )


async def _stored(port: ReplicaPort, bucket: str) -> ReplicaStatus | None:
    state = await port.state()
    return _status(bucket, state, await port.counts() if state is not None else (0, 0, 0))


async def stored_status(store: AsyncStore, bucket: str) -> ReplicaStatus | None:
    """The replica state stored with bucket ``bucket`` (None: not a replica)."""
    return await _stored(port_of(await store.bucket(bucket)), bucket)


def stored_status_sync(store: Store, bucket: str) -> ReplicaStatus | None:
    """``stored_status`` for a sync Store."""
    return run_now(_stored(port_of(store.bucket(bucket)), bucket))
