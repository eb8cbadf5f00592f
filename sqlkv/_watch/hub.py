"""A store's watch plumbing: its change feed and routers, made on the first watch and told of every commit."""

from __future__ import annotations

import threading

from .._engine.engine import Engine
from .._runtime.request import Port
from .._storage.statements import BucketSQL
from .fanout import BucketRouter, Routed, Routers
from .feed import ChangeFeed

__all__ = ["WatchHub"]


class WatchHub:
    """The change feed and routers of one store.

    The first watcher creates the feed (and its poller thread) and installs
    it as the engine's commit observer; watchers then join and leave routers
    through the hub. It refers to the engine, never to the store object.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._routers: Routers | None = None

    def clock(self) -> int:
        """Now, on the store's clock (ns)."""
        return self._engine.clock()

    def _new_feed(self) -> ChangeFeed:
        engine = self._engine
        options = engine.options
        return ChangeFeed(
            engine.open_reader,
            options.poll_interval,
            f"sqlkv-feed:{options.path}",
            listen=engine.hint_listener,
            forget=engine.feed_stopped,
            changed=engine.file_changed,
        )

    def _current(self) -> Routers:
        feed = self._engine.observe(self._new_feed)  # StoreClosedError once closing began: no feed made then
        with self._lock:
            routers = self._routers
            if routers is None or routers.feed is not feed:  # the first watch, or a forked child's new feed
                routers = self._routers = Routers(feed)
            return routers

    def join(self, watcher: Routed, sql: BucketSQL, port: Port) -> BucketRouter:
        """Register ``watcher`` for the rows of bucket ``sql`` on ``port``'s loop; StoreClosedError once closed."""
        return self._current().join(watcher, sql, port)

    def start_at(self, bucket_id: int, revision: int) -> None:
        """A watcher's initial snapshot ended at ``revision``: the feed dispatches from there if it has no cursor."""
        routers = self._routers
        if routers is not None:
            routers.feed.start_at(bucket_id, revision)

    def leave(self, watcher: Routed, router: BucketRouter) -> None:
        """Unregister ``watcher`` (idempotent)."""
        routers = self._routers
        if routers is not None:
            routers.leave(watcher, router)

    @property
    def active(self) -> bool:
        """Whether any watcher is subscribed (for tests)."""
        routers = self._routers
        return routers is not None and routers.feed.active
