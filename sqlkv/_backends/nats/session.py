"""A NATS store's connection as its buckets and watchers see it: JetStream, whether it is open, its watchers."""

from __future__ import annotations

from typing import Any

from ..._api.lifecycle import State
from ..._model.errors import StoreClosedError

__all__ = ["Session"]


class Session:
    """The shared state of one NATS store: its JetStream context, its life, its open watchers."""

    def __init__(self) -> None:
        self.state = State.UNOPENED
        self.nc: Any = None
        self._js: Any = None
        self.watchers: set[Any] = set()
        """The open watchers (each ends when the store closes)."""

    def connected(self, nc: Any) -> None:
        """The connection is up: the store is open."""
        self.nc = nc
        self._js = nc.jetstream()
        self.state = State.OPEN

    def check_open(self) -> None:
        """StoreClosedError unless the store is open."""
        if self.state is not State.OPEN:
            if self.state is State.UNOPENED:
                raise StoreClosedError("store is not open: use `async with AsyncStore(...)`")
            raise StoreClosedError("the store is closed")

    @property
    def js(self) -> Any:
        """nats-py's JetStream context; StoreClosedError unless open."""
        self.check_open()
        return self._js

    @property
    def closed(self) -> bool:
        """Whether the store was closed."""
        return self.state is State.CLOSED
