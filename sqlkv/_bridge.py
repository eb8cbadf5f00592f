"""Handing work to a database thread and results back to an event loop.

A :class:`Request` carries one operation (a function of the thread's
connection) and a *port*: the way back to the caller. A database thread runs
a whole batch of requests, then wakes each event loop **once** for the batch
with :meth:`Port.deliver`. Ports exist for asyncio and trio, so the async API
runs on both anyio backends with at most one thread hop per operation; both
wake their loop through an eventfd inbox (``_wakeup``) where Linux has one,
else through ``call_soon_threadsafe`` / ``TrioToken.run_sync_soon``. A lone
operation may skip the hop altogether and run on the loop's own thread
(:meth:`_LoopPort.call_here`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import sqlite3
import sys
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from ._errors import BucketNotFoundError, RunOnThread, SqlkvError
from ._sql import BucketSQL
from ._wakeup import Inbox, open_inbox, run_callback

if TYPE_CHECKING:
    from ._feed import Posts

__all__ = ["THREAD_PORT", "Port", "Request", "ThreadPort", "current_port", "direct_call_error"]

Operation = Callable[..., Any]


def direct_call_error(exc: sqlite3.Error, args: tuple[Any, ...], path: str) -> SqlkvError:
    """The sqlkv error for an sqlite3 error raised by ``fn(conn, *args)`` called directly."""
    sql = args[0] if args else None
    missing_table = isinstance(exc, sqlite3.OperationalError) and str(exc).startswith("no such table")
    if missing_table and isinstance(sql, BucketSQL):
        return BucketNotFoundError(f"bucket not found: {sql.bucket}")
    from ._connection import map_sqlite_error

    return map_sqlite_error(exc, path)


class Request:
    """One operation queued for a database thread, and its outcome."""

    __slots__ = ("args", "cancelled", "error", "fn", "port", "result", "waiter")

    def __init__(self, fn: Operation, args: tuple[Any, ...], port: Port | None) -> None:
        self.fn = fn
        self.args = args
        self.port = port
        self.result: Any = None
        self.error: BaseException | None = None
        self.cancelled = False
        self.waiter: Any = None

    def run(self, conn: sqlite3.Connection) -> None:
        """Run on the database thread; a sqlkv error is the operation's own outcome.

        A bucket operation (first argument a BucketSQL) on a table that no
        longer exists fails with BucketNotFoundError: the bucket was deleted.
        """
        try:
            self.result = self.fn(conn, *self.args)
        except SqlkvError as exc:
            self.error = exc
        except sqlite3.OperationalError as exc:
            sql = self.args[0] if self.args else None
            if isinstance(sql, BucketSQL) and str(exc).startswith("no such table"):
                self.error = BucketNotFoundError(f"bucket not found: {sql.bucket}")
            else:
                raise


Calls = Sequence[tuple[Callable[..., None], tuple[Any, ...]]]
"""Callbacks ``(fn, args)`` to run on a loop before a batch's results are resolved there."""


def _call_then(calls: Calls, resolve: Callable[[list[Request]], None], requests: list[Request]) -> None:
    for fn, args in calls:
        fn(*args)
    resolve(requests)


Submit = Callable[[Request], None]
"""Hands a request to a database thread (``DatabaseThread.submit`` or ``.stop``)."""


class Borrowable(Protocol):
    """A database thread whose connection a loop may use while the thread is idle (``DatabaseThread``)."""

    def submit(self, request: Request) -> None: ...

    def run_here(self, request: Request, on_commit: Callable[[Posts], None]) -> bool: ...


class Port(Protocol):
    """The way results travel back to one event loop."""

    active: int
    """Operations of this loop under way (submitted, or about to run here)."""

    def deliver(self, requests: list[Request], calls: Calls = ()) -> None:
        """On a database thread: run ``calls``, then resolve ``requests``, on the loop, in one wake-up."""

    def post(self, fn: Callable[..., None], *args: Any) -> None:
        """Called on any thread: run ``fn(*args)`` on the loop soon (dropped if the loop ended)."""

    async def call(self, submit: Submit, fn: Operation, args: tuple[Any, ...]) -> Any:
        """Hand ``fn(conn, *args)`` to ``submit`` and wait for its result."""

    async def call_here(
        self, thread: Borrowable, fn: Operation, args: tuple[Any, ...], here: Operation | None = None
    ) -> Any:
        """Run ``fn(conn, *args)`` (or its variant ``here``) on the calling thread when cheaper, else as ``call``."""


