"""AsyncStore: one SQLite file, its buckets, and the two database threads behind them."""

from __future__ import annotations

import enum
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from datetime import timedelta
from types import TracebackType
from typing import Any

import anyio

from . import _catalog, _expiry
from ._bridge import THREAD_PORT, Operation, Port, Request, current_port
from ._bucket import AsyncBucket
from ._checkpoint import Checkpointer
from ._config import BucketConfig
from ._connection import Connection, StoreOptions, open_connection
from ._errors import InvalidArgumentError, StoreClosedError
from ._fanout import Routers
from ._feed import ChangeFeed, Posts
from ._migrations import apply_migrations, load_migrations
from ._sql import BucketSQL
from ._sweeper import Sweeper
from ._validate import check_bucket_name
from ._worker import DatabaseThread

__all__ = ["AsyncStore"]


class _State(enum.Enum):
    UNOPENED = "unopened"
    OPEN = "open"
    CLOSED = "closed"


def _noop(conn: sqlite3.Connection) -> None:
    return None


_CHECKPOINT_EVERY = 256
"""Writes between two nudges of the checkpointer (about 1000 WAL pages of small writes)."""


def _stop_threads(writer: DatabaseThread, reader: DatabaseThread, checkpointer: Checkpointer, sweeper: Sweeper) -> None:
    """Finalizer of a store that was never closed: end its threads without waiting."""
    for thread in (reader, writer):
        try:
            thread.stop()
        except StoreClosedError:
            pass
    for helper in (checkpointer, sweeper):
        if helper is not None:
            threading.Thread(target=helper.stop, daemon=True).start()


class _Unset(enum.Enum):
    UNSET = "unset"


UNSET = _Unset.UNSET
"""Marks an update_bucket() argument that was not given."""

_SWEEP_BATCH = 1000
"""Rows a sweep handles per write transaction."""


