"""The sync ``Replica``: an async follower run on a thread of its own, with its own event loop.

``LoopThreadReplica`` is sync-over-a-loop (callers wait on futures of that
loop), the other way round from the engine's ``ThreadedEngine`` (async over
database threads). The follower writes through the sync store's engine (on
this thread, under the store's write lock, as any thread's write). When it
stops, the thread cancels and awaits every task left on its loop (nats-py's
consumer heartbeat checks included) before closing it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from .._api.replica_interface import Replica
from .._model.errors import InvalidArgumentError
from .._model.replica import ReplicaConflict, ReplicaStatus
from .follower import Follower

__all__ = ["LoopThreadReplica"]

T = TypeVar("T")


def _end_every_task(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel the tasks still on ``loop`` and wait for them to end (as ``asyncio.run`` does)."""
    tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))


class LoopThreadReplica(Replica):
    """``Replica`` of a sync Store's bucket (see ``Store.replicate``)."""

    def __init__(self, make_follower: Callable[[], Follower[Any]]) -> None:
        self._make_follower = make_follower
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._follower: Follower[Any] | None = None
        self._closed = False

    def start(self) -> LoopThreadReplica:
        if self._thread is not None:
            raise InvalidArgumentError("a replica can be started once")
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        loop = self._loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                try:
                    self._follower = self._make_follower()
                    loop.run_until_complete(self._follower.start())
                except BaseException as exc:
                    ready.set_exception(exc)
                    return
                ready.set_result(None)
                try:
                    loop.run_forever()
                finally:
                    loop.run_until_complete(self._follower.aclose())
            finally:
                with contextlib.suppress(Exception):
                    _end_every_task(loop)
                    loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name="sqlkv-replica", daemon=True)
        self._thread.start()
        try:
            ready.result()
        except BaseException:  # the start failed, or the caller was interrupted (Ctrl-C, SIGTERM) while it ran
            with contextlib.suppress(RuntimeError):  # (the loop closed already: the start failed)
                loop.call_soon_threadsafe(loop.stop)  # else its loop would run for ever once the start is done
            self._thread.join()
            self._closed = True
            raise
        return self

    def _call(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        if self._closed or self._loop is None:
            coroutine.close()
            raise InvalidArgumentError("the replica is not running")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def synced(self, timeout: float | None = None) -> None:
        follower, loop = self._follower, self._loop
        if follower is None or loop is None:
            raise InvalidArgumentError("the replica is not running")
        future = asyncio.run_coroutine_threadsafe(follower.synced(), loop)
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
        return self._call(self._follower.conflicts())

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
