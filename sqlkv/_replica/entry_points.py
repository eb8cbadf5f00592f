"""What the stores call (by module name, on first use): open a replica, read a replica's stored state."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from .._model.replica import ReplicaStatus
from .follower import Follower
from .local import LocalBucket

__all__ = ["open_async", "open_sync", "stored_status", "stored_status_sync"]


def open_async(store: Any, *args: Any) -> Follower:
    """The AsyncReplica of an AsyncStore's bucket (started by ``async with``)."""
    return Follower(store, *args)


def open_sync(store: Any, *args: Any) -> Any:
    """The Replica of a sync Store's bucket: a follower on a thread of its own (started by ``with``)."""
    from .threaded import ThreadedReplica

    return ThreadedReplica(store, *args)


def _status(bucket: str, state: Any, counts: tuple[int, int, int] = (0, 0, 0)) -> ReplicaStatus | None:
    if state is None:
        return None
    mode, origin, remote_bucket, _, cursor, remote_last, last_seen, _ = state
    return ReplicaStatus(
        bucket=bucket,
        remote_bucket=remote_bucket,
        origin=origin,
        mode=mode,
        connected=False,
        revision=cursor,
        lag=max(remote_last - cursor, 0),
        last_seen=datetime.fromtimestamp(last_seen / 1e9, timezone.utc) if last_seen else None,
        pending=counts[0],
        conflicts=counts[2],
    )


async def stored_status(store: Any, bucket: str) -> ReplicaStatus | None:
    """The replica state stored with bucket ``bucket`` (None: not a replica)."""
    local = LocalBucket(store, bucket)
    local._bucket = await store.bucket(bucket)
    state = await local.state()
    return _status(bucket, state, await local.counts() if state is not None else (0, 0, 0))


def stored_status_sync(store: Any, bucket: str) -> ReplicaStatus | None:
    """``stored_status`` for a sync Store."""
    from .._storage import replica as storage

    handle = store.bucket(bucket)
    state = handle._engine.read(storage.state, handle._sql)
    counts = handle._engine.read(storage.counts, handle._sql) if state is not None else (0, 0, 0)
    return _status(bucket, state, counts)
