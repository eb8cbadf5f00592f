"""AsyncStore: one SQLite file, its buckets, and the database threads behind them."""

from __future__ import annotations

import sqlite3
import threading
import weakref
from collections.abc import Mapping
from datetime import timedelta
from types import TracebackType
from typing import Any

import anyio

from . import _catalog, _expiry, _ops
from ._bridge import THREAD_PORT, Operation, Port, current_port
from ._bucket import AsyncBucket
from ._checkpoint import Checkpointer
from ._core import OPEN_STORES, SWEEP_BATCH, UNSET, State, StoreCore, Unset
from ._errors import StoreClosedError
from ._sql import SMALL_VALUE
from ._sweeper import Sweeper
from ._validate import check_bucket_name
from ._worker import DatabaseThread

__all__ = ["AsyncStore"]


def _noop(conn: sqlite3.Connection) -> None:
    return None


INLINE_WRITES: dict[Operation, Operation] = {
    _ops.put: _ops.put_small,
    _ops.create: _ops.create_small,
    _ops.update: _ops.update_small,
    _ops.write_marker: _ops.write_marker_small,
}
"""Writes of one key (one short transaction), and the variant each runs on a loop: see INLINE_READS."""

INLINE_READS: dict[Operation, Operation] = {_ops.get: _ops.get_small, _ops.status: _ops.status}
"""Point reads, and the variant each runs on a loop. A variant raises RunOnThread where a value over SMALL_VALUE
would be read or freed (its overflow pages walked): the operation then goes to the database thread."""


def _small(args: tuple[Any, ...]) -> bool:
    """Whether no value among ``args`` is over SMALL_VALUE (larger ones are written on the writer thread)."""
    return not any(isinstance(arg, bytes) and len(arg) > SMALL_VALUE for arg in args)


def _stop_threads(
    writer: DatabaseThread, reader: DatabaseThread, checkpointer: Checkpointer | None, sweeper: Sweeper | None
) -> None:
    """Finalizer of a store that was never closed: end its threads without waiting."""
    for thread in (reader, writer):
        try:
            thread.stop()
        except StoreClosedError:
            pass
    for helper in (checkpointer, sweeper):
        if helper is not None:
            threading.Thread(target=helper.stop, daemon=True).start()


