"""What the stores call (through the registry, on first use) to open a replica (``stored`` reads its state)."""

from __future__ import annotations

from typing import Any

from .._api.async_interface import AsyncStore
from .._api.sync_interface import Store
from .._model.errors import InvalidArgumentError
from .._model.replica import REPLICA_MODES
from .follower import Follower
from .mirror import MirrorFollower
from .sync import SyncFollower
from .threaded import LoopThreadReplica

__all__ = ["follower", "open_async", "open_sync"]

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
