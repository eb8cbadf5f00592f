"""The port of an asyncio loop: results resolve futures, one wake-up per batch.

On Linux with a loop that can watch a file descriptor (the default selector
loop, uvloop) the wake-up is the port's own eventfd inbox (see ``inbox``);
elsewhere ``call_soon_threadsafe``. The port holds its loop weakly, so a
finished loop (and the eventfd with it) is released.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
import weakref
from collections.abc import Callable
from typing import Any

from .inbox import Inbox, open_inbox
from .loop_port import LoopPort, log_callback_error
from .request import Request, StorageCall, Submit

__all__ = ["AsyncioPort", "YIELD_EVERY"]

YIELD_EVERY = 0.0005
"""Seconds: an inline operation that finds no other callback ready skips its yield unless this long has passed
since this port's last one (a yield then would only poll for I/O and timers, which this bounds)."""


def _resolve_futures(requests: list[Request]) -> None:
    for request in requests:
        future: asyncio.Future[Any] = request.waiter
        if future.done():
            continue
        if request.error is not None:
            future.set_exception(request.error)
        else:
            future.set_result(request.result)


def _add_reader(loop: asyncio.AbstractEventLoop, fd: int, callback: Callable[[], None]) -> None:
    with contextlib.suppress(OSError, ValueError):  # closed meanwhile
        loop.add_reader(fd, callback)


def _report_to_loop(loop_ref: weakref.ref[asyncio.AbstractEventLoop], exc: BaseException) -> None:
    loop = loop_ref()
    if loop is None or loop.is_closed():
        log_callback_error(exc)
    else:
        loop.call_exception_handler({"message": "exception in a sqlkv callback", "exception": exc})


class AsyncioPort(LoopPort):
    """Results for an asyncio loop: one wake-up per batch."""

    __slots__ = ("__weakref__", "_last_yield", "_loop", "_ready")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = weakref.ref(loop)
        self.active = 0
        self._last_yield = 0.0
        # The loop's queue of ready callbacks (asyncio's selector and proactor loops); None for other loops.
        self._ready: Any = getattr(loop, "_ready", None)
        self._inbox: Inbox | None = None
        inbox = open_inbox(functools.partial(_report_to_loop, self._loop))  # no reference back to the port
        if inbox is not None:
            try:
                loop.add_reader(inbox.fd, inbox.drain)
            except (NotImplementedError, RuntimeError, OSError, ValueError):
                pass  # e.g. the proactor loop on Windows: call_soon_threadsafe it is
            else:
                self._inbox = inbox

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop, or None once it was garbage-collected."""
        return self._loop()

    _resolve = staticmethod(_resolve_futures)

    def watch_readable(self, fd: int, callback: Callable[[], None]) -> bool:
        """From any thread: have the loop run ``callback()`` whenever ``fd`` is readable; False if it cannot.

        Only a loop that watches descriptors (the one this port's inbox uses) can.
        """
        loop = self._loop()
        if loop is None or self._inbox is None:
            return False
        try:
            loop.call_soon_threadsafe(_add_reader, loop, fd, callback)
        except RuntimeError:  # the loop is closed
            return False
        return True

    def unwatch_readable(self, fd: int) -> None:
        """From any thread: stop watching ``fd`` (at once on the loop's own thread; a loop that ended watches nothing).

        On the loop's thread it is done before returning, so that ``fd`` may be closed right after.
        """
        loop = self._loop()
        if loop is None:
            return
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            loop.remove_reader(fd)
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(loop.remove_reader, fd)

    def new_future(self) -> asyncio.Future[Any]:
        """A future of this (running) loop: what a watcher's consumer waits on."""
        return self._loop().create_future()  # type: ignore[union-attr]  # it is running

    def post(self, fn: Callable[..., None], *args: Any) -> None:
        loop = self._loop()
        inbox = self._inbox
        if inbox is not None:
            if loop is None or loop.is_closed():
                inbox.close()  # nobody is waiting any more: drop this and what is queued
            else:
                inbox.post(fn, args)
            return
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:
            pass  # the loop is closed: nobody is waiting any more

    async def yield_once(self) -> None:
        """Let every other ready callback run first; skipped when none is ready and this port yielded just now.

        Yielding with nothing else ready only makes the loop poll for I/O
        (a system call, ~2.5 µs here): a task running operations back to back
        does that at most every YIELD_EVERY seconds instead of per operation.
        """
        ready = self._ready
        if ready is not None and not ready:
            now = time.monotonic()
            if now - self._last_yield < YIELD_EVERY:
                return
            self._last_yield = now
        await asyncio.sleep(0)

    def _report(self, exc: BaseException) -> None:
        _report_to_loop(self._loop, exc)

    async def call(self, submit: Submit, fn: StorageCall, args: tuple[Any, ...]) -> Any:
        request = Request(fn, args, self)
        future = request.waiter = self._loop().create_future()  # type: ignore[union-attr]  # it is running
        submit(request)
        self.active += 1
        try:
            return await future
        except asyncio.CancelledError:
            request.cancelled = True
            raise
        finally:
            self.active -= 1
