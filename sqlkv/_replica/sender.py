"""Sync mode's way up: the queued local writes sent to the hub, oldest first, each as a CAS; conflicts settled.

A write is published with ``Nats-Expected-Last-Subject-Sequence`` = its base
(the key's hub revision the edge had seen) and tagged with the edge's id and
its local revision. Success commits ``sent`` (the next queued writes of the
key now build on the revision it got); "wrong last sequence" is a conflict,
unless the hub's latest message of the key carries this write's tag (it
arrived before the edge could record it). The policy decides; ``resolved``
records the conflict and carries the decision out, in one transaction. A
write the hub refuses as too large is recorded the same way (decision
``"refused"``; the hub's value stands).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .._model.entry import make_entry
from .._model.errors import ReplicaError
from .._storage.replica import OutboxEntry, RemoteRow
from .local import LocalBucket
from .remote import CasFailed, TooLarge, latest, publish

__all__ = ["SEND_BATCH", "Sender"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js import JetStreamContext

    from .._model.replica import ConflictPolicy

SEND_BATCH = 256
"""Queued local writes read (and sent, one CAS each) at a time."""


class Sender:
    """Sends one sync replica's outbox up."""

    def __init__(self, local: LocalBucket, bucket: str, remote_bucket: str, edge: str, policy: ConflictPolicy) -> None:
        self._local = local
        self._bucket = bucket
        self._remote_bucket = remote_bucket
        self._stream = f"KV_{remote_bucket}"
        self._prefix = f"$KV.{remote_bucket}."
        self._edge = edge
        self._policy = policy

    async def send(self, nc: Client, js: JetStreamContext, progress: Callable[[int], None]) -> bool:
        """Send up to SEND_BATCH queued writes, oldest first; False when none was queued.

        ``progress(id)`` is told the id of the oldest write that may still be
        queued (0: none) as the sending goes on.
        """
        entries = await self._local.outbox(SEND_BATCH)
        if not entries:
            progress(0)
            return False
        progress(entries[0][0])
        moved: dict[str, tuple[int | None, int]] = {}
        """Bases the writes sent so far changed (as ``sent`` / ``resolved`` did in the outbox): key -> (from, to)."""
        for entry in entries:
            key, base = entry[2], entry[5]
            rebase = moved.get(key)
            if rebase is not None and rebase[0] in (None, base):
                entry = (*entry[:5], rebase[1])
            decision, revision = await self._send_one(nc, js, entry)
            if decision == "sent":
                moved[key] = (base, revision)  # the outbox's later writes of the key had the same base as this
            elif decision == "local":
                moved[key] = (None, revision)
            progress(entry[0] + 1)
        return True

    async def _send_one(self, nc: Client, js: JetStreamContext, entry: OutboxEntry) -> tuple[str, int]:
        """Send one queued write: ``("sent", remote revision)``, or a conflict's decision and revision."""
        _, revision, key, op, value, base = entry
        subject = self._prefix + key
        tag = f"{self._edge}:{revision}"
        try:
            sent = await publish(js, subject, op, value, base, tag)
        except CasFailed:
            pass
        except TooLarge:  # never sendable: recorded, and the hub's value stands
            remote, _ = await latest(nc, self._stream, subject)
            await self._local.resolved(entry, remote, "refused", 0)
            return "refused", 0
        else:
            await self._local.sent(entry, sent)
            return "sent", sent
        for _ in range(100):  # the hub's key moved on since the edge saw it: a conflict
            remote, remote_tag = await latest(nc, self._stream, subject)
            if remote is not None and remote_tag == tag:
                await self._local.sent(entry, remote[0])  # it did arrive (the edge stopped before it knew)
                return "sent", remote[0]
            decision = self._decide(key, entry, remote)
            if decision == "remote":
                await self._local.resolved(entry, remote, decision, 0)
                return decision, 0
            try:
                resent = await publish(js, subject, op, value, remote[0] if remote else 0, tag)
            except CasFailed:
                continue  # moved again meanwhile: look again
            await self._local.resolved(entry, remote, decision, resent)
            return decision, resent
        raise ReplicaError(f"key {key!r} of {self._remote_bucket!r} keeps changing on the hub: cannot send it")

    def _decide(self, key: str, entry: OutboxEntry, remote: RemoteRow | None) -> str:
        """The policy's decision: ``"local"`` or ``"remote"`` (anything else a callable returns is "remote")."""
        policy = self._policy
        if not callable(policy):
            return str(policy)
        local_entry = make_entry(self._bucket, key, entry[4], entry[1], time.time_ns(), 0, entry[3])
        remote_entry = make_entry(self._bucket, key, remote[2], remote[0], remote[3], 0, remote[1]) if remote else None
        return "local" if policy(key, local_entry, remote_entry) == "local" else "remote"
