"""Routing a bucket's new rows to the watchers of one event loop.

The change feed posts each batch of new rows once per (bucket, event loop) to a
:class:`BucketRouter`. The router hands each row only to the watchers that can
want it: watchers of literal keys are indexed by key, so a thousand idle
watchers of other keys cost a writer nothing; watchers with wildcards see every
row and filter it themselves.

Every post covers a revision range ``low < revision <= high``. A watcher that
keeps up is, by construction, up to date with ``router.high``; when a post
starts above ``router.high`` (rows were announced before this router listened)
every live watcher below it falls back to reading the table.
"""

from __future__ import annotations

import threading
from typing import Protocol

from .._runtime.request import Port
from .._storage.connection import Row
from .._storage.statements import BucketSQL
from .feed import ChangeFeed, Subscriber

__all__ = ["BucketRouter", "Routed", "Routers"]


class Routed(Protocol):
    """What a router needs of a watcher (``core.WatcherCore``)."""

    exact_keys: tuple[str, ...] | None

    def offer(self, row: Row) -> None: ...

    def missed(self, router_high: int | None, low: int) -> None: ...

    def end(self) -> None: ...


class BucketRouter:
    """The watchers of one bucket on one event loop."""

    __slots__ = ("_exact", "_lock", "_wild", "high", "subscriber")

    def __init__(self, sql: BucketSQL, port: Port) -> None:
        self.high: int | None = None
        """The highest revision routed so far (None before the first post)."""
        self._exact: dict[str, list[Routed]] = {}
        self._wild: list[Routed] = []
        self._lock = threading.RLock()  # sync watchers' rows come from several threads
        self.subscriber = Subscriber(sql, port, self._on_rows, self._on_close)

    @property
    def lock(self) -> threading.RLock:
        """Held while a post is routed (offers, then ``high``): a watcher taking it sees no post half done.

        Take it before a watcher's own lock, never after: routing takes the feed's lock, then this, then the watcher's.
        """
        return self._lock

    def add(self, watcher: Routed) -> None:
        with self._lock:
            self._add(watcher)

    def _add(self, watcher: Routed) -> None:
        if watcher.exact_keys is None:
            self._wild.append(watcher)
        else:
            for key in watcher.exact_keys:
                self._exact.setdefault(key, []).append(watcher)

    def remove(self, watcher: Routed) -> bool:
        """Forget ``watcher``; True when the router has no watcher left."""
        with self._lock:
            return self._remove(watcher)

    def _remove(self, watcher: Routed) -> bool:
        if watcher.exact_keys is None:
            if watcher in self._wild:
                self._wild.remove(watcher)
        else:
            for key in watcher.exact_keys:
                group = self._exact.get(key)
                if group and watcher in group:
                    group.remove(watcher)
                    if not group:
                        del self._exact[key]
        return not self._wild and not self._exact

    def watchers(self) -> set[Routed]:
        found = set(self._wild)
        for group in self._exact.values():
            found.update(group)
        return found

    def _on_rows(self, rows: list[Row], low: int, high: int) -> None:
        with self._lock:
            self._route(rows, low, high)

    def _route(self, rows: list[Row], low: int, high: int) -> None:
        if self.high is None or low > self.high:
            for watcher in self.watchers():
                watcher.missed(self.high, low)
        exact, wild = self._exact, self._wild
        for row in rows:
            if exact:
                targets = exact.get(row[1])
                if targets:
                    for watcher in targets:
                        watcher.offer(row)
            for watcher in wild:
                watcher.offer(row)
        if self.high is None or high > self.high:
            self.high = high

    def _on_close(self) -> None:
        with self._lock:
            watchers = self.watchers()
        for watcher in watchers:
            watcher.end()


class Routers:
    """A store's routers, one per (bucket, event loop), created and dropped with their watchers."""

    def __init__(self, feed: ChangeFeed) -> None:
        self.feed = feed
        self._lock = threading.Lock()
        self._routers: dict[tuple[int, int], BucketRouter] = {}

    def join(self, watcher: Routed, sql: BucketSQL, port: Port) -> BucketRouter:
        """Register ``watcher``; subscribes a new router to the feed when needed."""
        key = (sql.bucket_id, id(port))
        with self._lock:
            router = self._routers.get(key)
            if router is None:
                router = self._routers[key] = BucketRouter(sql, port)
                self.feed.subscribe(router.subscriber)
            router.add(watcher)
        return router

    def leave(self, watcher: Routed, router: BucketRouter) -> None:
        """Unregister ``watcher``; the last watcher of a router unsubscribes it."""
        with self._lock:
            if router.remove(watcher):
                key = (router.subscriber.sql.bucket_id, id(router.subscriber.port))
                if self._routers.get(key) is router:
                    del self._routers[key]
                self.feed.unsubscribe(router.subscriber)
