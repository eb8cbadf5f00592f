"""The shared session of an async replica: connect, resume from the cursor, catch up, follow, reconnect for ever.

One task per replica runs sessions. A session connects (nats-py without its
own reconnects), reads the remote stream's INFO, makes the local bucket a
replica if it is none yet (only now: with a mistyped URL or bucket name the
local bucket stays a plain bucket), checks that it is the same stream as before (its creation time;
its last revision not below the cursor), reconciles, then follows the stream
with an ordered push consumer from ``cursor + 1``. Delivered messages pile up
while a batch is being written; each pile is applied in transactions of at
most ``BATCH`` rows, the cursor in the same transaction. A lost connection
ends the session; the next one starts after a back-off (50 ms doubling to
2 s, for ever), from the committed cursor, so nothing is applied twice or
missed; why it failed is the status's ``last_error``. While idle the task
looks at the remote every so often and reconciles what it removed without a
message (``purge_deletes``, expiry, stream limits).

What depends on the mode is in the subclasses: ``mirror.MirrorFollower``
(a read-only copy) and ``sync.SyncFollower`` (two-way, with an outbox).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import datetime, timezone
from typing import Any, ClassVar, Generic, TypeVar

from .._api.replica_interface import AsyncReplica
from .._backends.nats.errors import nats
from .._model.entry import Operation
from .._model.errors import InvalidArgumentError, ReplicaError, UnsupportedError
from .._model.replica import ReplicaConflict, ReplicaProblem, ReplicaStatus
from .._storage.replica import ReplicaState
from .local import LocalBucket, LocalStore
from .remote import RemoteState, connect, redact, stream_state

__all__ = ["BATCH", "CHECK_EVERY", "FIRST_DELAY", "MAX_DELAY", "Follower", "describe"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.js import JetStreamContext

BATCH = 4096
"""Rows applied in one transaction at most (a long catch-up leaves other writers their turns)."""
CHECK_EVERY = 2.0
"""Seconds between two looks at the remote's message count while idle."""
FIRST_DELAY, MAX_DELAY = 0.05, 2.0
"""The back-off between two sessions: 50 ms, doubling to 2 s."""

RowT = TypeVar("RowT", bound=tuple[Any, ...])


def describe(exc: BaseException, cause: BaseException | None) -> tuple[str, str]:
    """``(kind, message)`` of why a session failed: the connection's own error when nats-py only says that no
    server could be reached."""
    if cause is not None and type(exc).__name__ == "NoServersError":
        exc = cause
    message = str(exc).strip()
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)) and not message:
        message = "no answer in time"
    return type(exc).__name__, message


