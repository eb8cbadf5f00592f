"""What this platform offers sqlkv, decided once at import: Linux's fast paths or the portable stand-ins.

Three facilities are Linux-only: the loop inbox's ``eventfd``
(``inbox.py``), wake-up hints on abstract-namespace Unix sockets
(``_engine/hints.py``) and, with Windows, at-fork hooks (``forkgate.py``).
Each module asks this one, never ``sys.platform``.

``SQLKV_PORTABLE`` (read once, when sqlkv is imported) makes Linux take what
another platform would, so that CI runs those paths:

- unset, empty or ``0``: what this machine has;
- ``macos``: as on macOS and the BSDs: no eventfd; hints on Unix datagram
  sockets bound to paths in ``<store>-wake/`` (``sun_path`` at most 104 bytes);
- ``1`` (any other value): as on Windows: no eventfd, no Unix sockets, no
  at-fork hooks; hints on loopback UDP sockets announced in ``<store>-wake/``.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing at run time: a command starts sooner)
if TYPE_CHECKING:
    from typing import Final, Literal

    Level = Literal["native", "macos", "windows"]
    Wake = Literal["abstract", "path", "udp"]

__all__ = ["AT_FORK", "EVENTFD", "LEVEL", "READ_CACHE", "SUN_PATH_MAX", "WAKE"]


def _level() -> Level:
    value = os.environ.get("SQLKV_PORTABLE", "").strip().lower()
    if value in ("", "0"):
        return "native"
    return "macos" if value == "macos" else "windows"


LEVEL: Final[Level] = _level()
"""``native`` (this machine's facilities), or the platform simulated by ``SQLKV_PORTABLE``."""

_LINUX = sys.platform.startswith("linux") and LEVEL == "native"
_UNIX_SOCKETS = sys.platform != "win32" and LEVEL != "windows"  # Windows has no Unix datagram sockets

EVENTFD: Final[bool] = hasattr(os, "eventfd") and LEVEL == "native"
"""Whether a loop inbox may use ``os.eventfd`` (else results travel by the loop's own thread-safe call)."""

AT_FORK: Final[bool] = hasattr(os, "register_at_fork") and LEVEL != "windows"
"""Whether sqlkv registers its at-fork hooks (Windows has no fork)."""

WAKE: Final[Wake] = "abstract" if _LINUX and _UNIX_SOCKETS else "path" if _UNIX_SOCKETS else "udp"
"""How a watching process is woken by another's commit: a Unix datagram socket in Linux's abstract namespace,
one bound to a path in ``<store>-wake/`` (macOS, the BSDs), or a loopback UDP socket announced there (Windows)."""

READ_CACHE: Final[bool] = _LINUX and os.environ.get("SQLKV_READ_CACHE", "1").strip() != "0"
"""Whether a store may serve repeated gets from its read cache, checked against the WAL-index header that SQLite
maps (found in Linux's ``/proc/self/maps``; ``_engine/readcache.py``). ``SQLKV_READ_CACHE=0`` turns it off."""

SUN_PATH_MAX: Final[int] = 104
"""The longest Unix socket path macOS and the BSDs accept (``sizeof(sun_path)``); Linux's 108 is not relied on."""
