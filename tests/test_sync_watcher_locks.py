"""A sync watcher and the change feed take their locks in one order: the feed's, the router's, the watcher's.

The feed routes a commit's rows holding its lock and the router's, and hands
each row to a sync watcher under the watcher's own lock (on the committing
thread). A watcher that took its own lock first and then one of the others
(starting, closing) could wait for a thread waiting for it. Each test forces
that moment with hooks: the feed stops while routing until the watcher is
taking the router's lock.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

import sqlkv
from sqlkv._watch.fanout import BucketRouter


def test_closing_a_sync_watcher_while_the_feed_routes_to_it(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    routing, closing = threading.Event(), threading.Event()
    route, remove = BucketRouter._route, BucketRouter.remove

    def slow_route(self: BucketRouter, rows: list[Any], low: int, high: int) -> None:
        if rows and not routing.is_set():
            routing.set()
            assert closing.wait(30)  # the watcher is closing: it now wants this router's lock, which we hold
        route(self, rows, low, high)

    def removing(self: BucketRouter, watcher: Any) -> bool:
        closing.set()
        return remove(self, watcher)

    monkeypatch.setattr(BucketRouter, "_route", slow_route)
    monkeypatch.setattr(BucketRouter, "remove", removing)
    with sqlkv.Store(db_path) as store:
        kv = store.create_bucket("b")
        watcher = kv.watch().start()
        writer = threading.Thread(target=kv.put, args=("k", b"v"))  # its commit routes the row on its thread
        writer.start()
        assert routing.wait(30)
        watcher.close()
        writer.join(30)
        assert not writer.is_alive()
        assert kv.get("k").value == b"v"


def test_a_sync_watcher_starting_while_the_feed_routes_to_it(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The feed's poller routes another store's row while a second watcher tells the feed where its snapshot ended.

    (Rows of this store's own commits are routed after the feed let go of its lock; another store's or
    process's are routed by the poller holding it.)
    """
    from sqlkv._watch.feed import ChangeFeed

    routing = threading.Event()
    route, start_at = BucketRouter._route, ChangeFeed.start_at
    writers: list[threading.Thread] = []

    def routed(self: BucketRouter, rows: list[Any], low: int, high: int) -> None:
        if rows:
            routing.set()  # (the feed's lock and this router's are held: the rows go to the watchers next)
        route(self, rows, low, high)

    with sqlkv.Store(db_path) as store, sqlkv.Store(db_path) as other:
        kv = store.create_bucket("b")
        kv.put("before", b"0")
        first = kv.watch().start()  # the feed now follows the bucket: the next commit is routed at once

        def commit_first(self: ChangeFeed, bucket_id: int, revision: int) -> None:
            if not writers:
                writers.append(threading.Thread(target=other.bucket("b").put, args=("k", b"v")))
                writers[0].start()
                assert routing.wait(30)
            start_at(self, bucket_id, revision)

        monkeypatch.setattr(BucketRouter, "_route", routed)
        monkeypatch.setattr(ChangeFeed, "start_at", commit_first)
        second = kv.watch().start()
        writers[0].join(30)
        assert not writers[0].is_alive()
        assert [e.key for e in second.initial()] == ["before"]
        entry = second.next(timeout=10)  # the row routed while it began: read from the table, not lost
        assert entry is not None and (entry.key, entry.value) == ("k", b"v")
        assert [(e.key) for e in (first.next(timeout=10), first.next(timeout=10)) if e is not None] == ["before", "k"]
        second.close()
        first.close()
