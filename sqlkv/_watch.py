"""AsyncWatcher: a live change stream of one bucket as an async iterator.

A watcher first delivers its *initial* entries (the latest entry of every
matching key, or every retained entry with ``include_history``, or every
entry from ``from_revision`` on), in revision order, then live entries in
revision order. The end of the initial entries is an explicit state, never an
item in the stream: ``watcher.initial_done`` becomes true when the last
initial entry has been taken (at once when there are none), and ``await
watcher.initial()`` returns the initial entries as a list.

Memory is bounded: live rows wait in a buffer of ``buffer_size`` rows; when it
is full the watcher stops buffering and, once its consumer has drained the
buffer, reads the missed rows from the table starting at its own last
revision, page by page, until it has caught up.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, cast

import anyio

from . import _ops
from ._bridge import AsyncioPort, current_port
from ._entry import Entry, Operation, make_entry
from ._errors import BucketNotFoundError, InvalidArgumentError, StoreClosedError
from ._validate import KeyMatcher

if TYPE_CHECKING:
    from ._bridge import Port
    from ._fanout import BucketRouter, Routers
    from ._sql import BucketSQL
    from ._store import AsyncStore


class WatchEngine(Protocol):
    """What a watcher needs from its store (async or sync)."""

    _routers: Routers | None

    def _routers_for_watch(self) -> Routers: ...

    def _clock(self) -> int: ...


__all__ = ["AsyncWatcher", "WatchEngine", "WatcherCore"]

_PUT = int(Operation.PUT)
_CATCH_UP_PAGE = 512


class WatcherCore:
    """The state of a watcher, shared by the async and the sync watcher: no I/O, no waiting.

    Subclasses load the snapshot, wait for entries and read the table when
    lagging; this class keeps the buffer, the revision bookkeeping and the
    router callbacks, and calls ``_wake()`` when a consumer may proceed.
    """

    def __init__(
        self,
        store: WatchEngine,
        sql: BucketSQL,
        matcher: KeyMatcher | None,
        prefix: str,
        *,
        exact_keys: tuple[str, ...] | None,
        include_history: bool,
        ignore_deletes: bool,
        meta_only: bool,
        updates_only: bool,
        from_revision: int | None,
        buffer_size: int,
    ) -> None:
        if updates_only and (include_history or from_revision is not None):
            raise InvalidArgumentError("updates_only cannot be combined with include_history or from_revision")
        if isinstance(buffer_size, bool) or not isinstance(buffer_size, int) or buffer_size < 1:
            raise InvalidArgumentError("buffer_size must be a positive int")
        self._store = store
        self._sql = sql
        self._matcher = matcher
        self._prefix = prefix
        self.exact_keys = exact_keys
        """The literal keys watched, or None when a filter has wildcards (or there is none)."""
        self._ignore_deletes = ignore_deletes
        self._meta_only = meta_only
        if updates_only:
            self._mode, self._start = "none", 0
        elif from_revision is not None:
            self._mode, self._start = "all", from_revision
        elif include_history:
            self._mode, self._start = "all", 1
        else:
            self._mode, self._start = "latest", 0
        self._buffer_size = buffer_size
        self._buffer: deque[_ops.Row] = deque()
        self._initial_left = 0
        # Every revision up to _last was considered (buffered or filtered out). While live, the
        # watcher is also up to date with its router's high mark; while lagging, rows above _last
        # must be read from the table.
        self._last = 0
        self._lagging = True
        self._closed = False
        self._started = False
        self._router: BucketRouter | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def _subscribe(self, port: Port) -> None:
        if self._started:
            raise InvalidArgumentError("a watcher can be started once")
        self._started = True
        self._router = self._store._routers_for_watch().join(self, self._sql, port)

    def _snapshot_args(self) -> tuple[object, ...]:
        return (self._sql, self._mode, self._prefix, self._start, self._store._clock())

    def _begin(self, rows: list[_ops.Row], high: int) -> None:
        """The initial snapshot arrived: buffer its entries, then go live if nothing was missed."""
        routers = self._store._routers
        if routers is not None:
            routers.feed.start_at(self._sql.bucket_id, high)
        self._last = max(self._last, high)
        initial = [row for row in rows if self._wanted(row)]
        self._buffer.extend(initial)
        self._initial_left = len(initial)
        self._try_go_live()

    def close(self) -> None:
        """Stop watching (idempotent); iteration then ends."""
        self._closed = True
        router, self._router = self._router, None
        if router is not None and self._store._routers is not None:
            self._store._routers.leave(self, router)
        self._wake()

    # -- state -----------------------------------------------------------------------------------

    @property
    def initial_done(self) -> bool:
        """True once every initial entry has been taken (at once if there were none)."""
        return self._started and self._initial_left == 0

    @property
    def last_revision(self) -> int:
        """The highest revision this watcher has considered so far: resume a later watch after it."""
        router = self._router
        if not self._lagging and router is not None and router.high is not None:
            return max(self._last, router.high)
        return self._last

    def _take_initial(self) -> list[Entry]:
        if not self._started:
            raise InvalidArgumentError("start the watcher first (with kv.watch(...) as w)")
        entries = []
        while self._initial_left:
            entries.append(self._take())
        return entries

    def _take(self) -> Entry:
        revision, key, op, value, created = self._buffer.popleft()
        if self._initial_left:
            self._initial_left -= 1
            delta = self._initial_left
        else:
            delta = len(self._buffer)
        value = b"" if self._meta_only else value
        return make_entry(self._sql.bucket, key, value, revision, created, delta, op)

    def _wanted(self, row: _ops.Row) -> bool:
        if self._ignore_deletes and row[2] != _PUT:
            return False
        return self._matcher is None or self._matcher(row[1])

    def _catch_up_args(self) -> tuple[object, ...]:
        return (self._sql, self._last, _CATCH_UP_PAGE)

    def _absorb(self, rows: list[_ops.Row], scanned: int) -> None:
        """Rows read from the table while lagging."""
        for row in rows:
            if row[0] > self._last and self._wanted(row):
                self._buffer.append(row)
        self._last = max(self._last, scanned)
        if len(rows) < _CATCH_UP_PAGE:
            self._try_go_live()

    def _try_go_live(self) -> None:
        """Switch to live buffering if nothing routed so far lies above _last (no await in between)."""
        router = self._router
        high = router.high if router is not None else None
        if high is None or self._last >= high:
            self._lagging = False

    # -- router callbacks (run on this watcher's event loop) -------------------------------------

    def offer(self, row: _ops.Row) -> None:
        """A new row of a watched key (or of the bucket, for wildcard watchers)."""
        if self._lagging or self._closed:
            return
        revision = row[0]
        if revision <= self._last:
            return
        if len(self._buffer) >= self._buffer_size:
            self._lagging = True  # this row and the rest are read from the table once the buffer drains
            self._last = revision - 1
            return
        self._last = revision
        if self._wanted(row):
            self._buffer.append(row)
            self._wake()

    def missed(self, router_high: int | None, low: int) -> None:
        """Rows up to ``low`` were announced before the router saw them: read them if they are ours."""
        if self._lagging or self._closed:
            return
        if router_high is not None and router_high > self._last:
            self._last = router_high  # a live watcher is up to date with its router
        if self._last < low:
            self._lagging = True
            self._wake()

    def end(self) -> None:
        """The store closed or the bucket was deleted."""
        self._closed = True
        self._router = None
        self._wake()

    def _wake(self) -> None:
        """A consumer may proceed (an entry arrived, the watcher lags or ended)."""


class AsyncWatcher(WatcherCore):
    """Entries of one bucket as they change; use as ``async with kv.watch() as w: async for e in w``."""

    _wakeup: anyio.Event | None = None
    """What waiting consumers wait on (trio, or asyncio without bare futures); shared by all of them."""
    _waiters: list[asyncio.Future[None]] | None = None
    """On asyncio, each waiting consumer's bare future: ~5 µs cheaper per wake-up than an anyio.Event."""
    _new_future: Callable[[], asyncio.Future[None]] | None = None

    @property
    def _async_store(self) -> AsyncStore:
        return cast("AsyncStore", self._store)

    async def __aenter__(self) -> AsyncWatcher:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def start(self) -> None:
        """Subscribe to the change feed and load the initial entries."""
        port = current_port()
        loop = port.loop if isinstance(port, AsyncioPort) else None
        if loop is not None:
            self._new_future = loop.create_future
        self._subscribe(port)
        try:
            rows, high = await self._async_store._read(_ops.watch_snapshot, *self._snapshot_args())
        except BaseException:
            self.close()
            raise
        self._begin(rows, high)

    async def initial(self) -> list[Entry]:
        """Take the initial entries not yet taken, as a list; iteration then yields live entries."""
        return self._take_initial()

    def __aiter__(self) -> AsyncWatcher:
        return self

    async def __anext__(self) -> Entry:
        if not self._started:
            raise InvalidArgumentError("start the watcher first (async with kv.watch(...) as w)")
        while True:
            if self._closed:
                raise StopAsyncIteration
            if self._buffer:
                return self._take()
            if self._lagging:
                try:
                    rows, scanned = await self._async_store._read(_ops.rows_after, *self._catch_up_args())
                except (StoreClosedError, BucketNotFoundError):
                    self._closed = True
                    continue
                self._absorb(rows, scanned)
                continue
            # Several tasks may iterate one watcher: each entry goes to one of them, and every waiting task is
            # woken (a future each, since cancelling a task cancels the future it awaits).
            if self._new_future is not None:
                future = self._new_future()
                waiters = self._waiters
                if waiters is None:
                    waiters = self._waiters = []
                waiters.append(future)
                try:
                    await future
                finally:
                    if waiters and future in waiters:  # cancelled before a wake-up
                        waiters.remove(future)
            else:
                wakeup = self._wakeup
                if wakeup is None:
                    wakeup = self._wakeup = anyio.Event()
                await wakeup.wait()

    def _wake(self) -> None:
        waiters = self._waiters
        if waiters:
            for future in waiters:
                if not future.done():
                    future.set_result(None)
            waiters.clear()
        if self._wakeup is not None:
            self._wakeup.set()
            self._wakeup = None
