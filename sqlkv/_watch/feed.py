"""The change feed: one per store, it reads new rows once per commit and fans them out to watchers.

Rows reach the feed two ways:

* **commits through this store**: right after COMMIT, the writer thread reads
  the rows above the feed's cursor of every watched bucket it wrote and posts
  them to the watchers' event loops (one post per loop and batch);
* **commits by other processes or store objects**: a poller thread reads
  every watched bucket above its cursor when another process's commit sends
  it a wake-up hint (``_engine/hints.py``), and checks ``PRAGMA data_version``
  on its own connection once the hints pause (a safety look every
  ``HINTED_POLL`` seconds), or every ``poll_interval`` seconds where hints
  cannot work; when it moved, it reads every watched bucket above its cursor.

A per-bucket cursor (the highest revision dispatched) makes both paths deliver
each row once and in revision order. The feed never waits for a watcher: each
watcher keeps a bounded buffer and, when it overflows, catches up by reading
the table from its own last revision (see ``core``).
"""

from __future__ import annotations

import functools
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from .._engine.hints import REFRESH, HintListener
from .._model.errors import BucketNotFoundError, SqlkvError, StoreClosedError
from .._runtime.forkgate import GATE, helper_connection
from .._runtime.request import Port, Posts
from .._storage import changes
from .._storage.connection import Row
from .._storage.statements import BucketSQL

__all__ = ["ChangeFeed", "Subscriber"]

_PAGE = 1024

HINTED_POLL = 5.0
"""Seconds between two safety looks of a poller that receives wake-up hints (a hint lost: a writer killed
between its COMMIT and the hint, a writer that is not sqlkv)."""

QUIET = 0.002
"""Seconds without a hint after which the poller does the bookkeeping a hinted look put off (see ``_poll``)."""

PUT_OFF_AT_MOST = 0.05
"""Seconds the bookkeeping is put off at most while hints keep coming."""


class Busy(Exception):
    """``ChangeFeed._dispatch(small_only=True)``: another thread holds the lock (the poller, reading a large value)."""


class Subscriber:
    """The feed's view of a watcher: its bucket, its loop, and the callbacks to run there."""

    __slots__ = ("on_close", "on_rows", "port", "sql")

    def __init__(
        self,
        sql: BucketSQL,
        port: Port,
        on_rows: Callable[[list[Row], int, int], None],
        on_close: Callable[[], None],
    ) -> None:
        self.sql = sql
        self.port = port
        self.on_rows = on_rows
        self.on_close = on_close


def _fan_out(subscribers: list[Subscriber], rows: list[Row], low: int, high: int) -> None:
    """On a watcher's loop: ``rows`` are every row still stored with low < revision <= high."""
    for subscriber in subscribers:
        subscriber.on_rows(rows, low, high)


def _close_all(subscribers: list[Subscriber]) -> None:
    for subscriber in subscribers:
        subscriber.on_close()