def _resolve_futures(requests: list[Request]) -> None:
    for request in requests:
        future: asyncio.Future[Any] = request.waiter
        if future.done():
            continue
        if request.error is not None:
            future.set_exception(request.error)
        else:
            future.set_result(request.result)


class _LoopPort:
    """What both loop ports share: a batch's callbacks, then its results, in one post (one wake-up).

    And the loop's side of running a lone operation itself (:meth:`call_here`).
    """

    __slots__ = ("_inbox", "active")

    active: int
    """Operations of this loop under way (submitted, or about to run here): zero means "alone"."""
    _inbox: Inbox | None
    _resolve: Callable[[list[Request]], None]

    def deliver(self, requests: list[Request], calls: Calls = ()) -> None:
        if calls:
            self.post(_call_then, calls, self._resolve, requests)
        else:
            self.post(self._resolve, requests)

    def post(self, fn: Callable[..., None], *args: Any) -> None:
        raise NotImplementedError

    async def call(self, submit: Submit, fn: Operation, args: tuple[Any, ...]) -> Any:
        raise NotImplementedError

    async def _yield(self) -> None:
        raise NotImplementedError

    def _report(self, exc: BaseException) -> None:
        raise NotImplementedError

    async def call_here(
        self, thread: Borrowable, fn: Operation, args: tuple[Any, ...], here: Operation | None = None
    ) -> Any:
        """Run ``fn(conn, *args)`` on this loop's thread if it is alone and ``thread`` is idle; else submit it.

        ``here``, if given, is the variant of ``fn`` to run on the loop: it may
        raise RunOnThread (e.g. a value too large to read here), and then ``fn``
        goes to the thread.

        With no other operation of this loop under way, the task first lets
        every other ready task run (any operation they start meanwhile goes
        to the thread). If the database thread then has nothing to do, the
        operation runs right here, on the thread's connection: no thread hop,
        no wake-ups. Otherwise (operations under way, the thread busy, the
        database locked by another process) it goes to the thread as usual,
        where concurrent writes share one commit. A cancellation reaches the
        task before the operation started or not at all.
        """
        if self.active:
            return await self.call(thread.submit, fn, args)
        self.active += 1
        try:
            await self._yield()
            request = Request(here or fn, args, None)
            ran = thread.run_here(request, self._deliver_posts)
        finally:
            self.active -= 1
        if not ran or request.error.__class__ is RunOnThread:
            return await self.call(thread.submit, fn, args)
        if request.error is not None:
            raise request.error
        return request.result

    def _deliver_posts(self, posts: Posts) -> None:
        """Watchers' callbacks of a commit made on this loop: this loop's run now unless earlier ones are queued."""
        own: Calls = ()
        inbox = self._inbox
        for port, calls in posts.values():  # other loops' first: an error in one of ours cannot hold them back
            if port is not self or inbox is None or inbox.pending:
                port.deliver([], calls)  # after what is queued: watchers see commits in order
            else:
                own = calls
        for fn, args in own:
            run_callback(fn, args, self._report)


