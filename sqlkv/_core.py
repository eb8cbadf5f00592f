"""What the async store and its synchronous twin share: options, the commit hook, watch plumbing, helpers.

Both front ends run the same ``_ops`` / ``_catalog`` / ``_expiry`` functions
(all SQL lives there); they differ only in *where* a function runs: on the
store's database threads behind an event loop (``AsyncStore``), or on the
calling thread (``Store``).
"""

from __future__ import annotations

import enum
import os
import sqlite3
import time
import weakref
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from ._checkpoint import Checkpointer
from ._config import BucketConfig, to_seconds
from ._connection import Connection, StoreOptions, open_connection
from ._errors import InvalidArgumentError, StorageError, StoreClosedError
from ._expiry import DEFAULT_MARKER_AGE
from ._fanout import Routers
from ._feed import ChangeFeed, Posts
from ._migrations import apply_migrations, check_schema, load_migrations
from ._sql import BucketSQL
from ._sweeper import Sweeper
from ._validate import check_key, check_revision, coerce_value, compile_filters

if TYPE_CHECKING:
    from ._bridge import Request
    from ._catalog import BucketRecord

__all__ = ["OPEN_STORES", "UNSET", "BucketCore", "State", "StoreCore", "Unset"]

CHECKPOINT_EVERY = 1024
"""Writes between two nudges of the checkpointer (a WAL of ~15-20 MB at most for single small writes)."""

SWEEP_BATCH = 1000
"""Rows a sweep handles per write transaction."""


class State(enum.Enum):
    UNOPENED = "unopened"
    OPEN = "open"
    CLOSED = "closed"


class Unset(enum.Enum):
    UNSET = "unset"


UNSET = Unset.UNSET
"""Marks an update_bucket() argument that was not given."""


OPEN_STORES: weakref.WeakSet[StoreCore] = weakref.WeakSet()
"""Every store of this process that is open (the pytest plugin checks tests leave none behind)."""


class StoreCore:
    """Options and shared machinery of a store on one SQLite file."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        durability: str = "normal",
        busy_timeout: float = 30.0,
        poll_interval: float = 0.01,
        clock: Callable[[], int] | None = None,
        auto_sweep: bool = True,
        read_only: bool = False,
    ) -> None:
        self._options = StoreOptions(path, durability, busy_timeout, read_only)
        if clock is not None and not callable(clock):
            raise InvalidArgumentError("clock must be a callable returning nanoseconds since the epoch")
        if (
            isinstance(poll_interval, bool)
            or not isinstance(poll_interval, (int, float))
            or not (0.0005 <= poll_interval <= 10)
        ):
            raise InvalidArgumentError("poll_interval must be between 0.0005 and 10 seconds")
        self._clock: Callable[[], int] = clock or time.time_ns
        self._auto_sweep = bool(auto_sweep) and not read_only
        self._poll_interval = float(poll_interval)
        self._state = State.UNOPENED
        self._feed: ChangeFeed | None = None
        self._routers: Routers | None = None
        self._sweeper: Sweeper | None = None
        self._checkpointer: Checkpointer | None = None
        self._writes_since_checkpoint = 0

    @property
    def path(self) -> str:
        """The database file."""
        return self._options.path

    @property
    def schema_version(self) -> int:
        """The schema version of the file (the number of migrations applied)."""
        return len(load_migrations())

    @property
    def read_only(self) -> bool:
        """Whether the store was opened read-only (it never writes the file)."""
        return self._options.read_only

    @property
    def durability(self) -> str:
        """``"normal"`` or ``"full"``."""
        return self._options.durability

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path!r} {self._state.value}>"

    def _check_open(self) -> None:
        if self._state is not State.OPEN:
            if self._state is State.UNOPENED:
                raise StoreClosedError(f"store is not open: use `with {type(self).__name__}(...)`")
            raise StoreClosedError("the store is closed")

    # -- connections and helper threads ------------------------------------------------------------

    def _open_writer(self) -> sqlite3.Connection:
        """The write connection: creates the file, applies migrations, leaves checkpoints to the checkpointer.

        Its SQLite busy timeout is then turned off: ``run_writes`` waits for
        another process's write lock itself, so that an event loop can try a
        write without ever blocking on that lock.
        """
        conn = open_connection(self._options, reader=False)
        try:
            if self._options.read_only:
                check_schema(conn)
                return conn
            apply_migrations(conn)
            conn.execute("PRAGMA wal_autocheckpoint = 0")
            conn.execute("PRAGMA busy_timeout = 0")
        except BaseException:
            conn.close()
            raise
        return conn

    def _open_reader(self) -> sqlite3.Connection:
        return open_connection(self._options, reader=True)

    def _check_writable(self) -> None:
        if self._options.read_only:
            raise StorageError(f"the store is open read-only ({self._options.path})")

    def _start_helpers(self, run_sweep: Callable[[], object]) -> None:
        """Start the checkpointer and (unless ``auto_sweep=False``) the sweeper; none for a read-only store."""
        if self._options.read_only:
            return
        path = self._options.path
        self._checkpointer = Checkpointer(self._open_reader, f"sqlkv-checkpoint:{path}")
        if self._auto_sweep:
            self._sweeper = Sweeper(self._open_reader, run_sweep, self._clock, f"sqlkv-sweeper:{path}")  # type: ignore[arg-type]

    def _stop_helpers(self) -> None:
        """Stop the sweeper, the change feed (ending every watcher) and the checkpointer (blocking)."""
        sweeper, self._sweeper = self._sweeper, None
        if sweeper is not None:
            sweeper.stop()
        if self._feed is not None:
            self._feed.close()
        checkpointer, self._checkpointer = self._checkpointer, None
        if checkpointer is not None:
            checkpointer.stop()

    def _after_commit(self, conn: Connection, batch: list[Request]) -> Posts | None:
        """After each commit: feed the watchers, nudge the checkpointer.

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
        if self._writes_since_checkpoint >= CHECKPOINT_EVERY and self._checkpointer is not None:
            self._writes_since_checkpoint = 0
            self._checkpointer.nudge()
        return posts

    def _routers_for_watch(self) -> Routers:
        """The store's change feed and watcher routers, created on first watch."""
        self._check_open()
        if self._routers is None:
            self._feed = ChangeFeed(self._open_reader, self._poll_interval, f"sqlkv-feed:{self._options.path}")
            self._routers = Routers(self._feed)
        return self._routers

    def _nudge_sweeper(self) -> None:
        if self._sweeper is not None:
            self._sweeper.nudge()

    # -- argument handling shared by both APIs ---------------------------------------------------

    @staticmethod
    def _bucket_config(
        history: int,
        ttl: float | timedelta | None,
        max_value_size: int | None,
        max_bytes: int | None,
        description: str | None,
        metadata: Mapping[str, str] | None,
    ) -> BucketConfig:
        return BucketConfig(
            history=history,
            ttl=ttl,  # type: ignore[arg-type]
            max_value_size=max_value_size,
            max_bytes=max_bytes,
            description=description,
            metadata=metadata or {},
        )

    @staticmethod
    def _bucket_changes(**given: object) -> dict[str, object]:
        if given.get("metadata") is None and "metadata" in given:
            given["metadata"] = {}
        return {name: value for name, value in given.items() if value is not UNSET}


