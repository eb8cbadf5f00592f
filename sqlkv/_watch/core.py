"""The state of a watcher, without I/O: its buffer, its revision bookkeeping, and the router's callbacks.

A watcher first delivers its *initial* entries (the latest entry of every
matching key, or every retained entry with ``include_history``, or every
entry from ``from_revision`` on), in revision order, then live entries in
revision order. The end of the initial entries is an explicit state, never an
item in the stream: ``initial_done`` becomes true when the last initial entry
has been taken (at once when there are none).

Memory is bounded: live rows wait in a buffer of ``buffer_size`` rows; when it
is full the watcher stops buffering and, once its consumer has drained the
buffer, reads the missed rows from the table starting at its own last
revision, page by page, until it has caught up. The API's watchers (async and
sync) add the waiting and the reads.
"""

from __future__ import annotations

import weakref
from collections import deque

from .._model.entry import Entry, Operation, deadline_ns, make_entry
from .._model.errors import InvalidArgumentError, RevisionGapError
from .._model.watch_options import WatchOptions
from .._runtime.request import Port
from .._storage.connection import Row
from .._storage.statements import BucketSQL
from .fanout import BucketRouter
from .hub import WatchHub

__all__ = ["CATCH_UP_PAGE", "WatcherCore"]

_PUT = int(Operation.PUT)
CATCH_UP_PAGE = 512
"""Rows a lagging watcher reads from the table at a time."""


class _Forward:
    """What a router holds for a watcher: its calls, forwarded while the watcher lives (a weak reference)."""

    __slots__ = ("exact_keys", "watcher")

    def __init__(self, watcher: WatcherCore) -> None:
        self.watcher = weakref.ref(watcher)
        self.exact_keys = watcher.exact_keys

    def offer(self, row: Row) -> None:
        watcher = self.watcher()
        if watcher is not None:
            watcher.offer(row)

    def missed(self, router_high: int | None, low: int) -> None:
        watcher = self.watcher()
        if watcher is not None:
            watcher.missed(router_high, low)

    def end(self) -> None:
        watcher = self.watcher()
        if watcher is not None:
            watcher.end()


