"""WAL checkpoints off the commit path.

SQLite's automatic checkpoint runs inside the commit that crosses 1000 WAL
pages and stalls that writer for milliseconds. sqlkv turns it off on the
writer connection and runs PASSIVE checkpoints (which never block writers or
readers) on a thread of its own, nudged by the writer every thousand or so
writes.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable

from .._model.errors import SqlkvError
from .._runtime.forkgate import GATE, helper_connection
from .._storage.changes import checkpoint

__all__ = ["Checkpointer"]


class Checkpointer:
    """A thread with its own connection that checkpoints the WAL when nudged."""

    def __init__(self, opener: Callable[[], sqlite3.Connection], name: str) -> None:
        self._opener = opener
        self._wanted = threading.Event()
        self._stopping = False
        self.idle = threading.Event()
        """Set while the thread waits for a nudge (it is not inside SQLite then)."""
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def nudge(self) -> None:
        """Ask for a checkpoint soon (cheap; many nudges collapse into one)."""
        self._wanted.set()

    def stop(self) -> None:
        """End the thread and close its connection; waits for a running checkpoint."""
        self._stopping = True
        self._wanted.set()
        self._thread.join()

    def _main(self) -> None:
        with helper_connection(self._opener) as conn:
            if conn is None:
                return  # the writer reports open errors; without us, SQLite checkpoints on close
            while True:
                self.idle.set()
                self._wanted.wait()
                self.idle.clear()
                self._wanted.clear()
                if self._stopping:
                    break
                try:
                    with GATE:
                        checkpoint(conn)
                except SqlkvError:
                    pass  # busy or read-only: the next nudge tries again
