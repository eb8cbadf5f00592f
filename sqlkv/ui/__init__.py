"""``sqlkv ui``: a local web inspector of a store (buckets, keys, entries, history, a live change pane).

An optional extra (``pip install 'sqlkv[ui]'``: Starlette and uvicorn). Nothing
here is imported by ``import sqlkv`` or by the other CLI commands; this module
itself imports neither Starlette nor uvicorn, so the CLI can ask
:func:`missing_dependencies` first. The app uses public ``sqlkv`` names only:
it works the same on a store file and on a ``nats://`` server.
"""

from __future__ import annotations

import importlib.util
import ipaddress

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["INSTALL_HINT", "loopback", "missing_dependencies", "serve"]

INSTALL_HINT = "sqlkv ui needs the 'ui' extra: pip install 'sqlkv[ui]'"
"""The one line ``sqlkv ui`` prints when Starlette or uvicorn is not installed."""


def missing_dependencies() -> list[str]:
    """The packages of the ``ui`` extra that are not installed (found without importing them)."""
    missing = []
    for name in ("starlette", "uvicorn"):
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    return missing


def loopback(host: str) -> str:
    """``host`` as a loopback IP address (``localhost`` is 127.0.0.1); InvalidArgumentError for anything else."""
    from sqlkv import InvalidArgumentError

    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        address = None
    if address is None or not address.is_loopback:
        raise InvalidArgumentError(f"--host must be a loopback address (127.0.0.1, ::1), not {host!r}")
    return str(address)


def serve(
    location: str,
    *,
    options: dict[str, Any] | None = None,
    write: bool = False,
    host: str = "127.0.0.1",
    port: int = 0,
    open_browser: bool = True,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Serve the inspector of the store at ``location`` until SIGINT or SIGTERM; returns after a clean shutdown.

    ``options`` are passed to ``sqlkv.AsyncStore``; ``write`` enables the write
    endpoints and controls; ``host`` must be a loopback address; ``port`` 0
    picks a free one. ``announce`` receives the URL (with its token) once the
    socket listens.
    """
    from ._server import run

    run(location, options or {}, write=write, host=host, port=port, open_browser=open_browser, announce=announce)
