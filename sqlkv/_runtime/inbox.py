"""A cheap way for database threads to wake an event loop: an inbox and an eventfd.

``loop.call_soon_threadsafe`` wakes an asyncio loop through its self-pipe: a
socket ``send`` from the thread, then on the loop an ``epoll`` return, two
``recv`` calls (the second ends in ``BlockingIOError``) and a handle. Measured
here that costs ~14 µs of a ~43 µs round trip to a thread. An :class:`Inbox`
is a deque of callbacks plus a Linux ``eventfd`` the loop watches: the thread
appends and writes the eventfd only if no wake-up is already pending; the loop
reads it once and runs every callback in order. Callbacks of one inbox run in
the order they were posted, from any number of threads.
"""

from __future__ import annotations

import os
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

from . import platform
from .forkgate import in_child

__all__ = ["Inbox", "open_inbox", "run_callback"]

Callback = tuple[Callable[..., None], tuple[Any, ...]]
ErrorHandler = Callable[[BaseException], None]


class Inbox:
    """Callbacks posted from any thread, run on one loop thread by :meth:`drain` when ``fd`` is readable."""

    __slots__ = ("__weakref__", "_close_fd", "_closed", "_on_error", "_pending", "_signalled", "fd")

    def __init__(self, fd: int, on_error: ErrorHandler) -> None:
        self.fd = fd
        self._pending: deque[Callback] = deque()
        self._signalled = False
        self._closed = False
        self._on_error = on_error
        self._close_fd = weakref.finalize(self, os.close, fd)  # once nothing can post to it any more
        _INBOXES.add(self)

    @property
    def closed(self) -> bool:
        """True once the loop stopped draining: posts are dropped."""
        return self._closed

    @property
    def pending(self) -> bool:
        """Whether callbacks are queued, not yet run."""
        return bool(self._pending)

    def post(self, fn: Callable[..., None], args: tuple[Any, ...]) -> None:
        """Any thread: queue ``fn(*args)`` and wake the loop unless a wake-up is already pending."""
        if self._closed:
            return  # nobody drains any more (the loop or run ended)
        self._pending.append((fn, args))
        if not self._signalled:  # set before the write; cleared by the loop after it read, before it drains
            self._signalled = True
            os.eventfd_write(self.fd, 1)

    def drain(self) -> None:
        """Loop thread (``fd`` readable): run the queued callbacks, oldest first.

        Runs at most what was queued when it started, so a steady stream of
        posts cannot keep the loop inside one drain; the rest comes next turn.
        """
        # Consume the wake-up *before* clearing the flag: a thread that sees the
        # flag cleared writes again, and that write is consumed by a later drain.
        try:
            os.eventfd_read(self.fd)
        except BlockingIOError:
            pass  # a wake-up already consumed by an earlier drain
        self._signalled = False
        pending = self._pending
        try:
            for _ in range(len(pending)):
                fn, args = pending.popleft()
                run_callback(fn, args, self._on_error)
        finally:
            if pending and not self._signalled:  # more to run: come back after the loop's other work
                self._signalled = True
                os.eventfd_write(self.fd, 1)

    def close(self) -> None:
        """The loop will not drain any more (loop closed, run ended): drop what is queued and later posts."""
        self._closed = True
        self._pending.clear()

    def forget_after_fork(self) -> None:
        """In a forked child: this eventfd belongs to the parent's loop; close the child's copy now."""
        self._closed = True
        self._pending.clear()
        if self._close_fd.detach() is not None:
            os.close(self.fd)


def run_callback(fn: Callable[..., None], args: tuple[Any, ...], on_error: ErrorHandler) -> None:
    """Run one loop callback; an exception goes to ``on_error`` (the loop's handler), except exits and Ctrl-C."""
    try:
        fn(*args)
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as exc:
        on_error(exc)


_INBOXES: weakref.WeakSet[Inbox] = weakref.WeakSet()


@in_child
def _forget_inboxes_after_fork() -> None:
    for inbox in list(_INBOXES):
        inbox.forget_after_fork()


def open_inbox(on_error: ErrorHandler) -> Inbox | None:
    """A new inbox, or None where there is no eventfd (not Linux, or ``SQLKV_PORTABLE``: ``platform.EVENTFD``)."""
    eventfd = getattr(os, "eventfd", None)
    if eventfd is None or not platform.EVENTFD:
        return None
    try:
        fd = eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
    except OSError:
        return None
    return Inbox(fd, on_error)
