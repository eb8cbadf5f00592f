"""The port of the running event loop, asyncio or trio: found once per loop and cached."""

from __future__ import annotations

import asyncio
import sys
import weakref
from typing import TYPE_CHECKING

from .asyncio_port import AsyncioPort
from .forkgate import in_child

if TYPE_CHECKING:
    from .loop_port import LoopPort
    from .trio_port import TrioPort

__all__ = ["current_port"]

_asyncio_ports: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncioPort] = weakref.WeakKeyDictionary()
_last_asyncio_port: AsyncioPort | None = None
_last_trio_port: TrioPort | None = None


@in_child
def _forget_ports() -> None:
    """In a forked child: ports (and their eventfds) belong to the parent's loops."""
    global _asyncio_ports, _last_asyncio_port, _last_trio_port
    _asyncio_ports = weakref.WeakKeyDictionary()
    _last_asyncio_port = _last_trio_port = None


def current_port() -> LoopPort:
    """The port of the running event loop (asyncio or trio); RuntimeError outside one."""
    global _last_asyncio_port, _last_trio_port
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        port = _last_asyncio_port
        if port is not None and port.loop is loop:
            return port
        port = _asyncio_ports.get(loop)
        if port is None:
            port = _asyncio_ports[loop] = AsyncioPort(loop)
        _last_asyncio_port = port
        return port
    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            token = trio.lowlevel.current_trio_token()
        except RuntimeError:
            pass
        else:
            last = _last_trio_port
            if last is not None and last.token is token:
                return last
            from . import trio_port  # trio is running, so it is installed; asyncio-only code never loads it

            _last_trio_port = trio_port.port_of_run(token)
            return _last_trio_port
    raise RuntimeError("sqlkv's async API must be called from a running asyncio or trio event loop")
