"""A request (one operation for a database thread, and its outcome) and the ports that carry outcomes back.

A :class:`Request` carries an operation (a function of the thread's
connection) and a *port*: the way back to its caller. A database thread runs
a whole batch of requests, then wakes each caller's loop **once** for the
batch with :meth:`Port.deliver`. Event-loop ports live in ``asyncio_port`` and
``trio_port``; :class:`ThreadPort` serves callers that simply block.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from .._model.errors import SqlkvError

__all__ = ["THREAD_PORT", "Calls", "Port", "Posts", "Request", "StorageCall", "Submit", "ThreadPort"]

TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing at run time: a command starts sooner)
if TYPE_CHECKING:
    from typing import Any, Protocol

    StorageCall = Callable[..., Any]
    """A function ``fn(connection, *args)`` run by a database thread."""
    Calls = Sequence[tuple[Callable[..., None], tuple[Any, ...]]]
    """Callbacks ``(fn, args)`` to run on a loop before a batch's results are resolved there."""
    Posts = dict[int, tuple["Port", list[tuple[Callable[..., None], tuple[Any, ...]]]]]
    """Callbacks to run on callers' loops, by id of their port: ``{id: (port, [(fn, args), ...])}``."""
    Submit = Callable[["Request"], None]
    """Hands a request to a database thread (``DatabaseThread.submit`` or ``.stop``)."""

    class Port(Protocol):
        """The way results travel back to one caller: an event loop, or a blocked thread."""

        active: int
        """Operations of this loop under way (submitted, or about to run here)."""

        def deliver(self, requests: list[Request], calls: Calls = ()) -> None:
            """On a database thread: run ``calls``, then resolve ``requests``, on the loop, in one wake-up."""

        def post(self, fn: Callable[..., None], *args: Any) -> None:
            """Called on any thread: run ``fn(*args)`` on the loop soon (dropped if the loop ended)."""

        def run_posts(self, posts: Posts) -> None:
            """On this loop's thread, after a commit made here: its watchers' callbacks, in commit order."""

        async def call(self, submit: Submit, fn: StorageCall, args: tuple[Any, ...]) -> Any:
            """Hand ``fn(conn, *args)`` to ``submit`` and wait for its result."""

        async def yield_once(self) -> None:
            """Let every other ready task of the loop run once."""

else:  # names for annotations only
    StorageCall = Calls = Posts = Submit = Port = object


class Request:
    """One operation queued for a database thread, and its outcome."""

    __slots__ = ("args", "cancelled", "error", "fn", "port", "result", "waiter")

    def __init__(self, fn: StorageCall, args: tuple[Any, ...], port: Port | None) -> None:
        self.fn = fn
        self.args = args
        self.port = port
        self.result: Any = None
        self.error: BaseException | None = None
        self.cancelled = False
        self.waiter: Any = None

    def run(self, conn: object) -> None:
        """Run on the database thread; a sqlkv error is the operation's own outcome, anything else propagates."""
        try:
            self.result = self.fn(conn, *self.args)
        except SqlkvError as exc:
            self.error = exc


def set_events(requests: list[Request]) -> None:
    """Wake the callers waiting on the requests' events (trio and blocking threads)."""
    for request in requests:
        request.waiter.set()


class ThreadPort:
    """Results for a plain thread that blocks until its request is done (sweeper, sync callers)."""

    __slots__ = ()

    active = 0

    def deliver(self, requests: list[Request], calls: Calls = ()) -> None:
        for fn, args in calls:
            fn(*args)
        set_events(requests)

    def post(self, fn: Callable[..., None], *args: Any) -> None:
        fn(*args)

    def run_posts(self, posts: Posts) -> None:
        for port, calls in posts.values():
            port.deliver([], calls)

    async def call(self, submit: Submit, fn: StorageCall, args: tuple[Any, ...]) -> Any:
        raise RuntimeError("ThreadPort is for blocking callers: use call_blocking()")

    async def yield_once(self) -> None:
        raise RuntimeError("ThreadPort is for blocking callers")

    def call_blocking(self, submit: Submit, fn: StorageCall, args: tuple[Any, ...]) -> Any:
        """Hand ``fn(conn, *args)`` to ``submit`` and block until its result."""
        request = Request(fn, args, self)
        request.waiter = threading.Event()
        submit(request)
        request.waiter.wait()
        if request.error is not None:
            raise request.error
        return request.result


THREAD_PORT = ThreadPort()
"""The port of every blocking caller (it keeps no state)."""
