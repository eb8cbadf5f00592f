"""AsyncLock: the walkthrough's lock recipe on a bucket key, as an async context manager.

Acquire with ``create`` (the value names the holder: host, process, a random
token); keep it alive with ``update(..., last=revision, ttl=ttl)`` every
``ttl/3`` while held; release with ``delete(key, last=revision)``, so a lock
that was lost (expired and taken by another) is never deleted by its former
holder. A holder that dies stops refreshing: the key expires after ``ttl``
and the next ``create`` succeeds. Waiters watch the key and retry on every
delete, purge or expiry, and at least once per ``ttl``.
"""

from __future__ import annotations

import math
import os
import socket
import uuid
from types import TracebackType
from typing import TYPE_CHECKING

import anyio

from ._entry import Operation
from ._errors import (
    InvalidArgumentError,
    KeyExistsError,
    LockNotAcquiredError,
    SqlkvError,
    WrongLastRevisionError,
)

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from ._bucket import AsyncBucket

__all__ = ["AsyncLock"]


class AsyncLock:
    """An exclusive, self-expiring lock held through one key of a bucket."""

    def __init__(self, bucket: AsyncBucket, key: str, ttl: float, wait: bool, timeout: float | None) -> None:
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout >= 0
        ):
            raise InvalidArgumentError("timeout must be None or a number of seconds >= 0")
        self._bucket = bucket
        self.key = key
        self.ttl = ttl
        self._wait = wait
        self._timeout = math.inf if timeout is None else float(timeout)
        self.holder = self.new_holder()
        """The value written to the key: who holds the lock."""
        self.revision = 0
        """The revision of the key this holder wrote last (its CAS token)."""
        self.lost = False
        """True if the lock was lost while held (it expired and someone else took it)."""
        self._group: TaskGroup | None = None

    @staticmethod
    def new_holder() -> bytes:
        """A value naming this holder: host, process, and a random token."""
        return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}".encode()

    async def acquire(self) -> None:
        """Take the lock, waiting as configured; LockNotAcquiredError if it cannot be had."""
        bucket = self._bucket
        with anyio.move_on_after(self._timeout) as scope:
            async with bucket.watch(self.key, updates_only=True) as watcher:
                while True:
                    try:
                        self.revision = await bucket.create(self.key, self.holder, ttl=self.ttl)
                        return
                    except KeyExistsError:
                        if not self._wait:
                            raise LockNotAcquiredError(f"lock {bucket.name} > {self.key} is held") from None
                    # The holder may be another process: have our sweeper look at its deadline too,
                    # so that its expiry comes as an event.
                    sweeper = bucket._store._sweeper
                    if sweeper is not None:
                        sweeper.nudge()
                    # Wait for the holder to let go: a delete, purge or expiry of the key, or one TTL.
                    with anyio.move_on_after(self.ttl):
                        async for entry in watcher:
                            if entry.operation is not Operation.PUT:
                                break
        if scope.cancelled_caught:
            raise LockNotAcquiredError(f"lock {bucket.name} > {self.key} still held after {self._timeout:g} s")

    async def _keep_alive(self) -> None:
        while True:
            await anyio.sleep(self.ttl / 3)
            try:
                self.revision = await self._bucket.update(self.key, self.holder, self.revision, ttl=self.ttl)
            except WrongLastRevisionError:
                self.lost = True
                return

    async def release(self) -> None:
        """Let go of the lock (only if this holder still has it)."""
        if self.lost:
            return
        try:
            await self._bucket.delete(self.key, last=self.revision)
        except WrongLastRevisionError:
            self.lost = True

    async def __aenter__(self) -> AsyncLock:
        await self.acquire()
        self._group = anyio.create_task_group()
        await self._group.__aenter__()
        self._group.start_soon(self._keep_alive)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        group, self._group = self._group, None
        if group is not None:
            group.cancel_scope.cancel()
            await group.__aexit__(None, None, None)
        with anyio.CancelScope(shield=True):
            try:
                await self.release()
            except SqlkvError:
                pass  # the store is closing: the key expires by itself
