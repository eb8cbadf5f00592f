"""What the asyncio and trio ports share: one post per batch, and a commit's callbacks in commit order."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from .inbox import Inbox, run_callback
from .request import Calls, Posts, Request, StorageCall, Submit

__all__ = ["LoopPort", "call_then", "log_callback_error"]


def call_then(calls: Calls, resolve: Callable[[list[Request]], None], requests: list[Request]) -> None:
    """On the loop: run a batch's watcher callbacks, then resolve its results."""
    for fn, args in calls:
        fn(*args)
    resolve(requests)


def log_callback_error(exc: BaseException) -> None:
    """Report an exception raised by a sqlkv callback where no loop can take it."""
    logging.getLogger("sqlkv").error("exception in a sqlkv callback", exc_info=exc)


class LoopPort:
    """A port of an event loop: a batch's callbacks and results in one post (one wake-up).

    Subclasses say how to post to their loop, how to wait for one request
    and how to yield; ``active`` counts this loop's operations under way, so
    that a lone operation knows it is alone.
    """

    __slots__ = ("_inbox", "active")

    active: int
    """Operations of this loop under way (submitted, or about to run here): zero means "alone"."""
    _inbox: Inbox | None
    _resolve: Callable[[list[Request]], None]
    new_future: Callable[[], Any] | None = None
    """Makes a cheap waiter for this loop's watchers (an asyncio future), or None (then they use anyio.Event)."""

    def deliver(self, requests: list[Request], calls: Calls = ()) -> None:
        if calls:
            self.post(call_then, calls, self._resolve, requests)
        else:
            self.post(self._resolve, requests)

    def post(self, fn: Callable[..., None], *args: Any) -> None:
        raise NotImplementedError

    async def call(self, submit: Submit, fn: StorageCall, args: tuple[Any, ...]) -> Any:
        raise NotImplementedError

    async def yield_once(self) -> None:
        raise NotImplementedError

    def _report(self, exc: BaseException) -> None:
        raise NotImplementedError

    def run_posts(self, posts: Posts) -> None:
        """Watchers' callbacks of a commit made on this loop: this loop's run now unless earlier ones are queued."""
        own: Calls = ()
        inbox = self._inbox
        for port, calls in posts.values():  # other loops' first: an error in one of ours cannot hold them back
            if port is not self or inbox is None or inbox.pending:
                port.deliver([], calls)  # after what is queued: watchers see commits in order
            else:
                own = calls
        for fn, args in own:
            run_callback(fn, args, self._report)
