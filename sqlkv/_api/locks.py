"""The walkthrough's lock recipe on a bucket key: ``AsyncLock`` for async code, ``Lock`` for threads.

Acquire with ``create`` (the value names the holder: host, process, a random
token); keep it alive with ``update(..., last=revision, ttl=ttl)`` every
``ttl/3`` while held; release with ``delete(key, last=revision)``, so a lock
that was lost (expired and taken by another) is never deleted by its former
holder. A holder that dies stops refreshing: the key expires after ``ttl``
(the store's sweeper acts on any deadline, whoever set it, and announces the
expiry to watchers) and the next ``create`` succeeds. Waiters watch the key
and retry on every delete, purge or expiry, and at least once per ``ttl``.

The recipes use only the public bucket interface, so they work on any backend
whose writes accept a per-key TTL.
"""

from __future__ import annotations

import os
import threading
import time
from types import TracebackType

from .._model.entry import Entry, Operation
from .._model.errors import KeyExistsError, LockNotAcquiredError, SqlkvError, StoreClosedError, WrongLastRevisionError

__all__ = ["AsyncLock", "Lock", "new_holder"]


def new_holder() -> bytes:
    """A value naming this holder: host, process, and a random token."""
    import socket  # on first use: a script that never locks does not pay for these imports

    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(16).hex()}".encode()


TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing at run time: a command starts sooner)
if TYPE_CHECKING:
    from typing import Any, Protocol

    from anyio.abc import TaskGroup

    class _AsyncKeys(Protocol):
        """What the async recipe needs of a bucket (``AsyncBucket``)."""

        @property
        def name(self) -> str: ...

        async def create(self, key: str, value: bytes, *, ttl: float) -> int: ...

        async def update(self, key: str, value: bytes, last: int, *, ttl: float) -> int: ...

        async def delete(self, key: str, *, last: int | None = None) -> int: ...

        def watch(self, *filters: str, updates_only: bool = ...) -> Any: ...

    class _Keys(Protocol):
        """What the threaded recipe needs of a bucket (``Bucket``)."""

        @property
        def name(self) -> str: ...

        def create(self, key: str, value: bytes, *, ttl: float) -> int: ...

        def update(self, key: str, value: bytes, last: int, *, ttl: float) -> int: ...

        def delete(self, key: str, *, last: int | None = None) -> int: ...

        def watch(self, *filters: str, updates_only: bool = ...) -> Any: ...


class _LockState:
    """What a lock holder knows, the same for both recipes: the key, its TTL, who holds it, the CAS token."""

    def __init__(self, bucket: Any, key: str, ttl: float, wait: bool, timeout: float) -> None:
        self._bucket = bucket
        self.key = key
        """The locked key."""
        self.ttl = ttl
        """Seconds the lock lasts unless refreshed (it is refreshed every ``ttl/3`` while held)."""
        self._wait = wait
        self._timeout = timeout
        self.holder = new_holder()
        """The value written to the key: who holds the lock."""
        self.revision = 0
        """The revision of the key this holder wrote last (its CAS token)."""
        self.lost = False
        """True if the lock was lost while held (it expired and someone else took it)."""

    new_holder = staticmethod(new_holder)

    def _held_elsewhere(self, after: float | None = None) -> LockNotAcquiredError:
        where = f"lock {self._bucket.name} > {self.key}"
        return LockNotAcquiredError(f"{where} is held" if after is None else f"{where} still held after {after:g} s")


class AsyncLock(_LockState):
    """An exclusive, self-expiring lock held through one key of a bucket: ``async with kv.lock(key) as lock``."""

    _bucket: _AsyncKeys

    def __init__(self, bucket: _AsyncKeys, key: str, ttl: float, wait: bool, timeout: float) -> None:
        super().__init__(bucket, key, ttl, wait, timeout)
        self._group: TaskGroup | None = None

    async def acquire(self) -> None:
        """Take the lock, waiting as configured; LockNotAcquiredError if it cannot be had."""
        import anyio

        bucket = self._bucket
        with anyio.move_on_after(self._timeout) as scope:
            async with bucket.watch(self.key, updates_only=True) as watcher:
                while True:
                    try:
                        self.revision = await bucket.create(self.key, self.holder, ttl=self.ttl)
                        return
                    except KeyExistsError:
                        if not self._wait:
                            raise self._held_elsewhere() from None
                    # Wait for the holder to let go: a delete, purge or expiry of the key, or one TTL.
                    with anyio.move_on_after(self.ttl):
                        async for entry in watcher:
                            if entry.operation is not Operation.PUT:
                                break
        if scope.cancelled_caught:
            raise self._held_elsewhere(self._timeout)

    async def _keep_alive(self) -> None:
        import anyio

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
        import anyio

        await self.acquire()
        self._group = anyio.create_task_group()
        await self._group.__aenter__()
        self._group.start_soon(self._keep_alive)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        import anyio

        group, self._group = self._group, None
        if group is not None:
            group.cancel_scope.cancel()
            await group.__aexit__(None, None, None)
        with anyio.CancelScope(shield=True):
            try:
                await self.release()
            except SqlkvError:
                pass  # the store is closing: the key expires by itself


class Lock(_LockState):
    """The lock recipe of AsyncLock for threads: ``with kv.lock("file.txt", ttl=10) as lock:``.

    A daemon thread refreshes the lock every ``ttl/3`` while it is held.
    """

    _bucket: _Keys

    def __init__(self, bucket: _Keys, key: str, ttl: float, wait: bool, timeout: float) -> None:
        super().__init__(bucket, key, ttl, wait, timeout)
        self._stop = threading.Event()
        self._refresher: threading.Thread | None = None

    def acquire(self) -> None:
        """Take the lock, waiting as configured; LockNotAcquiredError if it cannot be had."""
        bucket = self._bucket
        deadline = time.monotonic() + self._timeout
        with bucket.watch(self.key, updates_only=True) as watcher:
            while True:
                try:
                    self.revision = bucket.create(self.key, self.holder, ttl=self.ttl)
                    return
                except KeyExistsError:
                    if not self._wait:
                        raise self._held_elsewhere() from None
                remaining = min(self.ttl, deadline - time.monotonic())
                if remaining <= 0:
                    raise self._held_elsewhere(self._timeout)
                end = time.monotonic() + remaining
                while (left := end - time.monotonic()) > 0:
                    entry: Entry | None = watcher.next(left)
                    if entry is None or entry.operation is not Operation.PUT:
                        break

    def _refresh(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                self.revision = self._bucket.update(self.key, self.holder, self.revision, ttl=self.ttl)
            except WrongLastRevisionError:
                self.lost = True
                return
            except StoreClosedError:
                return

    def release(self) -> None:
        """Let go of the lock (only if this holder still has it)."""
        self._stop.set()
        if self._refresher is not None:
            self._refresher.join()
        if not self.lost:
            try:
                self._bucket.delete(self.key, last=self.revision)
            except WrongLastRevisionError:
                self.lost = True
            except SqlkvError:
                pass  # the store is closing: the key expires by itself

    def __enter__(self) -> Lock:
        self.acquire()
        self._refresher = threading.Thread(target=self._refresh, name=f"sqlkv-lock:{self.key}", daemon=True)
        self._refresher.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
