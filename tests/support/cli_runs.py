"""Many CLI runs at the cost of one interpreter: each run is a forked child of a process that loaded sqlkv once.

A child is a process of its own, as a user's ``sqlkv`` is: standard output and
error go to files, standard input is /dev/null, and its exit status is what
``main()`` returned (or ``SystemExit`` carried). An exception escaping
``main()`` is printed as Python prints it (a ``Traceback``), status 1.
With ``unprivileged``, the server runs as uid 65534 when the tests run as root
(tests.support.unprivileged), so that file modes apply.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass

from tests.support.unprivileged import run_unprivileged

__all__ = ["CliResult", "run_cli"]

_PRELOAD = """
import sqlkv.cli._commands, sqlkv.migrate
from sqlkv._storage.schema import load_migrations
load_migrations()  # cached: a store made after the drop of privileges needs no read of the repository
try:  # the inspector, its web framework and its page (read at import): the repository may be closed to uid 65534
    import sqlkv.ui._app, sqlkv.ui._server
except ImportError:  # no 'ui' extra: `sqlkv ui` says so
    pass
"""

_SERVER = """
import json, os, sys, tempfile, traceback
from sqlkv.cli import main


def run_one(argv, closed_stdout):
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            if closed_stdout:  # a reader that went away, as `sqlkv kv watch b | head -1`
                read, write = os.pipe()
                os.close(read)
                os.dup2(write, 1)
            else:
                os.dup2(out.fileno(), 1)
            os.dup2(err.fileno(), 2)
            try:
                status = main(argv)
            except SystemExit as exc:
                status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except BaseException:
                traceback.print_exc()
                status = 1
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except OSError:
                    pass
        finally:
            os._exit(status)
    _, code = os.waitpid(pid, 0)
    out.seek(0)
    err.seek(0)
    return {
        "status": os.waitstatus_to_exitcode(code),
        "stdout": out.read().decode("utf-8", "replace"),
        "stderr": err.read().decode("utf-8", "replace"),
    }


runs = json.loads(sys.argv[1])
print(json.dumps([run_one(run["argv"], run["closed_stdout"]) for run in runs]))
"""


@dataclass(frozen=True)
class CliResult:
    """What one run of ``sqlkv ARGV`` left: its exit status and output."""

    status: int
    stdout: str
    stderr: str


def run_cli(runs: list[tuple[list[str], bool]], *, unprivileged: bool) -> list[CliResult]:
    """Run ``sqlkv`` once for each ``(argv, closed_stdout)``, in order; as uid 65534 with ``unprivileged`` (as root)."""
    payload = json.dumps([{"argv": argv, "closed_stdout": closed} for argv, closed in runs])
    if unprivileged:
        done = run_unprivileged(_SERVER, payload, preload=_PRELOAD, timeout=300)
    else:
        done = subprocess.run(
            [sys.executable, "-c", _PRELOAD + _SERVER, payload], capture_output=True, text=True, timeout=300
        )
    assert done.returncode == 0, done.stderr
    return [CliResult(**result) for result in json.loads(done.stdout)]
