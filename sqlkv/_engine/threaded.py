"""Where an ``AsyncStore``'s operations run: two database threads behind the event loop, or the loop itself.

The writer thread owns the write connection and commits in groups; the
reader thread owns a ``query_only`` connection and reads in snapshots. A
lone small operation may run on the loop's own thread instead (``inline``).
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

from .._model.entry import Entry
from .._model.errors import StoreClosedError
from .._model.options import StoreOptions
from .._runtime.ports import current_port
from .._runtime.request import THREAD_PORT, Port, StorageCall
from .._storage import expiry
from .._storage.expiry import SweepResult
from .engine import SWEEP_BATCH, Engine
from .inline import INLINE_READS, INLINE_WRITES, call_here, small_values
from .worker import DatabaseThread

__all__ = ["LONE_WAIT", "ThreadedEngine"]

LONE_WAIT = 5.0
"""Seconds a close waits at most for lone operations under way (each is one yield and a small operation long;
a loop that stopped running would otherwise hold the close for good)."""


def _noop(conn: sqlite3.Connection) -> None:
    return None


class ThreadedEngine(Engine):
    """A store's database threads, and the choice, for each operation, of where it runs."""

    not_open_message = "store is not open: use `async with AsyncStore(...)` or `await store.open()`"

    def __init__(self, options: StoreOptions, *, inline: bool) -> None:
        super().__init__(options)
        self.inline = bool(inline)
        durable = options.durability == "full"  # a commit syncs the disk: never on the loop
        self._inline_writes = INLINE_WRITES if inline and not durable and not options.read_only else {}
        self._inline_reads = INLINE_READS if inline else {}
        self.writer: DatabaseThread | None = None
        self.reader: DatabaseThread | None = None

    async def start(self) -> None:
        """Start the database threads (the writer applies migrations) and the helper threads."""
        path = self.options.path
        port = current_port()
        self.writer = DatabaseThread(  # a read-only store never sends it a write: no transactions to open
            f"sqlkv-writer:{path}",
            self.open_writer,
            writer=not self.options.read_only,
            path=path,
            busy_timeout=self.options.busy_timeout,
            after_commit=self.after_commit,
            redeliver=self.redeliver,
        )
        await port.call(self.writer.submit, _noop, ())
        self.reader = DatabaseThread(f"sqlkv-reader:{path}", self.open_reader, writer=False, path=path)
        await port.call(self.reader.submit, _noop, ())
        self.start_helpers()
        self.open = True

    async def stop(self) -> None:
        """Finish queued operations, end every watcher and helper, close the connections, end the threads."""
        import anyio

        self.open, self.closed = False, True
        self.read_cache.close()
        await anyio.to_thread.run_sync(self._stop_all)

    def _stop_all(self) -> None:
        """Let lone operations under way finish, stop the helpers, then the database threads; wait until each ended.

        A lone operation (``inline.call_here``) that began before the close is
        not queued yet while it lets the other tasks of its loop run once: it is
        waited for (its loop is free meanwhile), so that it is not refused.
        """
        for thread in (self.writer, self.reader):
            if thread is not None:
                thread.wait_for_lone(LONE_WAIT)
        self.stop_helpers()
        # One after the other, the writer last: a connection that closes while another is still open leaves the
        # -wal and -shm files, and two closing at the same moment can each see the other (both files then stay).
        for thread in (self.reader, self.writer):
            if thread is not None:
                try:
                    thread.stop()
                except StoreClosedError:  # stopped already (close_nowait, a fork)
                    continue
                thread.join()  # not just its last answer: the thread itself is gone when close returns
        self.hints.close()

    def stop_nowait(self) -> None:
        """End every thread without waiting and without an event loop (a store dropped or closed in a hurry).

        Queued operations still run; later ones get StoreClosedError. Each
        thread closes its own connection as it ends.
        """
        self.open, self.closed = False, True
        self.read_cache.close()
        for thread in (self.reader, self.writer):
            if thread is not None:
                try:
                    thread.stop()
                except StoreClosedError:
                    pass
        threading.Thread(target=self.stop_helpers, name="sqlkv-closing", daemon=True).start()

    def write_connection(self) -> sqlite3.Connection | None:
        writer = self.writer
        return None if writer is None else writer.connection

    async def write(self, fn: StorageCall, *args: Any) -> Any:
        """Run ``fn(conn, *args)`` on the write connection: on the loop when alone and small, else the writer."""
        writer = self.writer
        if writer is None:
            raise StoreClosedError(self.not_open_message)
        if self.options.read_only:
            self.check_writable()
        port: Port = current_port()
        if not port.active:
            here = self._inline_writes.get(fn)
            if here is not None and small_values(args):
                return await call_here(port, writer, fn, args, here)
        return await port.call(writer.submit, fn, args)

    async def read(self, fn: StorageCall, *args: Any) -> Any:
        """Run ``fn(conn, *args)`` on a read connection: on the loop when alone, else the reader thread."""
        reader = self.reader
        if reader is None:
            raise StoreClosedError(self.not_open_message)
        port: Port = current_port()
        if not port.active:
            here = self._inline_reads.get(fn)
            if here is not None:
                return await call_here(port, reader, fn, args, here)
        return await port.call(reader.submit, fn, args)

    async def served(self, entry: Entry) -> Entry:
        """``entry``, from the read cache, after the schedule point every operation has (``yield_once``)."""
        await current_port().yield_once()
        return entry

    def sweep_batch(self) -> SweepResult:
        """Sweeper thread: one bounded sweep through the writer."""
        writer = self.writer
        if writer is None:
            raise StoreClosedError("the store is closed")
        result: SweepResult = THREAD_PORT.call_blocking(writer.submit, expiry.sweep, (self.clock(), SWEEP_BATCH))
        return result
