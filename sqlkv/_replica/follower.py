"""The async replica: connect, resume from the cursor, catch up, follow, reconcile, reconnect for ever.

One task per replica runs sessions. A session connects (nats-py without its
own reconnects), reads the remote stream's INFO, checks that it is the same
stream as before (its creation time; its last revision not below the cursor),
removes the local rows the remote no longer holds, then follows the stream
with an ordered push consumer from ``cursor + 1``. Delivered messages pile up
while a batch is being written; each pile is applied in transactions of at
most ``BATCH`` rows, the cursor in the same transaction. A lost connection
ends the session; the next one starts after a back-off (50 ms doubling to
2 s, for ever), from the committed cursor, so nothing is applied twice or
missed. While idle the task looks at the remote's message count every
``CHECK_EVERY`` seconds and reconciles what the remote removed without a
message (``purge_deletes``, expiry, stream limits).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import datetime, timezone
from typing import Any

from .._api.replica_interface import AsyncReplica
from .._backends.nats.errors import nats
from .._model.entry import Operation
from .._model.errors import InvalidArgumentError, ReplicaError, UnsupportedError
from .._model.replica import REPLICA_MODES, ReplicaConflict, ReplicaStatus
from .local import LocalBucket
from .remote import RemoteState, connect, message_row, redact, stream_state
from .sender import Sender

__all__ = ["BATCH", "CHECK_EVERY", "OUTBOX_EVERY", "Follower"]

BATCH = 4096
"""Rows applied in one transaction at most (a long catch-up leaves other writers their turns)."""
CHECK_EVERY = 2.0
"""Seconds between two looks at the remote's message count while idle."""
OUTBOX_EVERY = 0.05
"""Sync mode: seconds between two looks at the outbox while idle (local writes from any process land there)."""
_FIRST_DELAY, _MAX_DELAY = 0.05, 2.0

Row = tuple[int, str, int, bytes, int]


