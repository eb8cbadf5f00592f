"""The sync ``Replica``: a follower on a thread of its own, with its own event loop, for the sync ``Store``.

The follower writes through the sync store's engine (on this thread, under
the store's write lock, as any thread's write); callers wait on futures of
that loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any

from .._api.replica_interface import Replica
from .._model.errors import InvalidArgumentError
from .._model.replica import ReplicaConflict, ReplicaStatus
from .follower import Follower

__all__ = ["ThreadedReplica"]


class ThreadedReplica(Replica):
    """``Replica`` of a sync Store's bucket (see ``Store.replicate``)."""

    def __init__(self, store: Any, *args: Any) -> None:
        self._store = store
        self._args = args
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._follower: Follower | None = None
        self._closed = False

    def start(self) -> ThreadedReplica:
        if self._thread is not None:
            raise InvalidArgumentError("a replica can be started once")
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        loop = self._loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                self._follower = Follower(self._store, *self._args)
                loop.run_until_complete(self._follower.start())
            except BaseException as exc:
                ready.set_exception(exc)
                loop.close()
                return
            ready.set_result(None)
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self._follower.aclose())
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name="sqlkv-replica", daemon=True)
        self._thread.start()
        try:
            ready.result()
        except BaseException:
            self._thread.join()
            self._closed = True
            raise
        return self

    def _call(self, coroutine: Any, timeout: float | None = None) -> Any:
        if self._closed or self._loop is None:
            coroutine.close()
            raise InvalidArgumentError("the replica is not running")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def synced(self, timeout: float | None = None) -> None:
        assert self._follower is not None or self._closed
        follower = self._follower
        if follower is None:
            raise InvalidArgumentError("the replica is not running")
        future = asyncio.run_coroutine_threadsafe(follower.synced(), self._loop)  # type: ignore[arg-type]
        try:
            future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"the replica was not in sync within {timeout} s") from None

    def status(self) -> ReplicaStatus:
        if self._follower is None:
            raise InvalidArgumentError("the replica is not running")
        return self._follower.status()

    def conflicts(self) -> list[ReplicaConflict]:
        if self._follower is None:
            raise InvalidArgumentError("the replica is not running")
        result: list[ReplicaConflict] = self._call(self._follower.conflicts())
        return result

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
