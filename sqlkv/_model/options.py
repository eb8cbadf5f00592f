"""A store's options, checked once: where the file is, how durable a commit is, how long to wait, how to poll."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from .errors import InvalidArgumentError

__all__ = ["Durability", "StoreOptions"]

TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing at run time: a command starts sooner)
if TYPE_CHECKING:
    from typing import Literal

    Durability = Literal["normal", "full"]
else:
    Durability = str


class StoreOptions:
    """The options of a store on one SQLite file (see ``AsyncStore`` for what each means)."""

    __slots__ = ("auto_sweep", "busy_timeout", "clock", "durability", "path", "poll_interval", "read_only")

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
        try:
            self.path = os.fspath(path)
        except TypeError:
            raise InvalidArgumentError(
                f"a store's path must be a str or os.PathLike, not {type(path).__name__}"
            ) from None
        if not isinstance(self.path, str):
            raise InvalidArgumentError("a store's path must be text, not bytes")
        if durability not in ("normal", "full"):
            raise InvalidArgumentError(f"durability must be 'normal' or 'full', not {durability!r}")
        if isinstance(busy_timeout, bool) or not isinstance(busy_timeout, (int, float)) or busy_timeout < 0:
            raise InvalidArgumentError("busy_timeout must be a number of seconds >= 0")
        if clock is not None and not callable(clock):
            raise InvalidArgumentError("clock must be a callable returning nanoseconds since the epoch")
        if (
            isinstance(poll_interval, bool)
            or not isinstance(poll_interval, (int, float))
            or not (0.0005 <= poll_interval <= 10)
        ):
            raise InvalidArgumentError("poll_interval must be between 0.0005 and 10 seconds")
        self.durability: Durability = durability  # type: ignore[assignment]
        self.busy_timeout = float(busy_timeout)
        self.poll_interval = float(poll_interval)
        self.clock: Callable[[], int] = clock or time.time_ns
        self.read_only = bool(read_only)
        self.auto_sweep = bool(auto_sweep) and not self.read_only
