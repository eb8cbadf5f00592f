"""A mirror: a read-only copy of the hub's bucket, with the hub's revisions, operations, history and times."""

from __future__ import annotations

import time
from typing import ClassVar

from .._storage.replica import ApplyRow
from .follower import CHECK_EVERY, Follower
from .remote import RemoteState, message_row

__all__ = ["MirrorFollower"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from nats.aio.msg import Msg


class MirrorFollower(Follower[ApplyRow]):
    """The replica of ``mode="mirror"``: every remote row applied as it is; what the remote removed, removed."""

    mode: ClassVar[str] = "mirror"
    idle_wait: ClassVar[float] = CHECK_EVERY

    def _row(self, msg: Msg) -> tuple[ApplyRow, int]:
        row, last, _ = message_row(msg, len(self._prefix))
        return row, last

    async def _apply(self, rows: list[ApplyRow]) -> None:
        await self._local.apply(rows, [], rows[-1][0], self._remote_last, self._created)

    async def _in_line(self, remote: RemoteState) -> bool:
        count, _ = await self._local.revisions(remote.last, False)
        return count == remote.messages

    async def _reconcile(self, remote: RemoteState) -> None:
        """Remove the local rows (up to the cursor) the remote no longer holds; skip a tail of gone revisions."""
        cursor = self._cursor
        top = min(cursor, remote.last)
        expected = 0
        if top >= remote.first > 0:
            expected = top - remote.first + 1 - sum(1 for seq in remote.deleted if remote.first <= seq <= top)
        count, _ = await self._local.revisions(cursor, False)
        gone: list[int] = []
        if count != expected:
            _, revisions = await self._local.revisions(cursor, True)
            gone = [revision for revision in revisions if not remote.holds(revision)]
        if remote.last > cursor and not remote.stored_above(cursor):
            cursor = remote.last  # every revision above the cursor is gone: nothing will be delivered
        self._remote_last = max(self._remote_last, remote.last)
        await self._local.apply([], gone, cursor, self._remote_last, remote.created)  # also records last seen
        self._created = remote.created
        self._cursor = cursor
        self._last_seen = time.time_ns()
        self._settle()