class BucketCore:
    """A bucket handle's state and argument handling, shared by AsyncBucket and Bucket."""

    __slots__ = ("_created", "_sql", "_store", "config")

    _store: StoreCore

    def __init__(self, store: StoreCore, record: BucketRecord) -> None:
        bucket_id, name, config, created = record
        self._store = store
        self._sql = BucketSQL.for_bucket(name, bucket_id)
        self._created = created
        self.config: BucketConfig = config
        """The configuration the bucket had when this handle was made (``status()`` has the current one)."""

    @property
    def name(self) -> str:
        """The bucket's name."""
        return self._sql.bucket

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} history={self.config.history}>"

    def _value_args(
        self, key: str, value: bytes | str, ttl: float | timedelta | None
    ) -> tuple[str, bytes, int, int | None]:
        """Validated (key, value bytes, now, per-key deadline) of a value write."""
        key, data, now = check_key(key), coerce_value(value), self._store._clock()
        expires = None if ttl is None else now + round(to_seconds(ttl, "ttl") * 1e9)
        return key, data, now, expires

    def _committed(self, expires: int | None) -> None:
        """After a write committed: a per-key deadline may be sooner than the sweeper's plan."""
        sweeper = self._store._sweeper
        if sweeper is not None and expires is not None:
            sweeper.nudge(expires)

    @staticmethod
    def _marker_args(key: str, last: int | None) -> tuple[str, int | None]:
        check_key(key)
        if last is not None:
            check_revision(last, name="last", minimum=0)
        return key, last

    @staticmethod
    def _purge_threshold(older_than: float | timedelta | None) -> int:
        if older_than is None:
            return DEFAULT_MARKER_AGE
        if older_than == 0 and not isinstance(older_than, bool):
            return 0
        return round(to_seconds(older_than, "older_than") * 1e9)

    @staticmethod
    def _watch_filters(filters: tuple[str, ...], from_revision: int | None) -> dict[str, object]:
        matcher, prefix = compile_filters(filters)
        if from_revision is not None:
            check_revision(from_revision, name="from_revision")
        literal = matcher is not None and not any("*" in f or ">" in f for f in filters)
        return {"matcher": matcher, "prefix": prefix, "exact_keys": tuple(filters) if literal else None}

    def _watcher_options(self, filters: tuple[str, ...], **options: Any) -> dict[str, Any]:
        """The arguments of a watcher of this bucket (WatcherCore's), validated."""
        return {
            "store": self._store,
            "sql": self._sql,
            **self._watch_filters(filters, options.get("from_revision")),
            **options,
        }
