"""A replica's state as stored with its bucket: what ``replica_status()`` and ``kv ls``/``kv info`` read.

Kept apart from the followers (``entry_points``) so that reading it loads
neither nats-py nor an event loop: a sync ``Store`` and the CLI stay free of
asyncio.
"""

from __future__ import annotations

from datetime import datetime, timezone

from .._backends.sqlite.replica_port import run_now
from .._model.replica import ReplicaStatus
from .local import port_of

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .._api.async_interface import AsyncStore
    from .._api.sync_interface import Store
    from .._storage.replica import ReplicaState
    from .port import ReplicaPort

__all__ = ["stored_status", "stored_status_sync"]


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
