"""Run the inspector: bind a loopback socket, announce the URL, serve with uvicorn until SIGINT or SIGTERM.

The store is opened first (a failure to open it is the caller's error, before
anything is served), then the socket is bound and listening before the URL is
announced, so the URL works as soon as it is read (port 0 picks a free port). A signal asks uvicorn to stop: live
streams end at once, open requests finish, the store closes, and ``run``
returns normally (uvicorn would otherwise raise the signal again after its
shutdown; a second Ctrl-C still forces the exit).
"""

from __future__ import annotations

import socket
import threading
import webbrowser

import anyio
import uvicorn

import sqlkv

from . import loopback
from ._app import create_app, request_stop
from ._security import new_token

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType
    from typing import Any

__all__ = ["run"]


class _Server(uvicorn.Server):
    """uvicorn's server, whose signals end live streams first and are not raised again after the shutdown."""

    def __init__(self, config: uvicorn.Config, app: Any) -> None:
        super().__init__(config)
        self.inspector = app

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit:
            self.force_exit = True
        self.should_exit = True

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        request_stop(self.inspector)
        await super().shutdown(sockets)


def run(
    location: str,
    options: dict[str, Any],
    *,
    write: bool,
    host: str,
    port: int,
    open_browser: bool,
    announce: Callable[[str], None] | None,
) -> None:
    """Serve the inspector of ``location`` on ``host:port`` until a signal; see ``sqlkv.ui.serve``."""
    address = loopback(host)
    token = new_token()
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.listen(128)
        sock.setblocking(False)
        shown = f"[{address}]" if family == socket.AF_INET6 else address
        url = f"http://{shown}:{sock.getsockname()[1]}/?token={token}"

        async def main() -> None:
            async with sqlkv.AsyncStore(location, **options) as store:
                app = create_app(store, write=write, token=token)
                config = uvicorn.Config(
                    app,
                    lifespan="off",
                    log_level="warning",
                    access_log=False,
                    server_header=False,
                    timeout_graceful_shutdown=5,
                )
                server = _Server(config, app)
                if announce is not None:  # the socket listens: connections wait in its backlog until uvicorn serves
                    announce(url)
                if open_browser:  # in a thread: a terminal browser could hold it
                    threading.Thread(target=webbrowser.open, args=(url,), name="ui-browser", daemon=True).start()
                await server.serve(sockets=[sock])

        anyio.run(main)
