"""A two-way replica: local writes are queued (an outbox) and sent up as CAS writes; hub rows come down."""

from __future__ import annotations

import time
from typing import Any, ClassVar

from .._model.errors import InvalidArgumentError
from .._storage.replica import ReplicaState, SyncRow
from .follower import Follower
from .local import LocalStore
from .remote import RemoteState, message_row
from .sender import Sender

__all__ = ["OUTBOX_EVERY", "SyncFollower"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.js import JetStreamContext

    from .._model.replica import ConflictPolicy

OUTBOX_EVERY = 0.05
"""Seconds between two looks at the outbox while idle (local writes from any process land there)."""


class SyncFollower(Follower[SyncRow]):
    """The replica of ``mode="sync"``: local revisions of its own, the outbox sent up, conflicts settled."""

    mode: ClassVar[str] = "sync"
    idle_wait: ClassVar[float] = OUTBOX_EVERY

    def __init__(
        self,
        store: LocalStore,
        bucket: str,
        url: str | list[str],
        remote_bucket: str,
        resync: bool,
        attach_offline: bool,
        nats_options: dict[str, Any],
        conflict: ConflictPolicy,
    ) -> None:
        if not (conflict in ("remote", "local") or callable(conflict)):
            raise InvalidArgumentError("conflict must be 'remote', 'local' or a callable")
        super().__init__(store, bucket, url, remote_bucket, resync, attach_offline, nats_options)
        self._policy = conflict
        self._edge = ""
        self._sender: Sender | None = None
        self._oldest = 0
        """The id of the oldest local write still queued (0: none), as the last look found it."""

    def _attached_as(self, state: ReplicaState) -> None:
        self._edge = state.edge
        self._sender = Sender(self._local, self._bucket, self._remote_bucket, self._edge, self._policy)

    def _row(self, msg: Msg) -> tuple[SyncRow, int]:
        row, last, tag = message_row(msg, len(self._prefix))
        edge = f"{self._edge}:"
        echo = int(tag[len(edge) :]) if tag.startswith(edge) else 0
        return (*row, echo), last

    async def _apply(self, rows: list[SyncRow]) -> None:
        await self._local.apply_sync(rows, rows[-1][0], self._remote_last, self._created)

    async def _reconcile(self, remote: RemoteState) -> None:
        """Local revisions are the edge's own: only the cursor can move (over a tail of gone revisions)."""
        cursor = self._cursor
        if remote.last > cursor and not remote.stored_above(cursor):
            cursor = remote.last
        self._remote_last = max(self._remote_last, remote.last)
        await self._local.apply_sync([], cursor, self._remote_last, remote.created)
        self._created, self._cursor, self._last_seen = remote.created, cursor, time.time_ns()
        self._settle()

    async def _idle(self, nc: Client, js: JetStreamContext) -> bool:
        """Send the queued local writes up (``sender``); False when there were none."""
        assert self._sender is not None
        sent = await self._sender.send(nc, js, self._set_oldest)
        if sent:
            self._notify()
        self._settle()
        return sent

    async def _newest_queued(self) -> int:
        return (await self._local.counts())[1]

    def _set_oldest(self, oldest: int) -> None:
        self._oldest = oldest

    def _oldest_queued(self) -> int:
        return self._oldest
