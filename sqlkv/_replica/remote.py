"""The remote side of a replica: a connection, the bucket's stream state, and its messages as rows."""

from __future__ import annotations

import json
from typing import Any

from .._model.entry import Operation
from .._nats.errors import nats

__all__ = ["RemoteState", "connect", "message_row", "stream_state", "redact"]

_OPERATIONS = {"DEL": int(Operation.DEL), "PURGE": int(Operation.PURGE)}
_PUT = int(Operation.PUT)


class RemoteState:
    """What a stream INFO says of the remote bucket: identity, configuration, and which sequences it holds."""

    __slots__ = ("created", "deleted", "first", "history", "last", "messages", "ttl")

    def __init__(self, info: dict[str, Any]) -> None:
        config = info.get("config", {})
        state = info.get("state", {})
        self.created: str = str(info.get("created", ""))
        self.history = int(config.get("max_msgs_per_subject", 1) or 1)
        self.ttl = int(config.get("max_age", 0) or 0)
        self.first = int(state.get("first_seq", 0))
        self.last = int(state.get("last_seq", 0))
        self.messages = int(state.get("messages", 0))
        self.deleted: set[int] = set(state.get("deleted") or ())

    def holds(self, revision: int) -> bool:
        """Whether the stream still stores message ``revision`` (needs ``deleted_details``)."""
        return self.first <= revision <= self.last and revision not in self.deleted

    def stored_above(self, cursor: int) -> bool:
        """Whether any message above ``cursor`` is still stored (needs ``deleted_details``)."""
        low = max(cursor + 1, self.first)
        if low > self.last:
            return False
        span = self.last - low + 1
        return sum(1 for seq in self.deleted if seq >= low) < span


class RemoteBucketMissing(Exception):
    """The remote bucket's stream does not exist (yet, or any more)."""


def redact(url: str) -> str:
    """A server URL without its credentials (what the replica's state and status show)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    return f"{scheme}://{rest.rpartition('@')[2]}"


async def connect(servers: list[str], options: dict[str, Any], callbacks: dict[str, Any]) -> Any:
    """A nats-py connection that does not reconnect on its own: the follower reconnects from its cursor."""
    client, _, _ = nats()
    settings = {"connect_timeout": 2, "max_reconnect_attempts": 0, **options, **callbacks}
    settings["allow_reconnect"] = False
    return await client.connect(servers=servers, **settings)


async def stream_state(nc: Any, stream: str, details: bool) -> RemoteState:
    """The stream's INFO (with the list of deleted sequences when ``details``); RemoteBucketMissing if absent."""
    request = json.dumps({"deleted_details": True}).encode() if details else b""
    reply = await nc.request(f"$JS.API.STREAM.INFO.{stream}", request, timeout=5)
    info = json.loads(reply.data)
    error = info.get("error")
    if error:
        if error.get("code") == 404:
            raise RemoteBucketMissing(f"no bucket {stream[3:]!r} on the remote")
        raise RuntimeError(f"stream info of {stream}: {error.get('description', error)}")
    return RemoteState(info)


def message_row(msg: Any, prefix_length: int) -> tuple[tuple[int, str, int, bytes, int], int]:
    """A delivered message as ``(revision, key, op, value, created ns)``, and the stream's last sequence it implies.

    The sequence, the exact time (ns) and the pending count come from the
    reply subject (``$JS.ACK.<stream>.<consumer>.<delivered>.<seq>.<cseq>.<ns>.<pending>``,
    or the longer form with a domain and an account hash).
    """
    tokens = msg.reply.split(".")
    if len(tokens) == 9:
        seq, created, pending = int(tokens[5]), int(tokens[7]), int(tokens[8])
    else:
        seq, created, pending = int(tokens[7]), int(tokens[9]), int(tokens[10])
    headers = msg.headers
    op = _PUT
    if headers:
        kind = headers.get("KV-Operation")
        if kind is not None:
            op = _OPERATIONS.get(kind, int(Operation.PURGE))
        elif headers.get("Nats-Marker-Reason") is not None:
            op = int(Operation.PURGE)  # a server's limit marker (as the NATS backend's watcher reads it)
    return (seq, msg.subject[prefix_length:], op, msg.data or b"", created), seq + pending
