"""Where a synchronous ``Store``'s operations run: on the calling thread, with no thread hop.

Writes share one connection under a lock (SQLite serialises writers anyway)
and go through the same ``run_writes`` and commit hook as the writer thread;
each thread reads on a connection of its own, held by a lock of its own while
in use, so that closing the store (from any thread) waits for a read under way
instead of closing its connection under it. After ``fork()`` a child process
opens fresh connections instead of using its parent's.
"""

from __future__ import annotations

import os
import sqlite3
import threading

from .._model.errors import StoreClosedError
from .._model.options import StoreOptions
from .._runtime.forkgate import FORKS, GATE
from .._runtime.request import Request, StorageCall
from .._storage import expiry
from .._storage.connection import Connection
from .._storage.errors import SQLITE_ERRORS, map_sqlite_error
from .._storage.expiry import SweepResult
from .engine import SWEEP_BATCH, Engine
from .readcache import ReadCache
from .transactions import run_writes

TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing at run time: a command starts sooner)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["DirectEngine"]


class DirectEngine(Engine):
    """The connections of a synchronous store, used on the calling thread."""

    def __init__(self, options: StoreOptions) -> None:
        super().__init__(options)
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._readers: list[tuple[sqlite3.Connection, threading.Lock]] = []  # each thread's, with its in-use lock
        self._readers_lock = threading.Lock()
        self._writer: Connection | None = None
        self._generation = FORKS.generation
        self.pid = os.getpid()
        """The process whose connections these are (a forked child opens its own)."""

    not_open_message = "store is not open: use `with Store(...)` or `store.open()`"

    def _not_ready(self) -> None:
        """The slow path of every call: StoreClosedError unless open; new connections in a forked child."""
        self.check_open()
        if self._generation != FORKS.generation:
            self._after_fork()

    def start(self) -> None:
        """Open the write connection (creating the file, applying migrations) and start the helper threads."""
        self._generation, self.pid = FORKS.generation, os.getpid()
        try:
            with GATE:
                self._writer = self.open_writer()
        except SQLITE_ERRORS as exc:
            raise map_sqlite_error(exc, self.path) from None
        self.open = True
        self.start_helpers()

    def _after_fork(self) -> None:
        """In a forked child: forget the parent's connections and threads, open our own."""
        self._writer = None
        self._local = threading.local()
        self._readers = []
        self._readers_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._observer_lock = threading.Lock()
        self.observer = self.sweeper = self.checkpointer = None
        self.read_cache = ReadCache(self.options)  # the parent's cache turns itself off here (its fork check)
        self.start()

    def stop(self) -> None:
        """End every watcher, stop the helper threads and close every connection (idempotent)."""
        self.closed = True
        if not self.open:
            return
        self.open = False
        if self._generation != FORKS.generation:
            return  # a forked child never opened anything of its own
        self.read_cache.close()
        self.stop_helpers()
        with self._write_lock, GATE:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        with self._readers_lock, GATE:
            for conn, in_use in self._readers:
                with in_use:  # a read under way on another thread finishes first
                    conn.close()
            self._readers.clear()
        self.hints.close()

    def write_connection(self) -> sqlite3.Connection | None:
        return self._writer

    def write(self, fn: StorageCall, *args: Any) -> Any:
        """Run ``fn(conn, *args)`` on the write connection, in its own transaction; deliver watchers' callbacks."""
        if not self.open or self._generation != FORKS.generation:
            self._not_ready()
        if self.options.read_only:
            self.check_writable()
        request = Request(fn, args, None)
        with self._write_lock, GATE:
            conn = self._writer
            if conn is None:
                raise StoreClosedError("the store is closed")
            run_writes(conn, [request], self.path, self.options.busy_timeout)
            try:
                posts = self.after_commit(conn, 1)
                for port, calls in (posts or {}).values():  # under the lock: watchers receive commits in order
                    port.deliver([], calls)
            except BaseException:  # Ctrl-C during the delivery: the commit stands, its watchers get it later
                self.redeliver()
                raise
        if request.error is not None:
            raise request.error
        return request.result

    def read(self, fn: StorageCall, *args: Any) -> Any:
        """Run ``fn(conn, *args)`` on this thread's own read connection."""
        if not self.open or self._generation != FORKS.generation:
            self._not_ready()
        reader = getattr(self._local, "reader", None)
        if reader is None:
            reader = self._open_reader()
        conn, in_use = reader
        # Reads run outside the fork gate: it would cost more than a point read. A fork from one of your threads
        # while another of yours is inside a read is the general hazard of fork with threads.
        with in_use:
            if not self.open:  # closed (by another thread) since the check above: the connection is gone
                raise StoreClosedError("the store is closed")
            try:
                return fn(conn, *args)
            except SQLITE_ERRORS as exc:
                raise map_sqlite_error(exc, self.path) from None

    def _open_reader(self) -> tuple[sqlite3.Connection, threading.Lock]:
        """This thread's read connection, opened now and registered for ``stop`` (unless the store closed)."""
        try:
            with GATE:
                conn = self.open_reader()
        except SQLITE_ERRORS as exc:
            raise map_sqlite_error(exc, self.path) from None
        reader = (conn, threading.Lock())
        with self._readers_lock:
            if not self.open:  # ``stop`` already closed the others: this one must not outlive it
                conn.close()
                raise StoreClosedError("the store is closed")
            self._readers.append(reader)
        self._local.reader = reader
        return reader

    def sweep_batch(self) -> SweepResult:
        """One bounded sweep on the calling thread (the sweeper's)."""
        result: SweepResult = self.write(expiry.sweep, self.clock(), SWEEP_BATCH)
        return result
