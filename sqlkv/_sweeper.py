"""The sweeper: a thread that sleeps until the next expiry deadline, then has the writer sweep.

It never polls at a fixed rate: it computes the earliest deadline of any
stored entry (cheap: an index look-up per bucket), waits until then, and asks
the writer thread to run ``_expiry.sweep`` in bounded batches (each batch is
one short write transaction, so writers are never stalled for long). Writes
that bring an earlier deadline nudge it; so does ``update_bucket``. It also
looks again at least every ``max_idle`` seconds, for deadlines set by other
processes whose own sweeper may be gone.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable

from ._expiry import SweepResult, next_deadline
from ._forkgate import GATE, helper_connection

__all__ = ["Sweeper"]


class Sweeper:
    """One per store; ``planned`` is the deadline (ns) it sleeps towards, None when idle."""

    def __init__(
        self,
        opener: Callable[[], sqlite3.Connection],
        run_sweep: Callable[[], SweepResult],
        clock: Callable[[], int],
        name: str,
        max_idle: float = 60.0,
    ) -> None:
        self._opener = opener
        self._run_sweep = run_sweep
        self._clock = clock
        self._max_idle = max_idle
        self._wake = threading.Event()
        self._stopping = False
        self.planned: int | None = None
        self.sweeps = 0
        """Sweep batches run so far (for tests and figures)."""
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def nudge(self, deadline: int | None = None) -> None:
        """A write brought ``deadline`` (or the configuration changed): wake up if that is sooner."""
        planned = self.planned
        if deadline is None or planned is None or deadline < planned:
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
            while not self._stopping:
                try:
                    with GATE:
                        deadline = next_deadline(conn)
                except sqlite3.Error:
                    deadline = None
                now = self._clock()
                if deadline is not None and deadline <= now:
                    self.planned = None
                    try:
                        while not self._stopping:
                            self.sweeps += 1
                            if not self._run_sweep()[2]:
                                break
                    except Exception:
                        if self._stopping:
                            break
                        self._wake.wait(1.0)
                    continue
                self.planned = deadline
                timeout = self._max_idle if deadline is None else min((deadline - now) / 1e9, self._max_idle)
                self._wake.wait(max(timeout, 0.0005))
                self._wake.clear()
