"""The remote side of a replica: a connection, the bucket's stream state, and its messages as rows."""

from __future__ import annotations

import json
from typing import Any

from .._backends.nats.errors import nats
from .._backends.nats.watcher import operation_of
from .._model.entry import Operation

__all__ = [
    "EDGE_HEADER",
    "CasFailed",
    "TooLarge",
    "RemoteBucketMissing",
    "RemoteState",
    "connect",
    "latest",
    "message_row",
    "publish",
    "redact",
    "stream_state",
]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.js import JetStreamContext

EDGE_HEADER = "Sqlkv-Edge"
"""Header of a message a sync replica sent up: ``<edge id>:<local revision>`` (it knows its echo by it)."""

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


async def connect(servers: list[str], options: dict[str, Any], callbacks: dict[str, Any]) -> Client:
    """A nats-py connection that does not reconnect on its own: the follower reconnects from its cursor."""
    client, _, _ = nats()
    # nats-py's first connect tries each server until it has failed max_reconnect_attempts + 1 times, pausing
    # reconnect_time_wait between rounds: once each, quickly, then NoServersError (the follower backs off).
    # A hub that vanished without closing the connection is noticed within ~15 s (nats-py's default: 4 min).
    settings = {"connect_timeout": 2, "ping_interval": 5, "max_outstanding_pings": 3, **options, **callbacks}
    settings.update(allow_reconnect=False, max_reconnect_attempts=1, reconnect_time_wait=0.01)
    nc: Client = await client.connect(servers=servers, **settings)  # (no wait_for: its task could lose the error)
    return nc


async def stream_state(nc: Client, stream: str, details: bool) -> RemoteState:
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


def message_row(msg: Msg, prefix_length: int) -> tuple[tuple[int, str, int, bytes, int], int, str]:
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
    op = int(operation_of(headers)) if headers else _PUT  # read as the NATS store reads it (an expiry: EXPIRE)
    edge = headers.get(EDGE_HEADER, "") if headers else ""
    return (seq, msg.subject[prefix_length:], op, msg.data or b"", created), seq + pending, edge


class CasFailed(Exception):
    """The hub's key was not at the expected revision."""


def _header_size(headers: dict[str, str]) -> int:
    """Bytes of a NATS header block (``NATS/1.0\\r\\n``, ``Name: value\\r\\n`` each, ``\\r\\n``)."""
    return 12 + sum(len(name.encode()) + len(value.encode()) + 4 for name, value in headers.items())


class TooLarge(Exception):
    """The hub refuses a message this large (its ``max_payload``)."""


async def publish(js: JetStreamContext, subject: str, op: int, value: bytes, base: int, tag: str) -> int:
    """Send a write up as a CAS against ``base`` (the key's remote revision, 0: none); its remote revision.

    CasFailed when the hub's key moved on (JetStream's "wrong last sequence"); TooLarge when the hub's
    maximum payload refuses it.
    """
    _, _, errors = nats()
    headers = {"Nats-Expected-Last-Subject-Sequence": str(base), EDGE_HEADER: tag}
    if op == int(Operation.DEL):
        headers["KV-Operation"] = "DEL"
    elif op == int(Operation.PURGE):
        headers["KV-Operation"] = "PURGE"
        headers["Nats-Rollup"] = "sub"
    client, _, _ = nats()
    payload = value if op == _PUT else b""
    limit = getattr(getattr(js, "_nc", None), "max_payload", None)
    if limit and len(payload) + _header_size(headers) > limit:  # the server would drop the connection
        raise TooLarge(f"{len(payload)} bytes and headers exceed the hub's maximum payload ({limit})")
    try:
        ack = await js.publish(subject, payload, headers=headers)
    except errors.APIError as exc:
        if exc.err_code in (10071, 10164):
            raise CasFailed(str(exc)) from None
        raise
    except client.errors.MaxPayloadError:
        raise TooLarge(f"{len(value)} bytes (and headers) exceed the hub's maximum payload") from None
    return int(ack.seq)


async def latest(nc: Client, stream: str, subject: str) -> tuple[tuple[int, int, bytes, int] | None, str]:
    """The hub's latest message of ``subject``: ((revision, op, value, created ns) or None, its edge tag)."""
    import base64
    from datetime import datetime, timezone

    reply = await nc.request(
        f"$JS.API.STREAM.MSG.GET.{stream}", json.dumps({"last_by_subj": subject}).encode(), timeout=5
    )
    answer = json.loads(reply.data)
    if answer.get("error"):
        if answer["error"].get("err_code") == 10037:  # no message: the key has no row on the hub
            return None, ""
        raise RuntimeError(f"get of {subject}: {answer['error'].get('description')}")
    message = answer["message"]
    raw = base64.b64decode(message.get("hdrs") or "").decode("utf-8", "replace")
    headers = {}
    for line in raw.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip():
            headers[name.strip()] = value.strip()
    op, tag = int(operation_of(headers)), headers.get(EDGE_HEADER, "")
    whole, _, fraction = str(message["time"]).rstrip("Z").partition(".")
    seconds = int(datetime.fromisoformat(whole).replace(tzinfo=timezone.utc).timestamp())
    created = seconds * 1_000_000_000 + int((fraction or "0").ljust(9, "0")[:9])
    return (int(message["seq"]), op, base64.b64decode(message.get("data") or ""), created), tag
