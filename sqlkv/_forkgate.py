"""Fork safety: no sqlkv thread is inside SQLite at the moment a process forks.

A thread that is inside SQLite when another thread calls ``fork()`` may hold
one of SQLite's mutexes; the child inherits it locked and deadlocks on its
first SQLite call. Every sqlkv thread (database threads, checkpointer,
sweeper, change-feed poller, and sync Store calls) runs its SQLite work inside
:data:`GATE`; ``os.register_at_fork`` closes the gate before a fork — waiting
(a bounded time) for the threads inside to leave — and opens it again after.
Entering and leaving cost about a microsecond.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from types import TracebackType

__all__ = ["GATE", "ForkGate", "helper_connection"]


class ForkGate:
    """Counts threads inside SQLite; a fork waits for them to leave and keeps new ones out meanwhile.

    Entering takes one uncontended lock and appends to a list; leaving pops
    from it (atomic in CPython): about a microsecond in all. The fork side is
    rare and may poll.
    """

    def __init__(self, wait: float = 5.0) -> None:
        self._wait = wait
        self._start()

    def _start(self) -> None:
        self._lock = threading.Lock()  # held by the forking thread from before_fork to after_fork
        self._inside: list[None] = []  # one item per thread inside SQLite

    def __enter__(self) -> None:
        with self._lock:  # blocks while a fork is being prepared
            self._inside.append(None)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self._inside.pop()
        except IndexError:
            pass  # entered before a fork, left in the child (whose gate started afresh)

    @contextlib.contextmanager
    def stepped_out(self) -> Iterator[None]:
        """From inside the gate, step out for a while (e.g. to sleep while waiting for a lock), then back in."""
        self.__exit__(None, None, None)
        try:
            yield
        finally:
            try:
                self.__enter__()  # waits while a fork is being prepared
            except BaseException:
                self._inside.append(None)  # interrupted while waiting: keep the count right for the outer exit
                raise

    def before_fork(self) -> None:
        """Close the gate and wait (at most ``wait`` seconds) until no sqlkv thread is inside SQLite."""
        self._lock.acquire()
        deadline = time.monotonic() + self._wait
        while self._inside and time.monotonic() < deadline:
            time.sleep(0.0002)

    def after_fork_in_parent(self) -> None:
        self._lock.release()

    def after_fork_in_child(self) -> None:
        """The child has only the forking thread: start afresh."""
        self._start()


GATE = ForkGate()

if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=GATE.before_fork,
        after_in_parent=GATE.after_fork_in_parent,
        after_in_child=GATE.after_fork_in_child,
    )


@contextlib.contextmanager
def helper_connection(opener: Callable[[], sqlite3.Connection]) -> Iterator[sqlite3.Connection | None]:
    """A helper thread's own connection, opened and closed inside the gate; None if it cannot be opened."""
    try:
        with GATE:
            conn = opener()
    except sqlite3.Error:
        yield None
        return
    try:
        yield conn
    finally:
        with GATE:
            conn.close()
