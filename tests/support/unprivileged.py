"""Running a snippet where file permissions apply: as an unprivileged user when the tests run as root.

Root ignores file modes, so a test of "a directory you cannot write" runs its
snippet in a child process that first imports everything it needs and reads
sqlkv's migrations (the interpreter's and the checkout's files may be
unreadable to that user: a clone in a 0700 directory) and then drops to
uid/gid 65534. Its working directories must be traversable by that user:
:func:`shared_dir` makes one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["NOBODY", "run_unprivileged", "shared_dir"]

NOBODY = 65534

_PRELUDE = """
import os, sys, json, sqlite3, tempfile, importlib, pkgutil
import sqlkv
not_needed = (
    "sqlkv._backends.nats", "sqlkv._runtime.trio", "sqlkv.cli.__main__", "sqlkv.demo", "sqlkv.pytest", "sqlkv.testing"
)
for module in pkgutil.walk_packages(sqlkv.__path__, "sqlkv."):  # sqlkv loads some modules only when used
    if not module.name.startswith(not_needed):
        importlib.import_module(module.name)
from sqlkv._storage import schema
schema.migration_count(), schema.load_migrations()  # read on the first open, then cached
import anyio, anyio._backends._asyncio
for name in ("Store", "AsyncStore", "StorageError", "SqlkvError", "Operation"):
    getattr(sqlkv, name)
if os.geteuid() == 0:
    os.setgroups([])
    os.setgid({uid})
    os.setuid({uid})
"""


@contextmanager
def shared_dir() -> Iterator[Path]:
    """A fresh directory the unprivileged user can enter (mode 0777 under the system temp dir); removed after."""
    folder = Path(tempfile.mkdtemp(prefix="sqlkv-perm-"))
    folder.chmod(0o777)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_unprivileged(code: str, *args: str, preload: str = "", timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``code`` (Python; ``sys.argv[1:]`` are ``args``) as uid 65534 when we are root, else as ourselves.

    ``preload`` runs first, still privileged: the imports ``code`` needs beyond the prelude's.
    """
    script = textwrap.dedent(preload) + _PRELUDE.format(uid=NOBODY) + textwrap.dedent(code)
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd="/",
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