class WatcherCore:
    """The state of a watcher, shared by the async and the sync watcher: no I/O, no waiting.

    Subclasses load the snapshot, wait for entries and read the table when
    lagging; this class keeps the buffer, the revision bookkeeping and the
    router callbacks, and calls ``_wake()`` when a consumer may proceed.
    """

    ttl_ns = 0
    """The bucket TTL (ns, 0: none) as the watching handle knows it: an entry's ``expires`` is ``created`` + it, or the
    row's own deadline (per-key TTL) if that is sooner."""

    def __init__(self, hub: WatchHub, sql: BucketSQL, options: WatchOptions) -> None:
        self._hub = hub
        self._sql = sql
        self._options = options
        self._matcher = options.matcher
        self._prefix = options.prefix
        self.exact_keys = options.exact_keys
        """The literal keys watched, or None when a filter has wildcards (or there is none)."""
        self._ignore_deletes = options.ignore_deletes
        self._meta_only = options.meta_only
        self._mode, self._start = options.mode, options.start
        self._buffer_size = options.buffer_size
        self._buffer: deque[Row] = deque()
        self._initial_left = 0
        # Every revision up to _last was considered (buffered or filtered out). While live, the
        # watcher is also up to date with its router's high mark; while lagging, rows above _last
        # must be read from the table.
        self._last = 0
        self._taken = 0
        """The revision of the entry taken last (see ``_seen``)."""
        self._lagging = True
        self._closed = False
        self._started = False
        self._gaps = 0
        self._on_gap = options.on_gap
        self._gap_error: RevisionGapError | None = None
        """Set with ``on_gap="raise"`` once a gap is found: raised after the entries before it."""
        self._router: BucketRouter | None = None
        self._leave: weakref.finalize[..., object] | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def _subscribe(self, port: Port) -> None:
        if self._started:
            raise InvalidArgumentError("a watcher can be started once")
        self._started = True
        forward = _Forward(self)
        self._router = router = self._hub.join(forward, self._sql, port)
        # The router holds only the forwarder: a watcher dropped without close() is collected, and leaves.
        self._leave = weakref.finalize(self, self._hub.leave, forward, router)

    def _snapshot_args(self) -> tuple[object, ...]:
        return (self._sql, self._mode, self._prefix, self._start, self._hub.clock())

    def _start_feed_at(self, high: int) -> None:
        """The initial snapshot ended at ``high``: the feed dispatches from there (call it before ``_begin``).

        It takes the feed's lock: a sync watcher calls it without holding its own lock, which the feed takes
        (after its own) to offer rows. Rows offered before ``_begin`` are dropped (the watcher still lags):
        ``_begin`` then sees the router above the snapshot, and they are read from the table.
        """
        self._hub.start_at(self._sql.bucket_id, high)

    def _begin(self, rows: list[Row], high: int) -> None:
        """The snapshot arrived (after ``_start_feed_at``): buffer its entries, go live if nothing was missed."""
        self._last = max(self._last, high)
        if self._options.from_revision is not None and high >= self._start:
            rows = self._gap_check(rows, self._start - 1, high)
        initial = [row for row in rows if self._wanted(row)]
        self._buffer.extend(initial)
        self._initial_left = len(initial)
        self._try_go_live()

    def close(self) -> None:
        """Stop watching (idempotent); iteration then ends."""
        self._closed = True
        self._router = None
        leave = self._leave
        if leave is not None:
            leave()  # once: a finalizer runs at most once
        self._wake()

    # -- state -----------------------------------------------------------------------------------

    @property
    def initial_done(self) -> bool:
        """True once every initial entry has been taken (at once if there were none)."""
        return self._started and self._initial_left == 0

    @property
    def gaps(self) -> int:
        """How many revisions in this watcher's range it can never see (trimmed, purged, expired): see watch()."""
        return self._gaps

    def _gap_check(self, rows: list[Row], after: int, upto: int) -> list[Row]:
        """Count the revisions in (after, upto] that no row of ``rows`` (every key's deliverable rows) holds.

        Each revision the bucket gave is one row of some key, so a revision with
        no row is one that history trimming, a purge or expiry removed (another
        key's row that the filter leaves out is still present: not a gap). With
        ``on_gap="raise"`` the rows after the first gap are dropped and the
        error is kept for the consumer; returns the rows to deliver.
        """
        expected = after + 1
        missing = 0
        first_missing = first_available = 0
        cut = len(rows)
        for index, row in enumerate(rows):
            revision = row[0]
            if revision <= after:
                continue
            if revision > expected:
                if not missing:
                    first_missing, first_available, cut = expected, revision, index
                missing += revision - expected
            expected = revision + 1
        if upto >= expected:
            if not missing:
                first_missing, first_available = expected, upto + 1
            missing += upto - expected + 1
        if not missing:
            return rows
        self._gaps += missing
        if self._on_gap != "raise":
            return rows
        self._gap_error = RevisionGapError(self._sql.bucket, first_missing, first_available, missing)
        self._lagging = False  # nothing more is read or routed: the consumer takes what precedes the gap
        return rows[:cut]

    def _gap_reached(self) -> RevisionGapError | None:
        """The gap error once every entry before it was taken (the watcher then ends)."""
        error = self._gap_error
        if error is None or self._buffer:
            return None
        self._gap_error = None
        self.close()
        return error

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

    def _seen(self) -> int:
        """The highest revision already buffered, taken or considered: what a catch-up must start after.

        Appending a row to the buffer and advancing ``_last`` are two steps; an
        exception from a signal handler (Ctrl-C) may fall between them, so the
        buffer and the last taken entry count as seen too: nothing twice.
        """
        seen = self._last
        buffer = self._buffer
        if buffer and buffer[-1][0] > seen:
            seen = buffer[-1][0]
        return self._taken if self._taken > seen else seen

    def _take(self) -> Entry:
        revision, key, op, value, created, expires = self._buffer.popleft()
        self._taken = revision
        if self._initial_left:
            self._initial_left -= 1
            delta = self._initial_left
        else:
            delta = len(self._buffer)
        value = b"" if self._meta_only else value
        return make_entry(
            self._sql.bucket, key, value, revision, created, delta, op, deadline_ns(created, self.ttl_ns, expires)
        )

    def _wanted(self, row: Row) -> bool:
        if self._ignore_deletes and row[2] != _PUT:
            return False
        return self._matcher is None or self._matcher(row[1])

    def _catch_up_args(self) -> tuple[object, ...]:
        return (self._sql, self._seen(), CATCH_UP_PAGE)

    def _absorb(self, rows: list[Row], scanned: int) -> None:
        """Rows read from the table while lagging."""
        seen = self._seen()
        kept = self._gap_check(rows, seen, scanned)
        for row in kept:
            if row[0] > seen and self._wanted(row):
                self._buffer.append(row)
        if self._gap_error is not None:
            return
        self._last = max(self._last, seen, scanned)
        if len(rows) < CATCH_UP_PAGE:
            self._try_go_live()

    def _try_go_live(self) -> None:
        """Switch to live buffering if nothing routed so far lies above _last (no await in between)."""
        router = self._router
        high = router.high if router is not None else None
        if high is None or self._last >= high:
            self._lagging = False

    # -- router callbacks (run on this watcher's event loop) -------------------------------------

    def offer(self, row: Row) -> None:
        """A new row of a watched key (or of the bucket, for wildcard watchers)."""
        if self._lagging or self._closed or self._gap_error is not None:
            return
        revision = row[0]
        buffer = self._buffer
        if revision <= self._last or (buffer and revision <= buffer[-1][0]) or revision <= self._taken:
            return  # seen already (a post delivered again after an interrupted delivery)
        if len(buffer) >= self._buffer_size:
            self._lagging = True  # this row and the rest are read from the table once the buffer drains
            return
        if self._wanted(row):
            buffer.append(row)  # first: once buffered, it counts as seen (see _seen)
            self._wake()
        self._last = revision

    def missed(self, router_high: int | None, low: int) -> None:
        """Rows up to ``low`` were announced before the router saw them: read them if they are ours."""
        if self._lagging or self._closed or self._gap_error is not None:
            return
        if router_high is not None and router_high > self._last:
            self._last = router_high  # a live watcher is up to date with its router
        if self._seen() < low:
            self._lagging = True
            self._wake()

    def end(self) -> None:
        """The store closed or the bucket was deleted."""
        self._closed = True
        self._router = None
        self._wake()

    def _wake(self) -> None:
        """A consumer may proceed (an entry arrived, the watcher lags or ended)."""