class AsyncioPort(_LoopPort):
    """Results for an asyncio loop: one wake-up per batch.

    On Linux with a loop that can watch a file descriptor (the default selector
    loop, uvloop) the wake-up is the port's own eventfd (see ``_wakeup``);
    elsewhere ``call_soon_threadsafe``. The port holds its loop weakly, so a
    finished loop (and the eventfd with it) is released.
    """

    __slots__ = ("__weakref__", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = weakref.ref(loop)
        self.active = 0
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

    async def _yield(self) -> None:
        await asyncio.sleep(0)

    def _report(self, exc: BaseException) -> None:
        _report_to_loop(self._loop, exc)

    async def call(self, submit: Submit, fn: Operation, args: tuple[Any, ...]) -> Any:
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


async def _pump_inbox(inbox: Inbox) -> None:
    """A trio system task: run the inbox's callbacks whenever its eventfd fires, until the run ends."""
    import trio

    try:
        while True:
            await trio.lowlevel.wait_readable(inbox.fd)
            inbox.drain()
    finally:
        inbox.close()  # the run is ending: later posts are dropped


def _log_callback_error(exc: BaseException) -> None:
    logging.getLogger("sqlkv").error("exception in a sqlkv callback", exc_info=exc)


def _report_to_loop(loop_ref: weakref.ref[asyncio.AbstractEventLoop], exc: BaseException) -> None:
    loop = loop_ref()
    if loop is None or loop.is_closed():
        _log_callback_error(exc)
    else:
        loop.call_exception_handler({"message": "exception in a sqlkv callback", "exception": exc})


def _set_events(requests: list[Request]) -> None:
    for request in requests:
        request.waiter.set()


class TrioPort(_LoopPort):
    """Results for a trio run: one wake-up per batch.

    On Linux a system task of the run waits on the port's eventfd and drains
    its inbox (see ``_wakeup``); elsewhere ``TrioToken.run_sync_soon``.
    """

    __slots__ = ("token",)

    def __init__(self, token: Any) -> None:
        import trio

        self.token = token
        self.active = 0
        self._inbox: Inbox | None = None
        inbox = open_inbox(_log_callback_error)
        if inbox is not None:
            trio.lowlevel.spawn_system_task(_pump_inbox, inbox, name="sqlkv wake-ups")
            self._inbox = inbox

    _resolve = staticmethod(_set_events)

    def post(self, fn: Callable[..., None], *args: Any) -> None:
        inbox = self._inbox
        if inbox is not None:
            inbox.post(fn, args)
            return
        import trio

        try:
            self.token.run_sync_soon(fn, *args)
        except trio.RunFinishedError:
            pass  # the run ended: nobody is waiting any more

    async def _yield(self) -> None:
        import trio

        await trio.lowlevel.checkpoint()

    def _report(self, exc: BaseException) -> None:
        _log_callback_error(exc)

    async def call(self, submit: Submit, fn: Operation, args: tuple[Any, ...]) -> Any:
        import trio

        request = Request(fn, args, self)
        request.waiter = trio.Event()
        submit(request)
        self.active += 1
        try:
            await request.waiter.wait()
        except BaseException:
            request.cancelled = True
            raise
        finally:
            self.active -= 1
        if request.error is not None:
            raise request.error
        return request.result


class ThreadPort:
    """Results for a plain thread that blocks until its request is done (sweeper, sync callers)."""

    __slots__ = ()

    active = 0

    def deliver(self, requests: list[Request], calls: Calls = ()) -> None:
        for fn, args in calls:
            fn(*args)
        _set_events(requests)

    def post(self, fn: Callable[..., None], *args: Any) -> None:
        fn(*args)

    async def call(self, submit: Submit, fn: Operation, args: tuple[Any, ...]) -> Any:
        raise RuntimeError("ThreadPort is for blocking callers: use call_blocking()")

    async def call_here(
        self, thread: Borrowable, fn: Operation, args: tuple[Any, ...], here: Operation | None = None
    ) -> Any:
        raise RuntimeError("ThreadPort is for blocking callers: use call_blocking()")

    def call_blocking(self, submit: Submit, fn: Operation, args: tuple[Any, ...]) -> Any:
        """Hand ``fn(conn, *args)`` to ``submit`` and block until its result."""
        request = Request(fn, args, self)
        request.waiter = threading.Event()
        submit(request)
        request.waiter.wait()
        if request.error is not None:
            raise request.error
        return request.result


THREAD_PORT = ThreadPort()


_asyncio_ports: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncioPort] = weakref.WeakKeyDictionary()
_last_asyncio_port: AsyncioPort | None = None


_last_trio_port: TrioPort | None = None


_trio_ports: Any = None
"""A ``trio.lowlevel.RunVar`` holding each run's port, made on first use (trio is optional)."""


def _trio_port(trio: Any, token: Any) -> TrioPort:
    """The port of the current trio run: one per run, whichever thread asked last."""
    global _trio_ports, _last_trio_port
    ports = _trio_ports
    if ports is None:
        ports = _trio_ports = trio.lowlevel.RunVar("sqlkv_port")
    port: TrioPort | None = ports.get(None)
    if port is None:
        port = TrioPort(token)
        ports.set(port)
    _last_trio_port = port
    return port


def _forget_ports() -> None:
    """In a forked child: ports (and their eventfds) belong to the parent's loops."""
    global _asyncio_ports, _last_asyncio_port, _last_trio_port
    _asyncio_ports = weakref.WeakKeyDictionary()
    _last_asyncio_port = _last_trio_port = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_ports)


def current_port() -> Port:
    """The port of the running event loop (asyncio or trio)."""
    global _last_asyncio_port
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        port = _last_asyncio_port
        if port is not None and port._loop() is loop:
            return port
        port = _asyncio_ports.get(loop)
        if port is None:
            port = _asyncio_ports[loop] = AsyncioPort(loop)
        _last_asyncio_port = port
        return port
    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            token = trio.lowlevel.current_trio_token()
        except RuntimeError:
            pass
        else:
            last = _last_trio_port
            if last is not None and last.token is token:
                return last
            return _trio_port(trio, token)
    raise RuntimeError("sqlkv's async API must be called from a running asyncio or trio event loop")
