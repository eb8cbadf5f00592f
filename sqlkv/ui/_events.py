"""The live pane's stream: one bucket watcher per connection, sent as server-sent events.

Each connection has its own watcher, with a small buffer (``BUFFER`` entries):
the stream sends an entry, then takes the next, so a slow browser slows only
its own sends (uvicorn waits for the socket to drain). Meanwhile its watcher
stops buffering at ``BUFFER`` rows and later catches up from the table, as
every sqlkv watcher does (docs/guarantees.md): the store and its other readers
and writers never wait for a browser, and the server holds at most ``BUFFER``
entries per connection. The stream ends when the browser goes away, when the
server stops, or when the store closes. An idle stream sends a comment every
``HEARTBEAT`` seconds, so a vanished peer is noticed.
"""

from __future__ import annotations

import anyio

import sqlkv

from ._render import dumps, entry_summary

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from starlette.types import Receive, Scope, Send

__all__ = ["BUFFER", "HEARTBEAT", "WatchStream"]

BUFFER = 64
"""Entries a connection's watcher buffers before it lags and catches up from the table."""
HEARTBEAT = 10.0


class WatchStream:
    """An ASGI response: ``event: entry`` for every change (``id:`` its revision), ``event: ready`` once the initial
    entries are sent, until the browser leaves or ``stopping`` is set."""

    def __init__(self, kv: sqlkv.AsyncBucket, filters: list[str], options: dict[str, Any], stopping: anyio.Event):
        self.kv = kv
        self.filters = filters
        self.options = options
        self.stopping = stopping

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream; charset=utf-8"), (b"x-accel-buffering", b"no")],
            }
        )
        async with anyio.create_task_group() as group:

            async def until_gone() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                group.cancel_scope.cancel()

            async def until_stopping() -> None:
                await self.stopping.wait()
                group.cancel_scope.cancel()

            group.start_soon(until_gone)
            group.start_soon(until_stopping)
            try:
                await self._stream(send)
            finally:
                group.cancel_scope.cancel()
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _stream(self, send: Send) -> None:
        async def event(name: str, data: object, revision: int | None = None) -> None:
            head = f"id: {revision}\n" if revision is not None else ""
            body = head.encode() + f"event: {name}\ndata: ".encode() + dumps(data) + b"\n\n"
            await send({"type": "http.response.body", "body": body, "more_body": True})

        async with self.kv.watch(*self.filters, buffer_size=BUFFER, **self.options) as watcher:
            await send({"type": "http.response.body", "body": b"retry: 1000\n\n", "more_body": True})
            ready = False
            while True:
                if not ready and watcher.initial_done:
                    await event("ready", {"last_revision": watcher.last_revision})
                    ready = True
                entry: sqlkv.Entry | None = None
                with anyio.move_on_after(HEARTBEAT):
                    try:
                        entry = await watcher.__anext__()
                    except StopAsyncIteration:  # the store closed
                        return
                if entry is None:
                    await send({"type": "http.response.body", "body": b": idle\n\n", "more_body": True})
                else:
                    await event("entry", entry_summary(entry, with_preview=True), entry.revision)
