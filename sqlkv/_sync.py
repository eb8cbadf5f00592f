"""The synchronous twin: Store, Bucket and Watcher for desktop code, scripts and GUI threads.

Same buckets, methods, arguments, entries, errors and semantics as the async
API, on the same core (``_ops``, ``_catalog``, ``_expiry``, ``WatcherCore``);
the difference is *where* the SQL runs: on the calling thread, with no thread
hop. Writes share one connection under a lock (SQLite serialises writers
anyway); each thread reads on a connection of its own. After ``fork()`` a
child process opens fresh connections instead of using its parent's.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import timedelta
from types import TracebackType
from typing import Any

from . import _catalog, _expiry, _ops
from ._bridge import THREAD_PORT, Operation, Request, direct_call_error
from ._config import to_seconds
from ._connection import Connection
from ._core import OPEN_STORES, SWEEP_BATCH, UNSET, BucketCore, State, StoreCore, Unset
from ._entry import BucketStatus, Entry
from ._entry import Operation as Op
from ._errors import BucketNotFoundError, KeyExistsError, LockNotAcquiredError, StoreClosedError, WrongLastRevisionError
from ._forkgate import GATE
from ._validate import check_bucket_name, check_key, check_revision
from ._watch import WatcherCore
from ._worker import run_writes

__all__ = ["Bucket", "Lock", "Store", "Watcher"]


_fork_generation = 0
"""Incremented in every forked child, so that a store notices the fork without a getpid() call."""


def _forked() -> None:
    global _fork_generation
    _fork_generation += 1


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked)


class Store(StoreCore):
    """A sqlkv store on one SQLite file, for synchronous code: ``with Store("app.db") as store``.

    Thread-safe; needs no event loop; fine in a GUI thread (a read costs tens
    of microseconds, a write one SQLite commit). Options as for AsyncStore.
    """

    _writer_conn: Connection | None = None
    _fork_generation = -1  # set when opened

    def open(self) -> Store:
        """Open the file (creating it and applying migrations); return the store."""
        if self._state is not State.UNOPENED:
            raise StoreClosedError(f"store is {self._state.value}; a store can be opened once")
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._connect()
        self._state = State.OPEN
        OPEN_STORES.add(self)
        return self

    def _connect(self) -> None:
        from ._connection import map_sqlite_error

        self._pid = os.getpid()
        self._fork_generation = _fork_generation
        try:
            with GATE:
                self._writer_conn = self._open_writer()  # type: ignore[assignment]
        except sqlite3.Error as exc:
            raise map_sqlite_error(exc, self.path) from None
        self._start_helpers(self._sweep_batch)

    def _after_fork(self) -> None:
        """In a forked child: forget the parent's connections and threads, open our own."""
        self._writer_conn = None
        self._local = threading.local()
        self._readers = []
        self._readers_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._feed = self._routers = self._sweeper = self._checkpointer = None
        self._connect()

    def close(self) -> None:
        """End every watcher, stop the helper threads and close every connection (idempotent)."""
        if self._state is not State.OPEN:
            self._state = State.CLOSED
            return
        self._state = State.CLOSED
        OPEN_STORES.discard(self)
        if self._pid != os.getpid():
            return  # a forked child never opened anything of its own
        self._stop_helpers()
        with self._write_lock, GATE:
            if self._writer_conn is not None:
                self._writer_conn.close()
                self._writer_conn = None
        with self._readers_lock, GATE:
            for conn in self._readers:
                conn.close()
            self._readers.clear()

    def __enter__(self) -> Store:
        return self.open()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _ready(self) -> None:
        self._check_open()
        if self._fork_generation != _fork_generation:
            self._after_fork()

    def _write(self, fn: Operation, *args: Any) -> Any:
        if self._fork_generation != _fork_generation or self._state is not State.OPEN:
            self._ready()
        if self._options.read_only:
            self._check_writable()
        request = Request(fn, args, None)
        with self._write_lock, GATE:
            conn = self._writer_conn
            if conn is None:
                raise StoreClosedError("the store is closed")
            run_writes(conn, [request], self.path, self._options.busy_timeout)
            posts = self._after_commit(conn, [request])
            for port, calls in (posts or {}).values():  # under the lock: watchers receive commits in order
                port.deliver([], calls)
        if request.error is not None:
            raise request.error
        return request.result

    def _read(self, fn: Operation, *args: Any) -> Any:
        if self._fork_generation != _fork_generation or self._state is not State.OPEN:
            self._ready()
        conn = getattr(self._local, "conn", None)
        if conn is None:
            with GATE:
                conn = self._local.conn = self._open_reader()
            with self._readers_lock:
                self._readers.append(conn)
        # Reads run outside the fork gate: it would cost more than a point read. A fork from one of your threads
        # while another of yours is inside a read is the general hazard of fork with threads.
        try:
            return fn(conn, *args)
        except sqlite3.Error as exc:
            raise direct_call_error(exc, args, self._options.path) from None

    def _sweep_batch(self) -> _expiry.SweepResult:
        result: _expiry.SweepResult = self._write(_expiry.sweep, self._clock(), SWEEP_BATCH)
        return result

    def create_bucket(
        self,
        name: str,
        *,
        history: int = 1,
        ttl: float | timedelta | None = None,
        max_value_size: int | None = None,
        max_bytes: int | None = None,
        description: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> Bucket:
        """Create a bucket, or return it if it exists with the same configuration (see AsyncStore)."""
        check_bucket_name(name)
        config = self._bucket_config(history, ttl, max_value_size, max_bytes, description, metadata)
        record = self._write(_catalog.create_bucket, name, config)
        if config.ttl is not None:
            self._nudge_sweeper()
        return Bucket(self, record)

    def update_bucket(
        self,
        name: str,
        *,
        history: int | Unset = UNSET,
        ttl: float | timedelta | Unset | None = UNSET,
        max_value_size: int | Unset | None = UNSET,
        max_bytes: int | Unset | None = UNSET,
        description: str | Unset | None = UNSET,
        metadata: Mapping[str, str] | Unset | None = UNSET,
    ) -> Bucket:
        """Change the given settings of bucket ``name`` (see AsyncStore.update_bucket)."""
        check_bucket_name(name)
        changes = self._bucket_changes(
            history=history,
            ttl=ttl,
            max_value_size=max_value_size,
            max_bytes=max_bytes,
            description=description,
            metadata=metadata,
        )
        record = self._write(_catalog.update_bucket, name, changes, self._clock())
        self._nudge_sweeper()
        return Bucket(self, record)

    def bucket(self, name: str) -> Bucket:
        """The existing bucket ``name``; BucketNotFoundError if there is none."""
        check_bucket_name(name)
        return Bucket(self, self._read(_catalog.find_bucket, name))

    def bucket_names(self) -> list[str]:
        """Names of every bucket, sorted."""
        names: list[str] = self._read(_catalog.bucket_names)
        return names

    def delete_bucket(self, name: str) -> None:
        """Delete bucket ``name`` and all its data; BucketNotFoundError if there is none."""
        check_bucket_name(name)
        self._write(_catalog.delete_bucket, name)

    def sweep(self) -> int:
        """Remove every expired entry now; return how many keys expired."""
        expired = 0
        while True:
            keys, _, more = self._sweep_batch()
            expired += keys
            if not more:
                return expired


class Bucket(BucketCore):
    """A handle on one bucket of a :class:`Store`: the methods of AsyncBucket, blocking."""

    __slots__ = ()

    _store: Store

    def put(self, key: str, value: bytes | str, *, ttl: float | timedelta | None = None) -> int:
        """Store ``value`` as the key's new revision; return the revision (``ttl`` as in AsyncBucket.put)."""
        key, data, now, expires = self._value_args(key, value, ttl)
        revision: int = self._store._write(_ops.put, self._sql, key, data, now, expires)
        self._committed(expires)
        return revision

    def create(self, key: str, value: bytes | str, *, ttl: float | timedelta | None = None) -> int:
        """Put only if the key is absent (or deleted, or expired); else KeyExistsError."""
        key, data, now, expires = self._value_args(key, value, ttl)
        revision: int = self._store._write(_ops.create, self._sql, key, data, now, expires)
        self._committed(expires)
        return revision

    def update(self, key: str, value: bytes | str, last: int, *, ttl: float | timedelta | None = None) -> int:
        """Put only if ``last`` is the key's latest revision (0: the key is absent); else WrongLastRevisionError."""
        key, data, now, expires = self._value_args(key, value, ttl)
        last = check_revision(last, name="last", minimum=0)
        revision: int = self._store._write(_ops.update, self._sql, key, data, last, now, expires)
        self._committed(expires)
        return revision

    def delete(self, key: str, *, last: int | None = None) -> int:
        """Write a delete marker (history kept); with ``last``, only if it is the latest revision."""
        key, last = self._marker_args(key, last)
        revision: int = self._store._write(_ops.write_marker, self._sql, key, Op.DEL, last, self._store._clock())
        return revision

    def purge(self, key: str, *, last: int | None = None) -> int:
        """Write a purge marker and drop the key's earlier revisions; ``last`` as for delete."""
        key, last = self._marker_args(key, last)
        revision: int = self._store._write(_ops.write_marker, self._sql, key, Op.PURGE, last, self._store._clock())
        return revision

    def get(self, key: str, *, revision: int | None = None) -> Entry:
        """The key's latest value, or the value at ``revision`` (KeyNotFoundError / KeyDeletedError)."""
        check_key(key)
        if revision is not None:
            check_revision(revision)
        entry: Entry = self._store._read(_ops.get, self._sql, key, revision, self._store._clock())
        return entry

    def history(self, key: str) -> list[Entry]:
        """Every retained revision of the key, oldest first; KeyNotFoundError if none."""
        entries: list[Entry] = self._store._read(_ops.history, self._sql, check_key(key), self._store._clock())
        return entries

    def keys(self, *filters: str) -> list[str]:
        """Live keys, sorted, optionally only those matching any of ``filters`` (NATS wildcards)."""
        plan = self._watch_filters(filters, None)
        found: list[str] = self._store._read(
            _ops.keys, self._sql, plan["matcher"], plan["prefix"], self._store._clock()
        )
        return found

    def purge_deletes(self, *, older_than: float | timedelta | None = None) -> int:
        """Drop the history of deleted keys, and their markers once older than ``older_than`` (30 min)."""
        threshold = self._purge_threshold(older_than)
        removed: int = self._store._write(_expiry.purge_deletes, self._sql, self._store._clock(), threshold)
        return removed

    def status(self) -> BucketStatus:
        """Counts, sizes and configuration of the bucket (O(1))."""
        result: BucketStatus = self._store._read(_ops.status, self._sql)
        return result

    def _recount(self) -> tuple[int, int, int]:
        counted: tuple[int, int, int] = self._store._read(_ops.recount, self._sql)
        return counted

    def watch(
        self,
        *filters: str,
        include_history: bool = False,
        ignore_deletes: bool = False,
        meta_only: bool = False,
        updates_only: bool = False,
        from_revision: int | None = None,
        buffer_size: int = 1024,
        timeout: float | None = None,
    ) -> Watcher:
        """A blocking stream of the bucket's changes: ``with kv.watch("a.>") as w: for entry in w: ...``.

        The options of AsyncBucket.watch; ``timeout`` ends the iteration when no
        entry came for that many seconds (None: wait for ever). For a GUI main
        loop, call ``watcher.poll()`` from a timer instead: it never blocks.
        """
        return Watcher(
            **self._watcher_options(
                filters,
                include_history=include_history,
                ignore_deletes=ignore_deletes,
                meta_only=meta_only,
                updates_only=updates_only,
                from_revision=from_revision,
                buffer_size=buffer_size,
            ),
            timeout=timeout,
        )

    def lock(self, key: str, *, ttl: float | timedelta = 10.0, wait: bool = True, timeout: float | None = None) -> Lock:
        """An exclusive lock on ``key`` (the AsyncBucket.lock recipe): ``with kv.lock("file.txt") as lock:``."""
        return Lock(self, check_key(key), to_seconds(ttl, "ttl"), wait, timeout)


class Watcher(WatcherCore):
    """Entries of one bucket as they change, for threads: a blocking iterator and a non-blocking ``poll()``.

    Live rows are handed over by whichever thread committed them (or the
    cross-process poller); the watcher's own lock keeps its state consistent.
    """

    def __init__(self, *args: Any, timeout: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0):
            from ._errors import InvalidArgumentError

            raise InvalidArgumentError("timeout must be None or a number of seconds >= 0")
        self._timeout = timeout
        self._cond = threading.Condition(threading.RLock())

    @property
    def _sync_store(self) -> Store:
        return self._store  # type: ignore[return-value]

    def start(self) -> Watcher:
        """Subscribe to the change feed and load the initial entries."""
        with self._cond:
            self._subscribe(THREAD_PORT)
        try:
            rows, high = self._sync_store._read(_ops.watch_snapshot, *self._snapshot_args())
        except BaseException:
            self.close()
            raise
        with self._cond:
            self._begin(rows, high)
        return self

    def __enter__(self) -> Watcher:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        with self._cond:
            super().close()

    def initial(self) -> list[Entry]:
        """Take the initial entries not yet taken, as a list; iteration then yields live entries."""
        with self._cond:
            return self._take_initial()

    def __iter__(self) -> Iterator[Entry]:
        return self

    def __next__(self) -> Entry:
        entry = self.next(self._timeout)
        if entry is None:
            raise StopIteration
        return entry

    def next(self, timeout: float | None = None) -> Entry | None:
        """The next entry, waiting up to ``timeout`` seconds (None: for ever); None if none came or closed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._cond:
                if not self._started:
                    from ._errors import InvalidArgumentError

                    raise InvalidArgumentError("start the watcher first (with kv.watch(...) as w)")
                if self._closed:
                    return None
                if self._buffer:
                    return self._take()
                if not self._lagging:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        return None
                    self._cond.wait(remaining)
                    continue
                args = self._catch_up_args()
            try:
                rows, scanned = self._sync_store._read(_ops.rows_after, *args)
            except (StoreClosedError, BucketNotFoundError):
                with self._cond:
                    self._closed = True
                continue
            with self._cond:
                self._absorb(rows, scanned)

    def poll(self) -> list[Entry]:
        """Every entry available now, without blocking (catching up from the table if needed): for GUI timers."""
        taken: list[Entry] = []
        while True:
            with self._cond:
                if self._closed or not self._started:
                    return taken
                while self._buffer:
                    taken.append(self._take())
                if not self._lagging:
                    return taken
            entry = self.next(0)
            if entry is None:
                return taken
            taken.append(entry)

    # The router calls these from the committing thread or the poller.

    def offer(self, row: _ops.Row) -> None:
        with self._cond:
            super().offer(row)

    def missed(self, router_high: int | None, low: int) -> None:
        with self._cond:
            super().missed(router_high, low)

    def end(self) -> None:
        with self._cond:
            super().end()

    def _wake(self) -> None:
        self._cond.notify_all()


class Lock:
    """The lock recipe of AsyncLock for threads: ``with kv.lock("file.txt", ttl=10) as lock:``.

    A daemon thread refreshes the lock every ``ttl/3`` while it is held.
    """

    def __init__(self, bucket: Bucket, key: str, ttl: float, wait: bool, timeout: float | None) -> None:
        from ._lock import AsyncLock

        self._bucket = bucket
        self.key = key
        self.ttl = ttl
        self._wait = wait
        self._timeout = timeout
        self.holder = AsyncLock.new_holder()
        self.revision = 0
        self.lost = False
        self._stop = threading.Event()
        self._refresher: threading.Thread | None = None

    def acquire(self) -> None:
        """Take the lock, waiting as configured; LockNotAcquiredError if it cannot be had."""
        bucket = self._bucket
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        with bucket.watch(self.key, updates_only=True) as watcher:
            while True:
                try:
                    self.revision = bucket.create(self.key, self.holder, ttl=self.ttl)
                    return
                except KeyExistsError:
                    if not self._wait:
                        raise LockNotAcquiredError(f"lock {bucket.name} > {self.key} is held") from None
                bucket._store._nudge_sweeper()
                remaining = self.ttl if deadline is None else min(self.ttl, deadline - time.monotonic())
                if remaining <= 0:
                    raise LockNotAcquiredError(f"lock {bucket.name} > {self.key} still held after {self._timeout:g} s")
                end = time.monotonic() + remaining
                while (left := end - time.monotonic()) > 0:
                    entry = watcher.next(left)
                    if entry is None or entry.operation is not Op.PUT:
                        break

    def _refresh(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                self.revision = self._bucket.update(self.key, self.holder, self.revision, ttl=self.ttl)
            except WrongLastRevisionError:
                self.lost = True
                return
            except StoreClosedError:
                return

    def release(self) -> None:
        """Let go of the lock (only if this holder still has it)."""
        self._stop.set()
        if self._refresher is not None:
            self._refresher.join()
        if not self.lost:
            try:
                self._bucket.delete(self.key, last=self.revision)
            except WrongLastRevisionError:
                self.lost = True

    def __enter__(self) -> Lock:
        self.acquire()
        self._refresher = threading.Thread(target=self._refresh, name=f"sqlkv-lock:{self.key}", daemon=True)
        self._refresher.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
