"""Fork safety: no sqlkv thread is inside SQLite at the moment a process forks.

A thread that is inside SQLite when another thread calls ``fork()`` may hold
one of SQLite's mutexes; the child inherits it locked and deadlocks on its
first SQLite call. Every sqlkv thread (database threads, checkpointer,
sweeper, change-feed poller, and sync Store calls) runs its SQLite work inside
:data:`GATE`; ``os.register_at_fork`` closes the gate before a fork — waiting
(a bounded time) for the threads inside to leave — and opens it again after.
"""

from __future__ import annotations

import os
import threading
from types import TracebackType

__all__ = ["GATE", "ForkGate"]


class ForkGate:
    """Counts threads inside SQLite; a fork waits for them to leave and keeps new ones out meanwhile."""

    def __init__(self, wait: float = 5.0) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._inside = 0
        self._closed = False
        self._wait = wait

    def __enter__(self) -> None:
        with self._cond:
            while self._closed:
                self._cond.wait()
            self._inside += 1

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with self._cond:
            self._inside -= 1
            if self._inside == 0:
                self._cond.notify_all()

    def before_fork(self) -> None:
        """Close the gate and wait (at most ``wait`` seconds) until no sqlkv thread is inside SQLite."""
        self._cond.acquire()
        self._closed = True
        self._cond.wait_for(lambda: self._inside == 0, timeout=self._wait)

    def after_fork_in_parent(self) -> None:
        self._closed = False
        self._cond.notify_all()
        self._cond.release()

    def after_fork_in_child(self) -> None:
        """The child has only the forking thread: start afresh."""
        self._cond = threading.Condition(threading.Lock())
        self._inside = 0
        self._closed = False


GATE = ForkGate()

if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=GATE.before_fork,
        after_in_parent=GATE.after_fork_in_parent,
        after_in_child=GATE.after_fork_in_child,
    )