class AsyncStore(StoreCore):
    """A sqlkv store on one SQLite file, for asyncio and trio code.

    Open it with ``async with AsyncStore(path) as store`` (or ``await
    store.open()`` and later ``await store.aclose()``). Opening creates the
    file if needed (mode 0600) and applies the schema migrations.

    ``durability="normal"`` (WAL, ``synchronous=NORMAL``) survives a crash of
    the process; a power loss may lose the last commits. ``"full"`` syncs
    the WAL on every commit (group commit shares one sync among the writes
    of a batch). ``busy_timeout`` bounds how long a write waits for another
    process's lock before StoreBusyError. ``poll_interval`` is how often
    watchers look for commits made by other processes (commits through this
    store reach them at once). ``clock`` (nanoseconds since the epoch, default
    ``time.time_ns``) stamps entries and decides expiry: tests can drive time.
    ``auto_sweep=False`` turns the background sweeper off (expired entries are
    still never returned; ``await store.sweep()`` removes them).
    ``read_only=True`` opens an existing store without ever writing the file:
    reads and watches work, every write raises StorageError.
    ``inline=True`` (the default) lets a lone small operation (a get, or a
    write of one key with a value up to 16 KiB) run on the event loop's
    thread while the database thread is idle, instead of paying a thread hop:
    it holds the loop for the operation's SQL (tens of microseconds) and
    never waits there on another process's lock. ``inline=False`` sends every
    operation to the database threads.
    """

    _writer: DatabaseThread | None = None
    _reader: DatabaseThread | None = None
    _finalizer: weakref.finalize[..., Any] | None = None

    def __init__(self, path: Any, *, inline: bool = True, **options: Any) -> None:
        super().__init__(path, **options)
        self._inline = bool(inline)
        durable = self._options.durability == "full"  # a commit syncs the disk: never on the loop
        self._inline_writes = INLINE_WRITES if inline and not durable and not self.read_only else {}
        self._inline_reads = INLINE_READS if inline else {}

    @property
    def inline(self) -> bool:
        """Whether lone small operations may run on the event loop's thread (see the class docstring)."""
        return self._inline

    def __new__(cls, path: Any, *args: Any, **kwargs: Any) -> AsyncStore:
        """``AsyncStore("nats://host:4222")`` gives the same API on a NATS server (see ``_nats.NatsStore``)."""
        if cls is AsyncStore:
            from ._nats import NatsStore, is_nats_url

            if is_nats_url(path):
                return object.__new__(NatsStore)
        return object.__new__(cls)

    async def open(self) -> AsyncStore:
        """Start the database threads and apply migrations; return the store."""
        if self._state is not State.UNOPENED:
            raise StoreClosedError(f"store is {self._state.value}; a store can be opened once")
        path = self._options.path
        port = current_port()
        self._state = State.OPEN
        self._writer = DatabaseThread(  # a read-only store never sends it a write: no transactions to open
            f"sqlkv-writer:{path}",
            self._open_writer,
            writer=not self.read_only,
            path=path,
            busy_timeout=self._options.busy_timeout,
            after_commit=self._after_commit,
        )
        try:
            await port.call(self._writer.submit, _noop, ())
            self._reader = DatabaseThread(f"sqlkv-reader:{path}", self._open_reader, writer=False, path=path)
            await port.call(self._reader.submit, _noop, ())
            self._start_helpers(self._sweep_batch)
        except BaseException:
            await self.aclose()
            raise
        self._finalizer = weakref.finalize(
            self, _stop_threads, self._writer, self._reader, self._checkpointer, self._sweeper
        )
        OPEN_STORES.add(self)
        return self

    async def aclose(self) -> None:
        """Finish queued operations, end every watcher, close the connections and end the threads."""
        if self._state is State.CLOSED:
            return
        self._state = State.CLOSED
        OPEN_STORES.discard(self)
        if self._finalizer is not None:
            self._finalizer.detach()
        port = current_port()
        await anyio.to_thread.run_sync(self._stop_helpers)
        for thread in (self._reader, self._writer):
            if thread is not None:
                await self._stop(port, thread)

    @staticmethod
    async def _stop(port: Port, thread: DatabaseThread) -> None:
        try:
            await port.call(thread.stop, _noop, ())
        except StoreClosedError:
            pass

    async def __aenter__(self) -> AsyncStore:
        return await self.open()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _write(self, fn: Operation, *args: Any) -> Any:
        writer = self._writer
        if writer is None:
            self._check_open()
        if self._options.read_only:
            self._check_writable()
        port = current_port()
        if not port.active:
            here = self._inline_writes.get(fn)
            if here is not None and _small(args):
                return await port.call_here(writer, fn, args, here)  # type: ignore[arg-type]
        return await port.call(writer.submit, fn, args)  # type: ignore[union-attr]

    async def _read(self, fn: Operation, *args: Any) -> Any:
        reader = self._reader
        if reader is None:
            self._check_open()
        port = current_port()
        if not port.active:
            here = self._inline_reads.get(fn)
            if here is not None:
                return await port.call_here(reader, fn, args, here)  # type: ignore[arg-type]
        return await port.call(reader.submit, fn, args)  # type: ignore[union-attr]

    def _sweep_batch(self) -> _expiry.SweepResult:
        """Sweeper thread: one bounded sweep through the writer."""
        writer = self._writer
        if writer is None:
            raise StoreClosedError("the store is closed")
        result: _expiry.SweepResult = THREAD_PORT.call_blocking(
            writer.submit, _expiry.sweep, (self._clock(), SWEEP_BATCH)
        )
        return result

    async def create_bucket(
        self,
        name: str,
        *,
        history: int = 1,
        ttl: float | timedelta | None = None,
        max_value_size: int | None = None,
        max_bytes: int | None = None,
        description: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> AsyncBucket:
        """Create a bucket, or return it if it exists with the same configuration.

        A bucket of that name with another configuration raises
        BucketExistsError. ``history`` (1-64) is how many revisions each key
        keeps, delete and purge markers included; ``ttl`` (seconds or a
        timedelta) the maximum age of every entry; ``max_value_size`` and
        ``max_bytes`` limit a value and the whole bucket (see BucketConfig).
        """
        check_bucket_name(name)
        config = self._bucket_config(history, ttl, max_value_size, max_bytes, description, metadata)
        record = await self._write(_catalog.create_bucket, name, config)
        if config.ttl is not None:
            self._nudge_sweeper()
        return AsyncBucket(self, record)

    async def update_bucket(
        self,
        name: str,
        *,
        history: int | Unset = UNSET,
        ttl: float | timedelta | Unset | None = UNSET,
        max_value_size: int | Unset | None = UNSET,
        max_bytes: int | Unset | None = UNSET,
        description: str | Unset | None = UNSET,
        metadata: Mapping[str, str] | Unset | None = UNSET,
    ) -> AsyncBucket:
        """Change the given settings of bucket ``name`` (the others stay) and return the bucket.

        A smaller ``history`` trims every key at once; a new ``ttl`` applies to
        existing entries at once; ``None`` removes a limit. BucketNotFoundError
        if there is no such bucket.
        """
        check_bucket_name(name)
        changes = self._bucket_changes(
            history=history,
            ttl=ttl,
            max_value_size=max_value_size,
            max_bytes=max_bytes,
            description=description,
            metadata=metadata,
        )
        record = await self._write(_catalog.update_bucket, name, changes, self._clock())
        self._nudge_sweeper()
        return AsyncBucket(self, record)

    async def bucket(self, name: str) -> AsyncBucket:
        """The existing bucket ``name``; BucketNotFoundError if there is none."""
        check_bucket_name(name)
        return AsyncBucket(self, await self._read(_catalog.find_bucket, name))

    async def bucket_names(self) -> list[str]:
        """Names of every bucket, sorted."""
        names: list[str] = await self._read(_catalog.bucket_names)
        return names

    async def delete_bucket(self, name: str) -> None:
        """Delete bucket ``name`` and all its data; BucketNotFoundError if there is none."""
        check_bucket_name(name)
        await self._write(_catalog.delete_bucket, name)

    async def sweep(self) -> int:
        """Remove every expired entry now (the sweeper does it on its own); return how many keys expired.

        Each batch is one short write transaction; watchers receive an EXPIRE
        entry for every key whose value expired.
        """
        expired = 0
        while True:
            result: _expiry.SweepResult = await self._write(_expiry.sweep, self._clock(), SWEEP_BATCH)
            keys, _, more = result
            expired += keys
            if not more:
                return expired
