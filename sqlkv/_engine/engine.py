"""The machinery of one SQLite store, whoever runs its operations: options, helper threads, the commit hook.

An :class:`Engine` holds everything a store needs below its API: the
options, the checkpointer and the sweeper, and the commit hook that feeds the
watchers (through an observer the watch layer installs) and nudges the
checkpointer. Its subclasses say where operations run: ``ThreadedEngine`` on
database threads behind an event loop (``AsyncStore``), ``DirectEngine`` on the
calling thread (``Store``).

An engine never refers to the store object that owns it, and neither do its
threads: a store dropped without closing can be collected, and its finalizer
closes the engine.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable

from .._model.errors import StorageError, StoreClosedError
from .._model.options import StoreOptions
from .._runtime.request import Posts
from .._storage.connection import Connection, Row, open_connection
from .._storage.expiry import SweepResult
from .._storage.schema import apply_migrations, check_schema
from .._storage.statements import wal_size_limit
from . import hints
from .checkpoint import Checkpointer
from .readcache import ReadCache
from .sweeper import Sweeper

__all__ = ["CHECKPOINT_EVERY", "SWEEP_BATCH", "WAL_SIZE_LIMIT", "Engine"]

WAL_SIZE_LIMIT = 64 * 1024 * 1024
"""Bytes the WAL file is cut back to when SQLite next rewinds it (``PRAGMA journal_size_limit``): a burst of
writes grows the file, and without a limit it keeps that size on disk for good."""

CHECKPOINT_EVERY = 1024
"""Writes between two nudges of the checkpointer (a WAL of ~15-20 MB at most for single small writes)."""

SWEEP_BATCH = 1000
"""Rows a sweep handles per write transaction."""


TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing at run time: a command starts sooner)
if TYPE_CHECKING:
    from typing import Protocol, TypeVar

    ObserverT = TypeVar("ObserverT", bound="CommitObserver")

    class CommitObserver(Protocol):
        """What the engine tells about each commit (the watch layer's change feed)."""

        @property
        def active(self) -> bool:
            """Whether anyone listens (read without a lock, as a hint)."""

        def dispatch(self, conn: sqlite3.Connection, journal: list[tuple[int, Row | None]] | None, out: Posts) -> None:
            """Right after a commit on ``conn``: collect the callbacks for each loop in ``out``."""

        def redeliver(self) -> None:
            """The last commit's posts may not all have been delivered (an interrupt): post them again."""

        def close(self) -> None:
            """The store is closing: end every listener."""


class Engine:
    """Options, helper threads and the commit hook of a store on one SQLite file."""

    not_open_message = "store is not open"

    def __init__(self, options: StoreOptions) -> None:
        self.options = options
        self.open = False
        """True from a successful start until stop begins."""
        self.closed = False
        """True once stop began (a store is opened once)."""
        self.clock: Callable[[], int] = options.clock
        self.observer: CommitObserver | None = None
        """Told about every commit once set (by the watch layer, on the first watch)."""
        self.checkpointer: Checkpointer | None = None
        self.sweeper: Sweeper | None = None
        self._writes_since_checkpoint = 0
        self._observer_lock = threading.Lock()
        self.hints = hints.HintSender(options.path)
        """Wakes other processes' watchers after each commit (its socket is made on the first hint it sends)."""
        self.read_cache = ReadCache(options)
        """Latest entries this store read, served again while the file has not changed (``readcache.py``)."""

    @property
    def path(self) -> str:
        """The database file."""
        return self.options.path

    # -- connections -------------------------------------------------------------------------------

    def open_writer(self) -> Connection:
        """The write connection: creates the file, applies migrations, leaves checkpoints to the checkpointer.

        Its SQLite busy timeout is then turned off: ``run_writes`` waits for
        another process's write lock itself, so that an event loop can try a
        write without ever blocking on that lock.
        """
        conn = open_connection(self.options, reader=False)
        try:
            if self.options.read_only:
                check_schema(conn)
                return conn
            apply_migrations(conn)
            conn.execute("PRAGMA wal_autocheckpoint = 0")
            conn.execute(wal_size_limit(WAL_SIZE_LIMIT))
            conn.execute("PRAGMA busy_timeout = 0")
        except BaseException:
            conn.close()
            raise
        return conn

    def open_reader(self) -> Connection:
        """A ``query_only`` connection (readers, the change feed, the checkpointer, the sweeper)."""
        return open_connection(self.options, reader=True)

    def check_open(self) -> None:
        """StoreClosedError unless the store is open."""
        if not self.open:
            raise StoreClosedError("the store is closed" if self.closed else self.not_open_message)

    def check_writable(self) -> None:
        """StorageError if the store was opened read-only."""
        if self.options.read_only:
            raise StorageError(f"the store is open read-only ({self.options.path})")

    # -- helper threads ----------------------------------------------------------------------------

    def sweep_batch(self) -> SweepResult:
        """One bounded sweep through the writer, blocking (the sweeper thread calls it)."""
        raise NotImplementedError

    def start_helpers(self) -> None:
        """Start the checkpointer and (unless ``auto_sweep=False``) the sweeper; none for a read-only store."""
        if self.options.read_only:
            return
        path = self.options.path
        self.checkpointer = Checkpointer(self.open_reader, f"sqlkv-checkpoint:{path}")
        if self.options.auto_sweep:
            self.sweeper = Sweeper(self.open_reader, self.sweep_batch, self.clock, f"sqlkv-sweeper:{path}")

    def hint_listener(self) -> hints.HintListener | None:
        """A wake-up hint endpoint for this store's change feed, or None where hints cannot work (then poll).

        While it is open (until ``feed_stopped``) the sweeper leaves looking at the file to the feed.
        """
        if not hints.AVAILABLE:
            return None
        try:
            listener = hints.HintListener(self.options.path)
        except OSError:
            return None
        self.hints.own.add(listener.token)  # this store feeds its own watchers at commit
        if self.sweeper is not None:
            self.sweeper.fed = True  # the feed's looks (file_changed) replace the sweeper's own
        return listener

    def feed_stopped(self, token: str) -> None:
        """The change feed's hint listener ``token`` closed: the sweeper looks at the file by itself again."""
        self.hints.own.discard(token)
        if self.sweeper is not None:
            self.sweeper.fed = False

    def file_changed(self) -> None:
        """The change feed saw the file change (a hint, or its safety look): the sweeper looks for new deadlines."""
        sweeper = self.sweeper
        if sweeper is not None:
            sweeper.look()

    def stop_helpers(self) -> None:
        """Stop the sweeper, end every watcher and stop the checkpointer (blocking)."""
        sweeper, self.sweeper = self.sweeper, None
        if sweeper is not None:
            sweeper.stop()
        with self._observer_lock:  # after this, observe() finds the store closed: no observer is installed late
            observer, self.observer = self.observer, None
        if observer is not None:
            observer.close()
        checkpointer, self.checkpointer = self.checkpointer, None
        if checkpointer is not None:
            checkpointer.stop()

    def observe(self, make: Callable[[], ObserverT]) -> ObserverT:
        """The commit observer, made by ``make()`` if there is none yet; StoreClosedError unless open."""
        with self._observer_lock:
            self.check_open()
            observer = self.observer
            if observer is None:
                observer = self.observer = make()
            conn = self.write_connection()
            if conn is not None and getattr(conn, "journal", None) is None:
                # Keep the rows of the writer's next commit from now on, not from the commit after it: a watcher
                # then also sees rows that the same commit trimmed or purged again (a transaction's whole).
                # Set mid-batch, the journal misses that batch's first rows: the feed then reads the table.
                conn.journal = []  # type: ignore[attr-defined]
            return observer  # type: ignore[return-value]  # always one of make()'s

    def write_connection(self) -> sqlite3.Connection | None:
        """The writer's connection, if open (its ``journal`` attribute is the one thing set from other threads)."""
        return None

    def expect_deadline(self, deadline: int) -> None:
        """A write is about to store an entry that expires at ``deadline`` (ns): tell the sweeper."""
        sweeper = self.sweeper
        if sweeper is not None:
            sweeper.expect(deadline)

    def configuration_changed(self) -> None:
        """A bucket's TTL may have changed: the sweeper plans again."""
        sweeper = self.sweeper
        if sweeper is not None:
            sweeper.replan()

    # -- the commit hook ---------------------------------------------------------------------------

    def redeliver(self) -> None:
        """The last commit's watcher callbacks may not all have run (an interrupt cut them): post them again."""
        observer = self.observer
        if observer is not None:
            observer.redeliver()

    def after_commit(self, conn: sqlite3.Connection, count: int) -> Posts | None:
        """After each commit of ``count`` requests on the writer connection: feed the watchers, nudge the checkpointer.

        Returns the watchers' callbacks, to go to each loop with the batch's results.
        """
        observer = self.observer
        posts: Posts | None = None
        if observer is not None and observer.active:
            journal = getattr(conn, "journal", None)
            conn.journal = []  # type: ignore[attr-defined]  # keep the rows of the next batch for the feed
            posts = {}
            observer.dispatch(conn, journal, posts)
        elif getattr(conn, "journal", None) is not None:
            conn.journal = None  # type: ignore[attr-defined]  # nobody watches any more
        if hints.AVAILABLE:
            self.hints.send()
        self._writes_since_checkpoint += count
        if self._writes_since_checkpoint >= CHECKPOINT_EVERY and self.checkpointer is not None:
            self._writes_since_checkpoint = 0
            self.checkpointer.nudge()
        return posts