class Follower(AsyncReplica, Generic[RowT]):
    """``AsyncReplica`` of a file store's bucket following a NATS KV bucket (see ``AsyncStore.replicate``)."""

    mode: ClassVar[str]
    """``"mirror"`` or ``"sync"``."""
    idle_wait: ClassVar[float]
    """Seconds a session waits for news while idle before looking again."""

    def __init__(
        self,
        store: LocalStore,
        bucket: str,
        url: str | list[str],
        remote_bucket: str,
        resync: bool,
        attach_offline: bool,
        nats_options: dict[str, Any],
    ) -> None:
        servers = [part.strip() for part in url.split(",") if part.strip()] if isinstance(url, str) else list(url)
        if not servers or not all(s.startswith(("nats://", "tls://", "ws://", "wss://")) for s in servers):
            raise InvalidArgumentError(f"replicate() needs nats:// server URLs, not {url!r}")
        self._servers = servers
        self._origin = ",".join(redact(s) for s in servers)
        self._remote_bucket = remote_bucket
        self._stream = f"KV_{remote_bucket}"
        self._prefix = f"$KV.{remote_bucket}."
        self._resync = resync
        self._attach_offline = attach_offline
        self._options = nats_options
        self._local = LocalBucket(store, bucket)
        self._bucket = bucket
        self._attached = False
        self._cursor = 0
        self._created = ""
        self._remote_last = 0
        self._last_seen = 0
        self._connected = False
        self._error: ReplicaError | None = None
        self._last_error: ReplicaProblem | None = None
        self._cause: BaseException | None = None
        """The connection's last error as nats-py's error callback told it (the reason behind NoServersError)."""
        self._incoming: list[RowT] = []
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
        await self._local.open(history=1, create=True)  # (a plain bucket until it becomes a replica)
        if self._attach_offline or await self._local.state() is not None:
            await self._attach()  # (a replica already: checks that it is this one)
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
        pending, _, conflicts = self._local.counts_now() if self._attached else (0, 0, 0)
        return ReplicaStatus(
            bucket=self._bucket,
            remote_bucket=self._remote_bucket,
            origin=self._origin,
            mode=self.mode,
            connected=self._connected,
            revision=self._cursor,
            lag=max(self._remote_last - self._cursor, 0),
            last_seen=datetime.fromtimestamp(seen / 1e9, timezone.utc) if seen else None,
            pending=pending,
            conflicts=conflicts,
            error=str(self._error) if self._error is not None else None,
            last_error=self._last_error,
            attached=self._attached,
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
        self._local.close()

    # -- what the modes do -------------------------------------------------------------------------

    def _attached_as(self, state: ReplicaState) -> None:
        """The bucket is this replica now (its stored state): a mode's own set-up."""

    async def _reconcile(self, remote: RemoteState) -> None:
        """Bring the local bucket in line with what the remote holds (at a session's start, or when idle)."""
        raise NotImplementedError

    def _row(self, msg: Msg) -> tuple[RowT, int]:
        """A delivered message as the mode's row, and the stream's last sequence it implies."""
        raise NotImplementedError

    async def _apply(self, rows: list[RowT]) -> None:
        """Apply one chunk of rows and move the cursor to its last, in one transaction."""
        raise NotImplementedError

    async def _idle(self, nc: Client, js: JetStreamContext) -> bool:
        """A mode's own work while no rows are waiting; True when it did some."""
        return False

    async def _newest_queued(self) -> int:
        """The newest queued local write a ``synced()`` caller waits for (0: none)."""
        return 0

    def _caught_up(self, remote: RemoteState) -> bool:
        """Whether the cursor reached the remote's last revision (an idle look needs no details then)."""
        return self._cursor >= remote.last

    async def _in_line(self, remote: RemoteState) -> bool:
        """At the remote's last revision: whether the local bucket holds what the remote does (else: reconcile)."""
        return True

    # -- the task ----------------------------------------------------------------------------------

    async def _attach(self) -> None:
        """Make the bucket this replica (or check that it is), and load its stored state."""
        state = await self._local.attach(self.mode, self._origin, self._remote_bucket)
        self._created, self._cursor, self._remote_last = state.stream_created, state.cursor, state.remote_last
        self._last_seen = state.last_seen
        self._attached = True
        self._attached_as(state)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _fail_waiters(self, error: ReplicaError) -> None:
        for future in [*self._waiters, *(f for _, _, f in self._targets)]:
            if not future.done():
                future.set_exception(error)
        self._waiters.clear()
        self._targets.clear()

    def _failed(self, exc: BaseException, delay: float) -> None:
        """Record why a session failed (a new reason restarts ``since``)."""
        kind, message = describe(exc, self._cause)
        last = self._last_error
        since = last.since if last is not None and (last.kind, last.message) == (kind, message) else None
        self._last_error = ReplicaProblem(kind, message, since or datetime.now(timezone.utc), delay)

    async def _run(self) -> None:
        delay = FIRST_DELAY
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
                if self._attempt != connected_before:
                    delay = FIRST_DELAY  # the session had connected: start the back-off afresh
                self._failed(exc, delay)
            else:  # the connection was lost
                delay = FIRST_DELAY if self._attempt != connected_before else delay
            self._connected = False
            self._notify()
            if self._stopping:
                return
            await self._pause(delay)
            self._wake.clear()
            delay = min(delay * 2, MAX_DELAY)

    async def _pause(self, delay: float) -> None:
        """Wait ``delay`` seconds before the next attempt (or until woken: closing, a ``synced()`` caller)."""
        if not self._stopping:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    async def _session(self) -> None:
        lost = asyncio.Event()

        async def on_lost() -> None:
            lost.set()
            if self._connected:  # (a connection that never came up, or a session already over: no one to wake)
                self._wake.set()

        async def on_error(exc: Exception) -> None:
            self._cause = exc

        # Each attempt starts at the next server: a stopped one is not tried first for ever.
        start = self._attempt % len(self._servers)
        servers = self._servers[start:] + self._servers[:start]
        self._cause = None
        nc = await connect(
            servers, self._options, {"closed_cb": on_lost, "disconnected_cb": on_lost, "error_cb": on_error}
        )
        try:
            self._cause = None
            remote = await stream_state(nc, self._stream, details=True)
            if not self._attached:
                await self._attach()  # the hub answered and has the bucket: only now is the bucket a replica
            stored = await self._local.state()  # the committed cursor (another process may have moved it)
            if stored is None:
                raise ReplicaError(f"bucket {self._bucket!r} was detached: it is no replica any more")
            self._cursor = max(self._cursor, stored.cursor)
            self._created = self._created or stored.stream_created
            self._attempt += 1
            await self._check_identity(remote)
            await self._local.set_history(remote.history, self.mode == "mirror")
            await self._reconcile(remote)
            self._connected = True
            self._last_error = None
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
        await self._attach()

    async def _follow(self, nc: Client, lost: asyncio.Event) -> None:
        _, api, _ = nats()
        self._incoming = []

        async def on_message(msg: Msg) -> None:
            row, last = self._row(msg)
            self._incoming.append(row)
            if last > self._incoming_last:
                self._incoming_last = last
            self._wake.set()

        js = nc.jetstream()
        config = api.ConsumerConfig(deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=self._cursor + 1)
        sub = await js.subscribe(
            self._prefix + ">", stream=self._stream, ordered_consumer=True, config=config, cb=on_message
        )
        try:
            idle_since = time.monotonic()
            while not lost.is_set() and not self._stopping:
                if self._incoming:
                    await self._apply_incoming()
                    idle_since = time.monotonic()
                    continue
                if await self._idle(nc, js):
                    continue
                if self._waiters or time.monotonic() - idle_since >= CHECK_EVERY:
                    await self._check(nc)
                    idle_since = time.monotonic()
                    continue
                self._wake.clear()
                if self._incoming or lost.is_set():
                    continue
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.idle_wait)
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _apply_incoming(self) -> None:
        rows, self._incoming = self._incoming, []
        rows = [row for row in rows if row[0] > self._cursor]
        self._remote_last = max(self._remote_last, self._incoming_last)
        for start in range(0, len(rows), BATCH):
            chunk = rows[start : start + BATCH]
            await self._apply(chunk)
            self._cursor = chunk[-1][0]
            self._last_seen = time.time_ns()
            self._settle()
        self._notify()

    async def _check(self, nc: Client) -> None:
        """Look at the remote: answer synced() callers, and reconcile what it removed without a message."""
        waiters, self._waiters = self._waiters, []
        newest_queued = await self._newest_queued() if waiters else 0
        remote = await stream_state(nc, self._stream, details=False)
        self._last_seen = time.time_ns()
        self._remote_last = max(self._remote_last, remote.last)
        for future in waiters:
            self._targets.append((remote.last, newest_queued, future))
        if self._incoming:
            return  # rows are waiting: apply them first, then look again
        if self._caught_up(remote):
            if await self._in_line(remote):
                self._settle()
                return
        elif not (self._targets or waiters):
            return  # behind, and no one waits: the rows are on their way
        detailed = await stream_state(nc, self._stream, details=True)  # maybe a tail of gone revisions
        if self._incoming:
            return
        await self._check_identity(detailed)
        await self._reconcile(detailed)

    def _oldest_queued(self) -> int:
        """The id of the oldest local write still queued, as the last look found it (0: none)."""
        return 0

    def _settle(self) -> None:
        """Answer the synced() callers whose target the cursor reached."""
        if not self._targets:
            return
        cursor, oldest = self._cursor, self._oldest_queued()
        left = []
        for target, queued, future in self._targets:
            if target <= cursor and (not oldest or oldest > queued):
                if not future.done():
                    future.set_result(None)
            else:
                left.append((target, queued, future))
        self._targets = left
