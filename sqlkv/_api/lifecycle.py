"""A store's life: unopened, open, closed; the stores open in this process; what happens to one dropped open.

A store that is garbage-collected while open is closed by a finalizer (its
threads end, its connections close) and a ``ResourceWarning`` names it, as
``sqlite3`` and aiosqlite do for their connections; :func:`collected_open`
lists such stores for test harnesses. The finalizer refers to the store's
engine, never to the store, so nothing keeps a dropped store alive. It never
blocks the thread that happened to collect the store: when that is one of
sqlkv's own threads (the garbage collector runs wherever memory is
allocated), the closing moves to a thread of its own. A store still open when
the interpreter exits is closed then, without a warning.
"""

from __future__ import annotations

import atexit
import enum
import threading
import warnings
import weakref
from collections.abc import Callable

TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing at run time: a command starts sooner)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["State", "Tracker", "collected_open", "open_stores"]


class State(enum.Enum):
    """Where a store is in its life."""

    UNOPENED = "unopened"
    OPEN = "open"
    CLOSED = "closed"


_OPEN: weakref.WeakSet[Any] = weakref.WeakSet()
_COLLECTED: list[str] = []
_EXITING = False


def open_stores() -> list[Any]:
    """Every sqlkv store of this process that is open now (async, sync and NATS), for leak checks."""
    return list(_OPEN)


def collected_open() -> list[str]:
    """The stores garbage-collected while open since the last call (each named; sqlkv closed each of them)."""
    found = _COLLECTED[:]
    del _COLLECTED[: len(found)]
    return found


def _exiting() -> None:
    global _EXITING
    _EXITING = True


def _dropped_open(close: Callable[[], None], description: str) -> None:
    if _EXITING:  # the interpreter is ending: close quietly
        close()
        return
    if threading.current_thread().name.startswith("sqlkv-"):
        # Collected on one of sqlkv's own threads, maybe this very store's, maybe holding one of its locks.
        threading.Thread(target=close, name="sqlkv-closing", daemon=True).start()
    else:
        close()
    _COLLECTED.append(description)
    warnings.warn(
        f"{description} was garbage-collected while open: sqlkv closed it; "
        "close it yourself (`with`/`async with`, close(), aclose()) to end its threads and writes in order",
        ResourceWarning,
        stacklevel=2,
    )


_atexit_registered = False


class Tracker:
    """Tracks one store from open to close; closes it (and warns) if it is dropped open."""

    __slots__ = ("_finalizer",)

    def __init__(self) -> None:
        self._finalizer: weakref.finalize[[Callable[[], None], str], None] | None = None

    def opened(self, store: Any, close: Callable[[], None], description: str) -> None:
        """``store`` is open; ``close`` (which must not refer to ``store``) ends it if it is dropped open."""
        global _atexit_registered
        _OPEN.add(store)
        self._finalizer = weakref.finalize(store, _dropped_open, close, description)
        if not _atexit_registered:  # after weakref's own exit hook exists: ours runs first (last in, first out)
            _atexit_registered = True
            atexit.register(_exiting)

    def closed(self, store: object) -> None:
        """``store`` was closed properly: nothing left to do when it is dropped."""
        _OPEN.discard(store)
        finalizer, self._finalizer = self._finalizer, None
        if finalizer is not None:
            finalizer.detach()
