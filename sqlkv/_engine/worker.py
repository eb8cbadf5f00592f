"""Database threads: one connection each, draining their queue in batches.

The writer thread runs each batch through ``transactions.run_writes`` (group
commit) and then its commit hook; the reader runs a batch of reads on one
snapshot. Results are delivered to each caller's loop once per batch, and
only after COMMIT returned.

While a thread is idle, an event loop may borrow its connection to run a lone
small operation itself (:meth:`DatabaseThread.run_here`, see ``inline``).
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable

from .._model.errors import StoreClosedError
from .._runtime.forkgate import GATE, in_child
from .._runtime.request import Port, Posts, Request
from .._storage.errors import SQLITE_ERRORS, map_sqlite_error
from .inline import RunOnThread
from .transactions import rollback, run_reads, run_writes

__all__ = ["MAX_BATCH", "CommitHook", "DatabaseThread", "deliver"]

_log = logging.getLogger("sqlkv")

MAX_BATCH = 1024
_STOP = object()

CommitHook = Callable[[sqlite3.Connection, int], "Posts | None"]
"""Called by the writer after each commit with its connection and the number of requests committed;
returns the watchers' callbacks to deliver with the batch's results."""


def _nothing() -> None:
    return None


def _fail_unanswered(batch: list[Request], exc: Exception) -> None:
    """After an unforeseen error: the requests with no outcome yet get ``exc`` (those with one keep it)."""
    for request in batch:
        if request.error is None and request.result is None:
            request.error = exc


def deliver(batch: list[Request], calls: Posts | None = None) -> None:
    """Wake each loop once: its callbacks (``calls``, keyed by id of port) first, then its results."""
    port = batch[0].port
    if not calls and (len(batch) == 1 or all(r.port is port for r in batch)):
        if port is not None:
            port.deliver(batch)
        return
    groups: dict[int, tuple[Port | None, list[Request]]] = {}
    for request in batch:
        groups.setdefault(id(request.port), (request.port, []))[1].append(request)
    for key, (port_of_calls, _) in (calls or {}).items():
        groups.setdefault(key, (port_of_calls, []))
    for key, (destination, requests) in groups.items():
        if destination is not None:
            destination.deliver(requests, (calls or {}).get(key, (None, ()))[1])


class DatabaseThread:
    """A thread that owns one SQLite connection and runs queued requests on it.

    While the thread is idle an event loop may borrow its connection to run a
    lone, small request itself (:meth:`run_here`): that saves the two thread
    wake-ups a hop costs, which are most of a point operation's time.
    """

    def __init__(
        self,
        name: str,
        opener: Callable[[], sqlite3.Connection],
        *,
        writer: bool,
        path: str,
        busy_timeout: float = 0.0,
        after_commit: CommitHook | None = None,
        redeliver: Callable[[], None] | None = None,
    ) -> None:
        self._opener = opener
        self._after_commit = after_commit
        self._redeliver = redeliver or _nothing
        self._writer = writer
        self._path = path
        self._busy_timeout = busy_timeout
        self._queue: queue.SimpleQueue[Request | object] = queue.SimpleQueue()
        self._closed = False
        self._forked = False
        self._broken: StoreClosedError | None = None
        """Set when a batch failed in a way sqlkv did not foresee: every later request gets this error."""
        self._lock = threading.Lock()
        self._pending = 0
        """Requests submitted and not yet done: the thread is idle only at zero (the queue may be empty before)."""
        self._lone: deque[None] = deque()
        """One item per lone operation under way on a loop (``inline.call_here``, between ``enter`` and ``leave``):
        a deque's append and pop are atomic, so the hot path takes no lock."""
        self._closing = False
        """Set when a close starts waiting for lone operations: a later ``enter`` is refused."""
        self._conn: sqlite3.Connection | None = None
        self._running = threading.Lock()
        """Held while the connection is in use: by the thread for a batch, or by a loop in run_here()."""
        self._open_error: BaseException | None = None
        self._final: Request | None = None
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()
        _THREADS.add(self)

    def _closed_error(self) -> StoreClosedError:
        if self._broken is not None:
            return self._broken
        if self._forked:
            return StoreClosedError("this store was opened before fork(): open a new store in the child process")
        return StoreClosedError("the store is closed")

    def submit(self, request: Request) -> None:
        """Queue ``request``; StoreClosedError once the thread was asked to stop."""
        with self._lock:
            if self._closed or self._broken is not None:
                raise self._closed_error()
            self._pending += 1
            self._queue.put(request)

    def enter(self) -> None:
        """A loop starts a lone operation (it may run here or be submitted); StoreClosedError once closing.

        Counted first, then checked: a close that starts waiting before the
        count is seen refuses it here; one that looks after waits for it.
        """
        self._lone.append(None)
        if self._closing or self._closed or self._broken is not None:
            self._lone.pop()
            raise self._closed_error()

    def leave(self) -> None:
        """The lone operation of ``enter`` is done (run here, or submitted and answered)."""
        self._lone.pop()

    def wait_for_lone(self, timeout: float) -> None:
        """Block until no lone operation is under way (at most ``timeout`` s): those that began before a close.

        Call it from a thread that is not any loop's (the engine's closing thread), before ``stop``. It looks
        every millisecond: a close is rare, and the operations' own path stays free of locks and notifications.
        """
        self._closing = True
        deadline = time.monotonic() + timeout
        while self._lone and time.monotonic() < deadline:
            time.sleep(0.001)

    def run_here(self, request: Request, on_commit: Callable[[Posts], None]) -> bool:
        """Run ``request`` on the calling thread if this thread is idle (nothing submitted is still to do).

        Returns whether it ran; if not (the thread is busy or, for a write,
        another connection holds the write lock) submit it instead. After a
        commit, ``on_commit`` gets the watchers' callbacks while the connection
        is still held, so they leave in commit order. ``request`` holds its
        result or error. A write that raised RunOnThread wrote nothing: no hook.
        """
        if self._closed or self._broken is not None:
            raise self._closed_error()
        if self._pending or not self._running.acquire(blocking=False):
            return False
        try:
            conn = self._conn
            if conn is None:
                return False
            with GATE:
                try:
                    if not self._writer:
                        run_reads(conn, [request], self._path)
                        return True
                    if not run_writes(conn, [request], self._path, None):
                        return False
                    if self._after_commit is not None and request.error.__class__ is not RunOnThread:
                        try:
                            posts = self._after_commit(conn, 1)
                            if posts:
                                on_commit(posts)
                        except BaseException:  # Ctrl-C on the loop after COMMIT: deliver its posts later
                            self._redeliver()
                            raise
                    return True
                finally:
                    if conn.in_transaction:  # only after an interrupt: never leave a snapshot or a write open
                        rollback(conn)
        finally:
            self._running.release()

    def stop(self, final: Request | None = None) -> None:
        """Finish every request already queued, close the connection, end, then deliver ``final``."""
        with self._lock:
            if self._closed:
                raise self._closed_error()
            self._closed = True
            self._final = final
            self._queue.put(_STOP)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the thread to end (from a thread that may block)."""
        self._thread.join(timeout)

    @property
    def connection(self) -> sqlite3.Connection | None:
        """The thread's connection once open (None before, and after it closed)."""
        return self._conn

    @property
    def alive(self) -> bool:
        """Whether the thread is still running."""
        return self._thread.is_alive()

    def _main(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            with GATE:
                conn = self._conn = self._opener()
        except SQLITE_ERRORS as exc:
            self._open_error = map_sqlite_error(exc, self._path)
        except BaseException as exc:
            self._open_error = exc
        get, get_nowait, empty = self._queue.get, self._queue.get_nowait, self._queue.empty
        path, busy_timeout, running = self._path, self._busy_timeout, self._running
        stopping = False
        while not stopping:
            first = get()
            if first is _STOP:
                break
            batch: list[Request] = [first]  # type: ignore[list-item]
            while not empty() and len(batch) < MAX_BATCH:  # only this thread takes from the queue
                item = get_nowait()
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)  # type: ignore[arg-type]
            if conn is None or self._broken is not None:
                for request in batch:
                    request.error = self._open_error if conn is None else self._broken
                self._done(len(batch))
                deliver(batch)
                continue
            live = [r for r in batch if not r.cancelled] if len(batch) > 1 else [] if batch[0].cancelled else batch
            calls = None
            with running, GATE:
                try:
                    if self._writer:
                        run_writes(conn, live, path, busy_timeout)
                        if self._after_commit is not None and live:
                            calls = self._after_commit(conn, len(live))
                    else:
                        run_reads(conn, live, path)
                except Exception as exc:  # a bug of sqlkv's own: say so, to this batch and every later request
                    _log.exception("sqlkv database thread: a batch failed unexpectedly; the store must be reopened")
                    rollback(conn)
                    self._broken = StoreClosedError(f"sqlkv stopped this store after an internal error: {exc!r}")
                    _fail_unanswered(live, self._broken)
                    calls = None
                finally:
                    self._done(len(batch))
                if calls:  # watchers' callbacks leave before a loop may commit on this connection: commit order
                    deliver(batch, calls)
            if not calls:  # once the connection is free, so that the loop it wakes finds the thread idle
                deliver(batch)
        if conn is not None:
            with running, GATE:
                self._conn = None
                rollback(conn)
                conn.close()
        if self._final is not None:
            deliver([self._final])

    def _done(self, count: int) -> None:
        with self._lock:
            self._pending -= count

    def forget_after_fork(self) -> None:
        """In a forked child: the thread and its connection are the parent's; refuse any further use."""
        self._lock = threading.Lock()
        self._lone = deque()
        self._running = threading.Lock()
        self._closed = self._forked = True


_THREADS: weakref.WeakSet[DatabaseThread] = weakref.WeakSet()


@in_child
def _forget_threads_after_fork() -> None:
    for thread in list(_THREADS):
        thread.forget_after_fork()
