"""What a SQLite store is, shared by the async and the sync store: its options, engine, watch plumbing, facts.

``SqliteAsyncStore`` runs its engine on threads behind the event loop
(``ThreadedEngine``), ``SqliteStore`` on the calling thread (``DirectEngine``);
everything else about a store on one file — checking the options once, the
open-store tracking, the watch hub made on the first watch, the file's facts —
is written here once, as ``bucket_core`` is for the buckets.
"""

from __future__ import annotations

import threading

from ..._api.lifecycle import Tracker
from ..._model.options import StoreOptions
from ..._storage.schema import migration_count

TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing at run time: a command starts sooner)
if TYPE_CHECKING:
    import os
    from typing import Any

    from ..._watch.hub import WatchHub

__all__ = ["SqliteStoreCore"]


class SqliteStoreCore:
    """The state of a store on one SQLite file, and the facts every store reports the same way."""

    backend: str | None = "file"
    _engine: Any  # a ThreadedEngine (SqliteAsyncStore) or a DirectEngine (SqliteStore)

    def __init__(self, path: str | os.PathLike[str], **options: Any) -> None:
        """Check the options (``StoreOptions`` names them once) and make the engine; nothing runs until ``open``."""
        self._engine = self._make_engine(StoreOptions(path, **options))
        self._hub: WatchHub | None = None
        self._hub_lock = threading.Lock()
        self._tracker = Tracker()

    def _make_engine(self, options: StoreOptions) -> Any:
        """The engine that runs this store's operations (threads behind a loop, or the calling thread)."""
        raise NotImplementedError

    def _watch_hub(self) -> WatchHub:
        """The store's watch plumbing, made on the first watch (a store never watched never loads it)."""
        with self._hub_lock:
            if self._hub is None:
                from ..._watch.hub import WatchHub

                self._hub = WatchHub(self._engine)
            return self._hub

    @property
    def path(self) -> str:
        """The database file (or the server URLs)."""
        path: str = self._engine.options.path
        return path

    @property
    def durability(self) -> str:
        """``"normal"`` or ``"full"`` (``"nats"``: the server's)."""
        durability: str = self._engine.options.durability
        return durability

    @property
    def read_only(self) -> bool:
        """Whether the store was opened read-only (it never writes the file)."""
        return bool(self._engine.options.read_only)

    @property
    def schema_version(self) -> int:
        """The schema version of the file (the number of migrations applied); UnsupportedError on NATS."""
        return migration_count()
