"""Fork safety: no sqlkv thread is inside SQLite at the moment a process forks; every at-fork hook of sqlkv.

A thread that is inside SQLite when another thread calls ``fork()`` may hold
one of SQLite's mutexes; the child inherits it locked and deadlocks on its
first SQLite call. Every sqlkv thread (database threads, checkpointer,
sweeper, change-feed poller, and sync Store calls) runs its SQLite work inside
:data:`GATE`; ``os.register_at_fork`` closes the gate before a fork — waiting
(a bounded time) for the threads inside to leave — and opens it again after.
Entering and leaving cost about a microsecond.

Where there is no fork (Windows; ``SQLKV_PORTABLE=1``) no hook is registered.
This is the only module that calls ``os.register_at_fork``: the other parts of
sqlkv that must forget their parent's threads, loops or descriptors in a
forked child register a callback with :func:`in_child`, and the synchronous
store compares :data:`FORKS`' generation to notice that it was forked.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from types import TracebackType

from . import platform

__all__ = ["FORKS", "GATE", "ForkGate", "helper_connection", "in_child"]


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


class ForkCounter:
    """How many forks this process is away from the one that imported sqlkv (0 in the original process)."""

    __slots__ = ("generation",)

    def __init__(self) -> None:
        self.generation = 0


FORKS = ForkCounter()

_CHILD_HOOKS: list[Callable[[], None]] = []


def in_child(hook: Callable[[], None]) -> Callable[[], None]:
    """Run ``hook()`` in every forked child, after the gate reopened, in the order hooks were registered."""
    _CHILD_HOOKS.append(hook)
    return hook


def _after_fork_in_child() -> None:
    GATE.after_fork_in_child()
    FORKS.generation += 1
    for hook in _CHILD_HOOKS:
        hook()


if platform.AT_FORK:  # (not on Windows, which has no fork, nor under SQLKV_PORTABLE=1)
    os.register_at_fork(
        before=GATE.before_fork,
        after_in_parent=GATE.after_fork_in_parent,
        after_in_child=_after_fork_in_child,
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
