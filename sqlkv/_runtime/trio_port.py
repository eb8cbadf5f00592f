"""The port of a trio run: results set events, one wake-up per batch. The only sqlkv module that imports trio.

On Linux a system task of the run waits on the port's eventfd and drains its
inbox (see ``inbox``); elsewhere ``TrioToken.run_sync_soon``. There is one port
per run, kept in a ``RunVar``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import trio

from .inbox import Inbox, open_inbox
from .loop_port import LoopPort, log_callback_error
from .request import Request, StorageCall, Submit, set_events

__all__ = ["TrioPort", "port_of_run"]


async def _pump_inbox(inbox: Inbox) -> None:
    """A trio system task: run the inbox's callbacks whenever its eventfd fires, until the run ends."""
    try:
        while True:
            await trio.lowlevel.wait_readable(inbox.fd)
            inbox.drain()
    finally:
        inbox.close()  # the run is ending: later posts are dropped


class TrioPort(LoopPort):
    """Results for a trio run: one wake-up per batch."""

    __slots__ = ("token",)

    def __init__(self, token: trio.lowlevel.TrioToken) -> None:
        self.token = token
        self.active = 0
        self._inbox: Inbox | None = None
        inbox = open_inbox(log_callback_error)
        if inbox is not None:
            trio.lowlevel.spawn_system_task(_pump_inbox, inbox, name="sqlkv wake-ups")
            self._inbox = inbox

    _resolve = staticmethod(set_events)

    def post(self, fn: Callable[..., None], *args: Any) -> None:
        inbox = self._inbox
        if inbox is not None:
            inbox.post(fn, args)
            return
        try:
            self.token.run_sync_soon(fn, *args)
        except trio.RunFinishedError:
            pass  # the run ended: nobody is waiting any more

    async def yield_once(self) -> None:
        await trio.lowlevel.checkpoint()

    def _report(self, exc: BaseException) -> None:
        log_callback_error(exc)

    async def call(self, submit: Submit, fn: StorageCall, args: tuple[Any, ...]) -> Any:
        request = Request(fn, args, self)
        request.waiter = trio.Event()
        submit(request)
        self.active += 1
        try:
            await request.waiter.wait()
        except BaseException:
            request.cancelled = True
            raise
        finally:
            self.active -= 1
        if request.error is not None:
            raise request.error
        return request.result


_PORTS: trio.lowlevel.RunVar[TrioPort] = trio.lowlevel.RunVar("sqlkv_port")


def port_of_run(token: trio.lowlevel.TrioToken) -> TrioPort:
    """The port of the current trio run: one per run, whichever thread asked."""
    port: TrioPort | None = _PORTS.get(None)  # type: ignore[arg-type]  # a default of None is fine at run time
    if port is None:
        port = TrioPort(token)
        _PORTS.set(port)
    return port
