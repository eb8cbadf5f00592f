"""Run ``sqlkv ui`` as a user does (its own process) and read the URL it prints first."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

__all__ = ["run_inspector"]


@contextlib.contextmanager
def run_inspector(store: Path, *flags: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Start ``sqlkv --db STORE ui --no-browser FLAGS``; yield the process and its URL; kill it if still running."""
    process = subprocess.Popen(
        [sys.executable, "-m", "sqlkv.cli", "--db", str(store), "ui", "--no-browser", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("sqlkv ui: http://127.0.0.1:") and "/?token=" in line, line
        yield process, line.split(" ", 2)[2].strip()
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        for stream in (process.stdout, process.stderr):
            assert stream is not None
            stream.close()