class AsyncStore:
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
    store reach them at once).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        durability: str = "normal",
        busy_timeout: float = 30.0,
        poll_interval: float = 0.01,
        clock: Callable[[], int] | None = None,
        auto_sweep: bool = True,
    ) -> None:
        self._options = StoreOptions(path, durability, busy_timeout)
        if clock is not None and not callable(clock):
            raise InvalidArgumentError("clock must be a callable returning nanoseconds since the epoch")
        self._clock: Callable[[], int] = clock or time.time_ns
        self._sweeper: Sweeper | None = None
        self._auto_sweep = bool(auto_sweep)
        if (
            isinstance(poll_interval, bool)
            or not isinstance(poll_interval, (int, float))
            or not (0.0005 <= poll_interval <= 10)
        ):
            raise InvalidArgumentError("poll_interval must be between 0.0005 and 10 seconds")
        self._poll_interval = float(poll_interval)
        self._feed: ChangeFeed | None = None
        self._routers: Routers | None = None
        self._state = _State.UNOPENED
        self._writer: DatabaseThread | None = None
        self._reader: DatabaseThread | None = None
        self._checkpointer: Checkpointer | None = None
        self._writes_since_checkpoint = 0
        self._finalizer: weakref.finalize[..., Any] | None = None

    @property
    def path(self) -> str:
        """The database file."""
        return self._options.path

    @property
    def schema_version(self) -> int:
        """The schema version of the file (the number of migrations applied)."""
        return len(load_migrations())

    @property
    def durability(self) -> str:
        """``"normal"`` or ``"full"``."""
        return self._options.durability

    def __repr__(self) -> str:
        return f"<AsyncStore {self.path!r} {self._state.value}>"

    async def open(self) -> AsyncStore:
        """Start the database threads and apply migrations; return the store."""
        if self._state is not _State.UNOPENED:
            raise StoreClosedError(f"store is {self._state.value}; a store can be opened once")
        options = self._options
        port = current_port()
        self._state = _State.OPEN

        def open_writer() -> sqlite3.Connection:
            conn = open_connection(options, reader=False)
            try:
                apply_migrations(conn)
                conn.execute("PRAGMA wal_autocheckpoint = 0")  # the checkpointer's job
            except BaseException:
                conn.close()
                raise
            return conn

        self._writer = DatabaseThread(
            f"sqlkv-writer:{options.path}",
            open_writer,
            writer=True,
            path=options.path,
            after_commit=self._after_commit,
        )
        try:
            await port.call(self._writer.submit, _noop, ())
            self._checkpointer = Checkpointer(
                lambda: open_connection(options, reader=True), f"sqlkv-checkpoint:{options.path}"
            )
            self._reader = DatabaseThread(
                f"sqlkv-reader:{options.path}",
                lambda: open_connection(options, reader=True),
                writer=False,
                path=options.path,
            )
            await port.call(self._reader.submit, _noop, ())
            if self._auto_sweep:
                self._sweeper = Sweeper(
                    lambda: open_connection(options, reader=True),
                    self._sweep_batch,
                    self._clock,
                    f"sqlkv-sweeper:{options.path}",
                )
        except BaseException:
            await self.aclose()
            raise
        self._finalizer = weakref.finalize(
            self, _stop_threads, self._writer, self._reader, self._checkpointer, self._sweeper
        )
        return self

    def _after_commit(self, conn: Connection, batch: list[Request]) -> Posts | None:
        """Writer thread, after each commit: feed the watchers, nudge the checkpointer.

        Returns the watchers' callbacks, to go to each loop with the batch's results.
        """
        feed = self._feed
        journal, conn.journal = conn.journal, None
        posts: Posts | None = None
        if feed is not None and feed.active:
            written = {r.args[0].bucket_id for r in batch if r.args and isinstance(r.args[0], BucketSQL)}
            posts = {}
            feed.dispatch(conn, written, journal, posts)
            conn.journal = []  # keep the rows of the next batch for the feed
        self._writes_since_checkpoint += len(batch)
        if self._writes_since_checkpoint >= _CHECKPOINT_EVERY and self._checkpointer is not None:
            self._writes_since_checkpoint = 0
            self._checkpointer.nudge()
        return posts

    def _routers_for_watch(self) -> Routers:
        """The store's change feed and watcher routers, created on first watch."""
        self._check_open()
        if self._routers is None:
            options = self._options
            self._feed = ChangeFeed(
                lambda: open_connection(options, reader=True),
                self._poll_interval,
                f"sqlkv-feed:{options.path}",
            )
            self._routers = Routers(self._feed)
        return self._routers

    async def aclose(self) -> None:
        """Finish queued operations, close the connections and end the threads."""
        if self._state is _State.CLOSED:
            return
        self._state = _State.CLOSED
        if self._finalizer is not None:
            self._finalizer.detach()
        port = current_port()
        if self._sweeper is not None:
            sweeper, self._sweeper = self._sweeper, None
            await anyio.to_thread.run_sync(sweeper.stop)
        if self._feed is not None:
            await anyio.to_thread.run_sync(self._feed.close)
        if self._reader is not None:
            await self._stop(port, self._reader)
        if self._checkpointer is not None:
            checkpointer, self._checkpointer = self._checkpointer, None
            await anyio.to_thread.run_sync(checkpointer.stop)
        if self._writer is not None:
            await self._stop(port, self._writer)

    @staticmethod
    async def _stop(port: Port, thread: DatabaseThread) -> None:
        try:
            await port.call(thread.stop, _noop, ())
        except StoreClosedError:
            pass

    async def __aenter__(self) -> AsyncStore:
        return await self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _check_open(self) -> None:
        if self._state is not _State.OPEN:
            if self._state is _State.UNOPENED:
                raise StoreClosedError("store is not open: use `async with AsyncStore(...)`")
            raise StoreClosedError("the store is closed")

    async def _write(self, fn: Operation, *args: Any) -> Any:
        writer = self._writer
        if writer is None:
            self._check_open()
        return await current_port().call(writer.submit, fn, args)  # type: ignore[union-attr]

    async def _read(self, fn: Operation, *args: Any) -> Any:
        reader = self._reader
        if reader is None:
            self._check_open()
        return await current_port().call(reader.submit, fn, args)  # type: ignore[union-attr]

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
        config = BucketConfig(
            history=history,
            ttl=ttl,  # type: ignore[arg-type]
            max_value_size=max_value_size,
            max_bytes=max_bytes,
            description=description,
            metadata=metadata or {},
        )
        record = await self._write(_catalog.create_bucket, name, config)
        if config.ttl is not None and self._sweeper is not None:
            self._sweeper.nudge()
        return AsyncBucket(self, record)

    async def update_bucket(
        self,
        name: str,
        *,
        history: int | _Unset = UNSET,
        ttl: float | timedelta | _Unset | None = UNSET,
        max_value_size: int | _Unset | None = UNSET,
        max_bytes: int | _Unset | None = UNSET,
        description: str | _Unset | None = UNSET,
        metadata: Mapping[str, str] | _Unset | None = UNSET,
    ) -> AsyncBucket:
        """Change the given settings of bucket ``name`` (the others stay) and return the bucket.

        A smaller ``history`` trims every key at once; a new ``ttl`` applies to
        existing entries at once; ``None`` removes a limit. BucketNotFoundError
        if there is no such bucket.
        """
        check_bucket_name(name)
        given = {
            "history": history,
            "ttl": ttl,
            "max_value_size": max_value_size,
            "max_bytes": max_bytes,
            "description": description,
            "metadata": {} if metadata is None else metadata,
        }
        changes = {field: value for field, value in given.items() if value is not UNSET}
        record = await self._write(_catalog.update_bucket, name, changes, self._clock())
        if self._sweeper is not None:
            self._sweeper.nudge()
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
            result: _expiry.SweepResult = await self._write(_expiry.sweep, self._clock(), _SWEEP_BATCH)
            keys, _, more = result
            expired += keys
            if not more:
                return expired

    def _sweep_batch(self) -> _expiry.SweepResult:
        """Sweeper thread: one bounded sweep through the writer."""
        writer = self._writer
        if writer is None:
            raise StoreClosedError("the store is closed")
        result: _expiry.SweepResult = THREAD_PORT.call_blocking(
            writer.submit, _expiry.sweep, (self._clock(), _SWEEP_BATCH)
        )
        return result