class ChangeFeed:
    """Tracks watchers per bucket and dispatches new rows to them."""

    def __init__(
        self,
        opener: Callable[[], sqlite3.Connection],
        poll_interval: float,
        name: str,
        listen: Callable[[], HintListener | None] = lambda: None,
        forget: Callable[[str], None] = lambda token: None,
        changed: Callable[[], None] = lambda: None,
    ) -> None:
        self._opener = opener
        self._poll_interval = poll_interval
        self._listen = listen
        self._forget = forget
        self._changed = changed
        self._listener: HintListener | None = None
        self._name = name
        self._lock = threading.Lock()
        self._subscribers: dict[int, list[Subscriber]] = {}
        self._cursor: dict[int, int | None] = {}
        self._poller: threading.Thread | None = None
        self._stop = threading.Event()
        self._closed = False
        self._out: Posts | None = None
        self._before: dict[int, int | None] = {}
        """The cursors before the last commit's dispatch (see ``redeliver``)."""
        self._look_again = False
        self._reader: Any = None
        """The port whose event loop takes the hints itself (``_on_hint``), or None: the poller does."""
        self._reader_conn: sqlite3.Connection | None = None
        self._poller_wake = threading.Event()
        """Wakes a poller whose hints a loop takes: the mode changed, or that loop's looks need their bookkeeping."""
        self._books_due = False

    @property
    def active(self) -> bool:
        """Whether any watcher is subscribed (read without the lock: a hint for the writer)."""
        return bool(self._subscribers)

    def subscribe(self, subscriber: Subscriber) -> None:
        """Register a watcher; starts the poller on first use."""
        bucket_id = subscriber.sql.bucket_id
        with self._lock:
            if self._closed:
                raise StoreClosedError("the store is closed")
            if bucket_id not in self._subscribers:
                self._subscribers[bucket_id] = []
                self._cursor[bucket_id] = None  # set at the next dispatch
            self._subscribers[bucket_id].append(subscriber)
            if self._poller is None:
                self._listener = self._listen()
                self._poller = threading.Thread(target=self._poll, name=self._name, daemon=True)
                self._poller.start()
            self._choose_reader()

    def start_at(self, bucket_id: int, revision: int) -> None:
        """A watcher's snapshot ended at ``revision``: dispatch from there if no cursor is set yet."""
        with self._lock:
            if bucket_id in self._cursor and self._cursor[bucket_id] is None:
                self._cursor[bucket_id] = revision

    def unsubscribe(self, subscriber: Subscriber) -> None:
        """Forget a watcher (idempotent)."""
        bucket_id = subscriber.sql.bucket_id
        with self._lock:
            group = self._subscribers.get(bucket_id)
            if group and subscriber in group:
                group.remove(subscriber)
                if not group:
                    del self._subscribers[bucket_id]
                    del self._cursor[bucket_id]
                self._choose_reader()

    def _choose_reader(self) -> None:
        """(Under the lock.) Who takes the hints: the one event loop every watcher is on, else the poller.

        When every watcher of this store is on one asyncio loop that watches
        descriptors, that loop reads the hint socket and the new rows itself
        and runs the watchers' callbacks at once (``_on_hint``): no hand-off
        from the poller thread, whose wake-up would also contend with the loop's
        for the GIL. The poller then only keeps the books. Otherwise (watchers
        on several loops, sync watchers, trio) the poller takes the hints.
        """
        listener = self._listener
        ports = {id(s.port): s.port for group in self._subscribers.values() for s in group}
        wanted: Any = None
        if listener is not None and not self._closed and len(ports) == 1:
            (port,) = ports.values()
            if getattr(port, "watch_readable", None) is not None:
                wanted = port
        current = self._reader
        if wanted is current or listener is None:
            return
        if current is not None:
            self._reader = None
            current.unwatch_readable(listener.fileno())
        if wanted is not None and wanted.watch_readable(listener.fileno(), functools.partial(self._on_hint, wanted)):
            self._reader = wanted
        self._poller_wake.set()  # the poller looks at who takes the hints

    def _on_hint(self, port: Any) -> None:
        """On the loop of ``port`` (the hint socket is readable): read the new rows, run the watchers' callbacks."""
        listener = self._listener
        if listener is None or self._closed or self._reader is not port:
            return  # (the poller takes the hints again: what is pending is its; the loop stops watching soon)
        if not listener.take():
            return
        conn = self._reader_conn
        if conn is None:
            try:
                with GATE:
                    conn = self._reader_conn = self._opener()
            except sqlite3.Error:
                return  # the poller's safety look catches up
        posts: Posts = {}
        hand_over = False
        with GATE:
            try:
                self._dispatch(conn, None, None, posts, small_only=True)
            except (changes.LargeValues, Busy):  # a large value's chunks, or the lock, would stall the loop:
                hand_over = True  # the poller reads those rows
        port.run_posts(posts)
        if hand_over:
            self._look_again = True
            self._poller_wake.set()
        if not self._books_due:  # the bookkeeping, once the loop is done with this burst of hints
            self._books_due = True
            loop = port.loop
            if loop is not None:
                loop.call_later(QUIET, self._poller_wake.set)

    def dispatch(self, conn: sqlite3.Connection, journal: list[tuple[int, Row | None]] | None, out: Posts) -> None:
        """The commit hook (on the writing thread, right after COMMIT): post what that commit wrote.

        ``journal`` holds the rows the commit inserted (None when it was not
        kept: then every watched bucket is looked at). The posts are collected
        in ``out`` (by port), for the writer to send along with the batch's results.
        """
        bucket_ids = None if journal is None else {bucket_id for bucket_id, _ in journal}
        self._before = dict(self._cursor)
        self._dispatch(conn, bucket_ids, journal, out)

    def redeliver(self) -> None:
        """The last commit's posts may not have reached every watcher: post them again at the next look.

        An exception from a signal handler (Ctrl-C) on the committing thread can
        cut a delivery short. The cursors go back to where they were before that
        commit, and the poller looks again even if nothing else is committed;
        watchers drop the rows they already have.
        """
        with self._lock:
            for bucket_id, cursor in self._before.items():
                current = self._cursor.get(bucket_id)
                if current is not None and cursor is not None and cursor < current:
                    self._cursor[bucket_id] = cursor
            self._look_again = True

    def _dispatch(
        self,
        conn: sqlite3.Connection,
        bucket_ids: Iterable[int] | None = None,
        journal: list[tuple[int, Row | None]] | None = None,
        out: Posts | None = None,
        small_only: bool = False,
    ) -> None:
        """Post the rows above the cursor of the watched buckets (all, or those in ``bucket_ids``).

        Journal rows that directly follow a bucket's cursor are posted as they
        are; anything else is read from the table. With ``out``, the posts are
        collected there (by port); otherwise they are posted at once (the poller).
        With ``small_only`` (an event loop), ``changes.LargeValues`` where a bucket's rows hold a large value,
        and ``Busy`` instead of waiting for the lock (the poller may hold it for as long as a large value takes).
        """
        if not self._lock.acquire(blocking=not small_only):
            raise Busy
        try:
            self._out = out
            watched = self._subscribers
            targets = list(watched) if bucket_ids is None else [b for b in bucket_ids if b in watched]
            for bucket_id in targets:
                if journal and self._dispatch_journal(bucket_id, journal):
                    continue
                self._dispatch_bucket(conn, bucket_id, small_only)
        finally:
            self._out = None
            self._lock.release()

    def _dispatch_journal(self, bucket_id: int, journal: list[tuple[int, Row | None]]) -> bool:
        cursor = self._cursor[bucket_id]
        written = [row for written_in, row in journal if written_in == bucket_id]
        rows = [row for row in written if row is not None]
        if cursor is None or not rows or len(rows) != len(written) or rows[0][0] != cursor + 1:
            return False  # other writers' rows may lie in between, or the bucket changed as a whole: read the table
        high = rows[-1][0]
        self._post(self._subscribers[bucket_id], _fan_out, rows, cursor, high)
        self._cursor[bucket_id] = high
        return True

    def _dispatch_bucket(self, conn: sqlite3.Connection, bucket_id: int, small_only: bool = False) -> None:
        group = self._subscribers[bucket_id]
        sql = group[0].sql
        try:
            cursor = self._cursor[bucket_id]
            if cursor is None:  # no watcher told us where it started: announce the top only
                high = changes.sequence(conn, sql)
                self._cursor[bucket_id] = high
                self._post(group, _fan_out, [], high, high)
                return
            while True:
                rows, high = changes.rows_after(conn, sql, cursor, _PAGE, small_only)
                if high > cursor:
                    self._post(group, _fan_out, rows, cursor, high)
                    self._cursor[bucket_id] = cursor = high
                if len(rows) < _PAGE:
                    return
        except BucketNotFoundError:
            self._post(group, _close_all)  # the bucket was deleted: its watchers end
            del self._subscribers[bucket_id]
            del self._cursor[bucket_id]
        except SqlkvError:
            pass  # busy or I/O trouble: the poller tries again; watchers catch up from the table

    def _post(self, group: list[Subscriber], fn: Callable[..., None], *args: Any) -> None:
        """Send ``fn(subscribers, *args)`` to each loop of ``group`` (or collect it in ``self._out``)."""
        by_port: dict[int, list[Subscriber]] = {}
        for subscriber in group:
            by_port.setdefault(id(subscriber.port), []).append(subscriber)
        out = self._out
        for key, subscribers in by_port.items():
            port = subscribers[0].port
            if out is None:
                port.post(fn, subscribers, *args)
            else:
                out.setdefault(key, (port, []))[1].append((fn, (subscribers, *args)))

    def _poll(self) -> None:
        """The poller: look at the file when another process hints at a commit, or every poll interval.

        With hints (``_engine/hints.py``) the poll is only a safety net, every
        HINTED_POLL seconds; without them it runs every ``poll_interval``.
        """
        listener = self._listener
        with helper_connection(self._opener) as conn:
            if conn is None:
                return
            last_version = None
            # Senders learn of a new listener within REFRESH: commits made before may send it no hint.
            timeout = 2 * REFRESH
            put_off_since: float | None = None  # when a hinted look first put the bookkeeping off
            while not self._stop.is_set():
                hinted = False
                if listener is None:
                    if self._stop.wait(self._poll_interval):
                        break
                elif self._reader is not None:  # a loop takes the hints (``_on_hint``): this thread keeps the books
                    if not self._poller_wake.wait(timeout):  # (woken early, the first look stays due)
                        timeout = max(self._poll_interval, HINTED_POLL)
                    self._poller_wake.clear()
                    if self._stop.is_set():
                        break
                    if self._reader is None:
                        continue  # the hints are this thread's again
                    self._books_due = False
                else:
                    hinted = listener.wait(QUIET if put_off_since is not None else timeout)
                    timeout = max(self._poll_interval, HINTED_POLL)
                    if self._stop.is_set():
                        break
                with GATE:
                    if hinted:  # another process committed: its rows go out at once
                        self._dispatch(conn)
                        # The bookkeeping below (and the sweeper it wakes) waits for a quiet moment: done now, it
                        # would hold the GIL and the other vCPU while the watchers' loop wakes to take the rows.
                        now = time.monotonic()
                        if put_off_since is None:
                            put_off_since = now
                        if now - put_off_since < PUT_OFF_AT_MOST:
                            continue
                    put_off_since = None
                    try:
                        version = changes.data_version(conn)
                    except SqlkvError:
                        continue
                    if version != last_version or self._look_again:
                        if version != last_version:
                            self._changed()  # (the sweeper: the file changed, perhaps another process's deadline)
                        last_version, self._look_again = version, False
                        self._dispatch_changed(conn)

    def _dispatch_changed(self, conn: sqlite3.Connection) -> None:
        """Poller: dispatch the watched buckets whose newest revision moved past the cursor.

        Most changes the poller sees are this store's own commits, already
        dispatched by the writer: a cheap look at each bucket's newest revision,
        without the lock, spares the writer any wait.
        """
        moved: list[int] = []
        for bucket_id, group in list(self._subscribers.items()):
            cursor = self._cursor.get(bucket_id)
            try:
                newest = changes.sequence(conn, group[0].sql)
            except SqlkvError:
                newest = None  # a deleted bucket, or trouble: let dispatch sort it out
            if cursor is None or newest is None or newest > cursor:
                moved.append(bucket_id)
        if moved:
            self._dispatch(conn, moved)

    def close(self) -> None:
        """End every watcher and stop the poller (blocks until it stopped)."""
        with self._lock:
            self._closed = True
            groups = list(self._subscribers.values())
            self._subscribers.clear()
            self._cursor.clear()
            poller = self._poller
        for group in groups:
            self._post(group, _close_all)
        self._stop.set()
        self._poller_wake.set()
        listener = self._listener
        if listener is not None:
            listener.wake()
        if poller is not None:
            poller.join()
        with self._lock:
            reader, self._reader = self._reader, None
            conn, self._reader_conn = self._reader_conn, None
        if listener is not None:
            if reader is not None:
                reader.unwatch_readable(listener.fileno())
            self._listener = None
            self._forget(listener.token)
            listener.close()
        if conn is not None:
            with GATE:
                conn.close()
