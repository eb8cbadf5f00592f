"""A store's life: unopened, open, closed; the stores open in this process; what happens to one dropped open.

A store that is garbage-collected while open is closed by a finalizer (its
threads end, its connections close) and a ``ResourceWarning`` names it, as
``sqlite3`` and aiosqlite do for their connections. The finalizer refers to the
store's engine, never to the store, so nothing keeps a dropped store alive.
"""

from __future__ import annotations

import enum
import warnings
import weakref
from collections.abc import Callable
from typing import Any

__all__ = ["State", "Tracker", "open_stores"]


class State(enum.Enum):
    """Where a store is in its life."""

    UNOPENED = "unopened"
    OPEN = "open"
    CLOSED = "closed"


_OPEN: weakref.WeakSet[Any] = weakref.WeakSet()


def open_stores() -> list[Any]:
    """Every sqlkv store of this process that is open now (async, sync and NATS), for leak checks."""
    return list(_OPEN)


def _dropped_open(close: Callable[[], None], description: str) -> None:
    try:
        close()
    finally:
        warnings.warn(
            f"{description} was garbage-collected while open: sqlkv closed it; "
            "close it yourself (`with`/`async with`, close(), aclose()) to finish its writes in order",
            ResourceWarning,
            stacklevel=2,
        )


class Tracker:
    """Tracks one store from open to close; closes it (and warns) if it is dropped open."""

    __slots__ = ("_finalizer",)

    def __init__(self) -> None:
        self._finalizer: weakref.finalize[[Callable[[], None], str], None] | None = None

    def opened(self, store: Any, close: Callable[[], None], description: str) -> None:
        """``store`` is open; ``close`` (which must not refer to ``store``) ends it if it is dropped open."""
        _OPEN.add(store)
        self._finalizer = weakref.finalize(store, _dropped_open, close, description)

    def closed(self, store: object) -> None:
        """``store`` was closed properly: nothing left to do when it is dropped."""
        _OPEN.discard(store)
        finalizer, self._finalizer = self._finalizer, None
        if finalizer is not None:
            finalizer.detach()
