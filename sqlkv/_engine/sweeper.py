"""The sweeper: a thread that sleeps until the next expiry deadline, then has the writer sweep.

It plans from the file itself: the earliest deadline of any stored entry
(an index look-up per bucket, ``expiry.next_deadline``). It plans again
whenever the file changed (``PRAGMA data_version`` on its own connection: a
write by this store, another store or another process, a TTL changed), looked
at when the change feed saw the file change (:meth:`Sweeper.look`: a wake-up
hint from another process, or the feed's safety look, while this store has
watchers) and at least every ``recheck`` seconds, and at
once when this store's writes announce an earlier deadline
(:meth:`Sweeper.expect`), even before they commit. When a deadline passes it
asks the writer to run ``expiry.sweep`` in bounded batches (each one short
write transaction). So a deadline of this store's own writes, or any deadline
while it has watchers, is acted on as it passes (a lost hint: at the feed's
next safety look); one that only another process's write announced, in a
store with no watcher, within about ``recheck`` seconds.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable

from .._model.errors import SqlkvError
from .._runtime.forkgate import GATE, helper_connection
from .._storage.changes import data_version
from .._storage.expiry import SweepResult, next_deadline

__all__ = ["FED_RECHECK", "RECHECK", "Sweeper"]

RECHECK = 5.0
"""Seconds between two looks at the file when nothing woke the sweeper (a deadline set by another process)."""

FED_RECHECK = 60.0
"""The same while a change feed with wake-up hints looks at the file for it (``fed``): each wake-up of an idle
thread costs CPU, and the feed already looks at least every ``HINTED_POLL`` seconds."""

_COST_FACTOR = 50
"""Plan at most once per this many times what planning last took (so a file with many buckets costs < 2 % CPU)."""


class Sweeper:
    """One per store; ``planned`` is the deadline (ns) it sleeps towards, None when it knows of none."""

    def __init__(
        self,
        opener: Callable[[], sqlite3.Connection],
        run_sweep: Callable[[], SweepResult],
        clock: Callable[[], int],
        name: str,
        recheck: float | None = None,
    ) -> None:
        self._opener = opener
        self._run_sweep = run_sweep
        self._clock = clock
        self._recheck = RECHECK if recheck is None else recheck
        self._wake = threading.Event()
        self._stopping = False
        self._replan = True
        self.fed = False
        """Whether a change feed calls :meth:`look` whenever it sees the file change (the engine sets it)."""
        self._hint: int | None = None
        """The earliest deadline this store's writes announced (perhaps not committed yet)."""
        self.planned: int | None = None
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def expect(self, deadline: int) -> None:
        """A write of this store brings ``deadline`` (ns): wake up if that is sooner than the plan (cheap)."""
        planned, hint = self.planned, self._hint
        if (planned is None or deadline < planned) and (hint is None or deadline < hint):
            self._hint = deadline
            self._wake.set()

    def look(self) -> None:
        """The file changed (the change feed saw it): look at it now (cheap; any thread)."""
        self._wake.set()

    def replan(self) -> None:
        """Look at the file again now (a bucket's configuration changed)."""
        self._replan = True
        self._wake.set()

    def stop(self) -> None:
        """End the thread (waits for a sweep in progress)."""
        self._stopping = True
        self._wake.set()
        self._thread.join()

    def _main(self) -> None:
        with helper_connection(self._opener) as conn:
            if conn is None:
                return
            version: object = None
            changed: object = None
            deadline: int | None = None
            next_plan = 0.0
            while not self._stopping:
                self._wake.clear()
                try:
                    with GATE:
                        changed = data_version(conn)
                        if (changed != version or self._replan) and time.monotonic() >= next_plan:
                            started = time.monotonic()
                            version, self._replan = changed, False
                            deadline = next_deadline(conn)
                            next_plan = started + _COST_FACTOR * (time.monotonic() - started)
                except SqlkvError:
                    deadline = None
                hint = self._hint
                plan = deadline if hint is None else hint if deadline is None else min(deadline, hint)
                now = self._clock()
                if plan is not None and plan <= now:
                    self.planned = self._hint = deadline = None
                    self._sweep()
                    self._replan, next_plan = True, 0.0  # what is left to plan for: ask the file, whatever it costs
                    continue
                self.planned = plan
                recheck = max(self._recheck, FED_RECHECK) if self.fed else self._recheck
                timeout = recheck if plan is None else min((plan - now) / 1e9, recheck)
                if changed != version or self._replan:  # a change seen while planning is still too soon
                    timeout = min(timeout, next_plan - time.monotonic())
                self._wake.wait(max(timeout, 0.0005))

    def _sweep(self) -> None:
        try:
            while not self._stopping:
                if not self._run_sweep()[2]:
                    break
        except Exception:
            if not self._stopping:
                self._wake.wait(1.0)
