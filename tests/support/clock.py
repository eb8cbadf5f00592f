"""A clock for the store's ``clock=`` option: nanoseconds that move only when told."""

from __future__ import annotations


class FakeClock:
    """A clock for the store's ``clock=`` option: nanoseconds that move only when told."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = int(start * 1e9)

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += round(seconds * 1e9)