class Follower(AsyncReplica):
    """``AsyncReplica`` of a file store's bucket following a NATS KV bucket (see ``AsyncStore.replicate``)."""

    def __init__(
        self,
        store: Any,
        bucket: str,
        url: str,
        mode: str,
        remote_bucket: str,
        resync: bool,
        conflict: Any,
        nats_options: dict[str, Any],
    ) -> None:
        if mode not in REPLICA_MODES:
            raise InvalidArgumentError(f"mode must be 'mirror' or 'sync', not {mode!r}")
        if not (conflict in ("remote", "local") or callable(conflict)):
            raise InvalidArgumentError("conflict must be 'remote', 'local' or a callable")
        servers = [part.strip() for part in url.split(",") if part.strip()] if isinstance(url, str) else list(url)
        if not servers or not all(s.startswith(("nats://", "tls://", "ws://", "wss://")) for s in servers):
            raise InvalidArgumentError(f"replicate() needs nats:// server URLs, not {url!r}")
        self._servers = servers
        self._origin = ",".join(redact(s) for s in servers)
        self._mode = mode
        self._remote_bucket = remote_bucket
        self._stream = f"KV_{remote_bucket}"
        self._prefix = f"$KV.{remote_bucket}."
        self._resync = resync
        self._policy = conflict
        self._edge = ""
        self._pending = 0
        self._conflict_count = 0
        self._oldest_queued = 0
        """Sync mode: the id of the oldest local write still queued (0: none), as the last look found it."""
        self._sender: Sender | None = None
        self._options = nats_options
        self._local = LocalBucket(store, bucket)
        self._bucket = bucket
        self._cursor = 0
        self._created = ""
        self._remote_last = 0
        self._last_seen = 0
        self._connected = False
        self._error: ReplicaError | None = None
        self.problem = ""
        """Why the last session ended or could not start (for the command line's state lines)."""
        self._incoming: list[Row] = []
        self._incoming_last = 0
        self._wake = asyncio.Event()
        self._changed = asyncio.Event()
        self._waiters: list[asyncio.Future[None]] = []
        self._targets: list[tuple[int, int, asyncio.Future[None]]] = []
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._attempt = 0

    # -- public ------------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is not None:
            raise InvalidArgumentError("a replica can be started once")
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise UnsupportedError("a replica runs on asyncio (nats-py): not under trio") from None
        await self._local.open(history=1)
        state = await self._local.attach(self._mode, self._origin, self._remote_bucket)
        self._created, self._cursor, self._remote_last, self._last_seen = state[3], state[4], state[5], state[6]
        self._edge = state[7]
        if self._mode == "sync":
            self._sender = Sender(self._local, self._bucket, self._remote_bucket, self._edge, self._policy)
            await self._count()
        self._task = loop.create_task(self._run(), name=f"sqlkv-replica-{self._bucket}")

    async def synced(self) -> None:
        if self._error is not None:
            raise self._error
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        self._wake.set()
        try:
            await future
        finally:
            if not future.done():
                future.cancel()

    def status(self) -> ReplicaStatus:
        seen = self._last_seen
        return ReplicaStatus(
            bucket=self._bucket,
            remote_bucket=self._remote_bucket,
            origin=self._origin,
            mode=self._mode,
            connected=self._connected,
            revision=self._cursor,
            lag=max(self._remote_last - self._cursor, 0),
            last_seen=datetime.fromtimestamp(seen / 1e9, timezone.utc) if seen else None,
            pending=self._pending,
            conflicts=self._conflict_count,
            error=str(self._error) if self._error is not None else None,
        )

    async def conflicts(self) -> list[ReplicaConflict]:
        return [
            ReplicaConflict(
                bucket=self._bucket,
                key=key,
                local_revision=local_revision,
                local_operation=Operation(local_op),
                local_value=local_value,
                remote_revision=remote_revision,
                remote_operation=Operation(remote_op or int(Operation.PUT)),
                remote_value=remote_value,
                decision=decision,
                at=datetime.fromtimestamp(at / 1e9, timezone.utc),
            )
            for (
                key,
                local_revision,
                local_op,
                local_value,
                remote_revision,
                remote_op,
                remote_value,
                decision,
                at,
            ) in await self._local.conflicts()
        ]

    async def aclose(self) -> None:
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._fail_waiters(ReplicaError(f"the replica of bucket {self._bucket!r} was closed"))

    # -- the task ----------------------------------------------------------------------------------

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _fail_waiters(self, error: ReplicaError) -> None:
        for future in [*self._waiters, *(f for _, _, f in self._targets)]:
            if not future.done():
                future.set_exception(error)
        self._waiters.clear()
        self._targets.clear()

    async def _run(self) -> None:
        delay = _FIRST_DELAY
        while not self._stopping:
            connected_before = self._attempt
            try:
                await self._session()
            except ReplicaError as exc:
                self._error = exc
                self._connected = False
                self._fail_waiters(exc)
                self._notify()
                return
            except asyncio.CancelledError:
                self._connected = False
                raise
            except Exception as exc:  # refused, timed out, lost, remote bucket missing: try again later
                self.problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            self._connected = False
            self._notify()
            if self._stopping:
                return
            if self._attempt != connected_before:
                delay = _FIRST_DELAY  # the session had connected: start the back-off afresh
            await self._pause(delay)
            self._wake.clear()
            delay = min(delay * 2, _MAX_DELAY)

    async def _pause(self, delay: float) -> None:
        """Wait ``delay`` seconds before the next attempt (sync mode: counting the queued local writes meanwhile)."""
        deadline = time.monotonic() + delay
        while not self._stopping:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if self._mode == "sync":
                with contextlib.suppress(Exception):
                    await self._count()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), min(left, OUTBOX_EVERY) if self._mode == "sync" else left)
                return

    async def _session(self) -> None:
        lost = asyncio.Event()

        async def on_lost() -> None:
            lost.set()
            if self._connected:  # (a connection that never came up, or a session already over: no one to wake)
                self._wake.set()

        async def on_error(exc: Exception) -> None:
            self.problem = f"{type(exc).__name__}: {exc}"

        # Each attempt starts at the next server: a stopped one is not tried first for ever.
        start = self._attempt % len(self._servers)
        servers = self._servers[start:] + self._servers[:start]
        nc = await connect(
            servers, self._options, {"closed_cb": on_lost, "disconnected_cb": on_lost, "error_cb": on_error}
        )
        try:
            stored = await self._local.state()  # the committed cursor (another process may have moved it)
            if stored is not None:
                self._cursor = max(self._cursor, stored[4])
                self._created = self._created or stored[3]
            remote = await stream_state(nc, self._stream, details=True)
            self._attempt += 1
            await self._check_identity(remote)
            await self._local.set_history(remote.history, self._mode == "mirror")
            await self._reconcile(remote)
            self._connected = True
            self.problem = ""
            self._notify()
            await self._follow(nc, lost)
        finally:
            self._connected = False
            with contextlib.suppress(Exception):
                await nc.close()

    async def _check_identity(self, remote: RemoteState) -> None:
        """The same stream as before, or a ReplicaError (resync=True: the local bucket starts afresh)."""
        if not self._created or (remote.created == self._created and remote.last >= self._cursor):
            return
        if not self._resync:
            raise ReplicaError(
                f"bucket {self._remote_bucket!r} at {self._origin} was deleted and re-created (created "
                f"{remote.created}, last revision {remote.last}; the replica of {self._bucket!r} had "
                f"{self._created}, revision {self._cursor}): replicate(..., resync=True) copies it afresh"
            )
        await self._local.recreate(remote.history)
        state = await self._local.attach(self._mode, self._origin, self._remote_bucket)
        self._created, self._cursor, self._remote_last = state[3], state[4], state[5]

    async def _reconcile(self, remote: RemoteState) -> None:
        """Remove the local rows (up to the cursor) the remote no longer holds; skip a tail of gone revisions."""
        cursor = self._cursor
        if self._mode == "sync":  # local revisions are the edge's own: only the cursor can move here
            if remote.last > cursor and not remote.stored_above(cursor):
                cursor = remote.last
            self._remote_last = max(self._remote_last, remote.last)
            await self._local.apply_sync([], cursor, self._remote_last, remote.created)
            self._created, self._cursor, self._last_seen = remote.created, cursor, time.time_ns()
            self._settle()
            return
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

    async def _follow(self, nc: Any, lost: asyncio.Event) -> None:
        _, api, _ = nats()
        prefix_length = len(self._prefix)
        self._incoming = []

        edge = f"{self._edge}:" if self._mode == "sync" else None

        async def on_message(msg: Any) -> None:
            row, last, tag = message_row(msg, prefix_length)
            if edge is None:
                self._incoming.append(row)
            else:
                self._incoming.append((*row, int(tag[len(edge) :]) if tag.startswith(edge) else 0))  # type: ignore[arg-type]
            if last > self._incoming_last:
                self._incoming_last = last
            self._wake.set()

        js = nc.jetstream()
        config = api.ConsumerConfig(deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=self._cursor + 1)
        sub = await js.subscribe(
            self._prefix + ">", stream=self._stream, ordered_consumer=True, config=config, cb=on_message
        )
        idle_wait = CHECK_EVERY if self._mode == "mirror" else OUTBOX_EVERY
        try:
            idle_since = time.monotonic()
            while not lost.is_set() and not self._stopping:
                if self._incoming:
                    await self._apply_incoming()
                    idle_since = time.monotonic()
                    continue
                if self._mode == "sync" and await self._send(nc, js):
                    continue
                if self._waiters or time.monotonic() - idle_since >= CHECK_EVERY:
                    await self._check(nc)
                    idle_since = time.monotonic()
                    continue
                self._wake.clear()
                if self._incoming or lost.is_set():
                    continue
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), idle_wait)
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _apply_incoming(self) -> None:
        rows, self._incoming = self._incoming, []
        rows = [row for row in rows if row[0] > self._cursor]
        self._remote_last = max(self._remote_last, self._incoming_last)
        for start in range(0, len(rows), BATCH):
            chunk = rows[start : start + BATCH]
            if self._mode == "sync":
                await self._local.apply_sync(chunk, chunk[-1][0], self._remote_last, self._created)  # type: ignore[arg-type]
            else:
                await self._local.apply(chunk, [], chunk[-1][0], self._remote_last, self._created)
            self._cursor = chunk[-1][0]
            self._last_seen = time.time_ns()
            self._settle()
        self._notify()

    async def _check(self, nc: Any) -> None:
        """Look at the remote: answer synced() callers, and reconcile what it removed without a message."""
        waiters, self._waiters = self._waiters, []
        newest_queued = (await self._count())[1] if waiters and self._mode == "sync" else 0
        remote = await stream_state(nc, self._stream, details=False)
        self._last_seen = time.time_ns()
        self._remote_last = max(self._remote_last, remote.last)
        for future in waiters:
            self._targets.append((remote.last, newest_queued, future))
        if self._incoming:
            return  # rows are waiting: apply them first, then look again
        if self._mode == "sync" and self._cursor >= remote.last:
            self._settle()
            return
        if self._cursor >= remote.last:
            count, _ = await self._local.revisions(remote.last, False)
            if count == remote.messages:
                self._settle()
                return
        elif self._targets or waiters:
            pass  # behind: maybe a tail of gone revisions (details below), else the rows are on their way
        else:
            return
        detailed = await stream_state(nc, self._stream, details=True)
        if self._incoming:
            return
        await self._check_identity(detailed)
        await self._reconcile(detailed)

    def _settle(self) -> None:
        """Answer the synced() callers whose target the cursor reached."""
        if not self._targets:
            return
        cursor, oldest = self._cursor, self._oldest_queued
        left = []
        for target, queued, future in self._targets:
            if target <= cursor and (not oldest or oldest > queued):
                if not future.done():
                    future.set_result(None)
            else:
                left.append((target, queued, future))
        self._targets = left

    # -- sync mode: the outbox -----------------------------------------------------------------------

    async def _count(self) -> tuple[int, int, int]:
        counts = await self._local.counts()
        self._pending, self._conflict_count = counts[0], counts[2]
        return counts

    async def _send(self, nc: Any, js: Any) -> bool:
        """Send the queued local writes up (``sender``); False when there were none."""
        assert self._sender is not None
        sent = await self._sender.send(nc, js, self._set_oldest_queued)
        if sent:
            await self._count()
            self._notify()
        else:
            self._pending = 0
        self._settle()
        return sent

    def _set_oldest_queued(self, oldest: int) -> None:
        self._oldest_queued = oldest
