"""Skip marks for what a simulated platform (``SQLKV_PORTABLE``, ``sqlkv._runtime.platform``) does not have."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from typing import Any

import pytest

from sqlkv._runtime import platform

__all__ = ["HeldOpen", "needs_fork"]

needs_fork = pytest.mark.skipif(
    not hasattr(os, "fork") or not platform.AT_FORK, reason="no fork() (Windows, or SQLKV_PORTABLE=1 simulating it)"
)
"""For a test of sqlkv's fork safety: Windows has no fork, and there sqlkv registers no at-fork hook."""


class HeldOpen:
    """Files that another process holds open, under Windows' rules: they cannot be removed or renamed over.

    ``os.remove``/``os.unlink``/``os.rename``/``os.replace`` on a held path
    raise ``PermissionError`` (as Windows does for a file opened without
    FILE_SHARE_DELETE, as SQLite and most programs open files there) and are
    recorded in ``refused``; writing into the file in place stays allowed.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.paths: set[str] = set()
        self.refused: list[tuple[str, str]] = []
        for name in ("remove", "unlink"):
            monkeypatch.setattr(os, name, self._guard_one(name, getattr(os, name)))
        for name in ("rename", "replace"):
            monkeypatch.setattr(os, name, self._guard_two(name, getattr(os, name)))

    def hold(self, path: str | os.PathLike[str]) -> None:
        """From now on ``path`` is open in another process."""
        self.paths.add(os.path.realpath(path))

    def _check(self, call: str, path: Any) -> None:
        if isinstance(path, (str, os.PathLike)) and os.path.realpath(path) in self.paths:
            self.refused.append((call, os.fspath(path)))
            raise PermissionError(errno.EACCES, "the file is held open by another process (Windows)", os.fspath(path))

    def _guard_one(self, call: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def guarded(path: Any, *args: Any, **kwargs: Any) -> Any:
            self._check(call, path)
            return real(path, *args, **kwargs)

        return guarded

    def _guard_two(self, call: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def guarded(source: Any, target: Any, *args: Any, **kwargs: Any) -> Any:
            self._check(call, source)
            self._check(call, target)
            return real(source, target, *args, **kwargs)

        return guarded
