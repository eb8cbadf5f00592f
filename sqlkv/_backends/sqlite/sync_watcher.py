"""``Watcher`` of a SQLite store, for threads: the watcher core under a condition variable.

Live rows are handed over by whichever thread committed them (or the
cross-process poller); the watcher's own lock keeps its state consistent,
and a blocked ``next()`` waits on its condition.
"""

from __future__ import annotations

import threading
import time

from ..._api.sync_interface import Watcher
from ..._engine.direct import DirectEngine
from ..._model.entry import Entry
from ..._model.errors import BucketNotFoundError, InvalidArgumentError, StoreClosedError
from ..._model.watch_options import WatchOptions
from ..._runtime.request import THREAD_PORT
from ..._storage import changes
from ..._storage.connection import Row
from ..._storage.statements import BucketSQL
from ..._watch.core import WatcherCore
from ..._watch.hub import WatchHub

__all__ = ["SqliteWatcher"]


class SqliteWatcher(WatcherCore, Watcher):
    """Entries of one bucket as they change, for threads: a blocking iterator and a non-blocking ``poll()``."""

    def __init__(
        self,
        store: object,
        hub: WatchHub,
        engine: DirectEngine,
        sql: BucketSQL,
        options: WatchOptions,
        timeout: float | None,
    ) -> None:
        super().__init__(hub, sql, options)
        self._store = store  # a watcher in use keeps its store open, as a bucket handle does
        self._engine = engine
        self._timeout = timeout
        # Held with `with self._lock` (a C-level __enter__): an exception from a signal handler cannot fall
        # between acquiring it and the block that releases it, as it can inside Condition.__enter__.
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)

    def start(self) -> SqliteWatcher:
        with self._lock:
            self._subscribe(THREAD_PORT)
        try:
            rows, high = self._engine.read(changes.watch_snapshot, *self._snapshot_args())
        except BaseException:
            self.close()
            raise
        # The feed routes rows holding its lock, then the router's, then ours: take them in that order. Not ours
        # while the feed's is taken; the router's around ours, so that no post is half routed while we begin.
        self._start_feed_at(high)
        router = self._router
        with router.lock if router is not None else self._lock, self._lock:
            self._begin(rows, high)
        return self

    def close(self) -> None:
        leave = self._leave
        if leave is not None:  # not under self._lock: leaving takes the router's lock, held by the feed that takes ours
            leave()
        with self._lock:
            super().close()

    def initial(self) -> list[Entry]:
        with self._lock:
            return self._take_initial()

    def _iteration_timeout(self) -> float | None:
        return self._timeout

    def next(self, timeout: float | None = None) -> Entry | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                if not self._started:
                    raise InvalidArgumentError("start the watcher first (with kv.watch(...) as w)")
                if self._closed:
                    return None
                if self._buffer:
                    return self._take()
                gap = self._gap_reached()
                if gap is not None:
                    raise gap
                if not self._lagging:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        return None
                    self._cond.wait(remaining)
                    continue
                args = self._catch_up_args()
            try:
                rows, scanned = self._engine.read(changes.rows_after, *args)
            except (StoreClosedError, BucketNotFoundError):
                with self._lock:
                    self._closed = True
                continue
            with self._lock:
                self._absorb(rows, scanned)

    def poll(self) -> list[Entry]:
        taken: list[Entry] = []
        while True:
            with self._lock:
                if self._closed or not self._started:
                    return taken
                while self._buffer:
                    taken.append(self._take())
                if self._gap_error is not None:
                    if taken:
                        return taken
                    gap = self._gap_reached()
                    if gap is not None:
                        raise gap
                if not self._lagging:
                    return taken
            entry = self.next(0)
            if entry is None:
                return taken
            taken.append(entry)

    # The router calls these from the committing thread or the poller.

    def offer(self, row: Row) -> None:
        with self._lock:
            super().offer(row)

    def missed(self, router_high: int | None, low: int) -> None:
        with self._lock:
            super().missed(router_high, low)

    def end(self) -> None:
        with self._lock:
            super().end()

    def _wake(self) -> None:
        self._cond.notify_all()
