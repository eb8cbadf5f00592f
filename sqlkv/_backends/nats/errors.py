"""nats-py's errors as sqlkv errors, and the pieces of nats-py the backend uses, imported on first use."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timezone
from typing import Any, TypeVar

from ..._model.errors import (
    BucketFullError,
    BucketNotFoundError,
    StorageError,
    ValueTooLargeError,
    WrongLastRevisionError,
)

__all__ = ["bucket_errors", "iso_ns", "message_ns", "nats", "ns", "retry_transient", "revision_of", "server_errors"]

_SEQ_RE = re.compile(r"wrong last sequence: (\d+)")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
T = TypeVar("T")

WRONG_LAST_SEQUENCE = (10071, 10164)
"""JetStream's "wrong last sequence" (10071) and its clustered form without a number (10164)."""


def nats() -> Any:
    """``(nats, nats.js.api, nats.js.errors)``; StorageError naming the extra when nats-py is missing."""
    try:
        import nats as client
        from nats.js import api, errors
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise StorageError("a nats:// store needs nats-py: pip install 'sqlkv[nats]'") from exc
    return client, api, errors


def revision_of(exc: BaseException) -> int:
    """The key's actual revision named in a "wrong last sequence: N" error (0 when absent)."""
    match = _SEQ_RE.search(str(getattr(exc, "description", "") or exc))
    return int(match.group(1)) if match else 0


def ns(moment: Any) -> int:
    """Nanoseconds since the epoch of a time nats-py reports (0 when unknown), in integers (no float rounding)."""
    if isinstance(moment, datetime):
        delta = (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)) - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000
    return 0


def iso_ns(stamp: str) -> int:
    """Nanoseconds since the epoch of the server's RFC 3339 time (``2026-01-02T03:04:05.123456789Z``)."""
    whole, _, fraction = stamp.rstrip("Z").partition(".")
    seconds = datetime.fromisoformat(whole).replace(tzinfo=timezone.utc) - _EPOCH
    return (seconds.days * 86_400 + seconds.seconds) * 1_000_000_000 + int((fraction or "0").ljust(9, "0")[:9])


def message_ns(msg: Any) -> int:
    """The exact time (ns) the server stored a message: from a direct get's ``Nats-Time-Stamp`` header or a
    delivered message's reply subject (``$JS.ACK.….<ns>.<pending>``); nats-py's own times lose nanoseconds and
    pass through floats."""
    stamp = (getattr(msg, "headers", None) or {}).get("Nats-Time-Stamp")
    if stamp:
        return iso_ns(stamp)
    reply = getattr(msg, "reply", None) or ""
    if reply.startswith("$JS.ACK."):
        tokens = reply.split(".")
        return int(tokens[7] if len(tokens) == 9 else tokens[9])
    return ns(getattr(msg, "time", None))


@contextlib.contextmanager
def server_errors(what: str) -> Any:
    """Anything else nats-py raises (timeouts, no responders, a lost connection) as a StorageError."""
    import nats.errors

    try:
        yield
    except nats.errors.Error as exc:
        raise StorageError(f"NATS: {what}: {exc}") from None


async def retry_transient(call: Callable[[], Awaitable[T]], attempts: int = 5) -> T:
    """Creating a stream: retry the server's transient 10049 "error creating store for stream" (idempotent)."""
    _, _, errors = nats()
    for attempt in range(attempts):
        try:
            return await call()
        except errors.ServerError as exc:
            if exc.err_code != 10049 or attempt == attempts - 1:
                raise
            await asyncio.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


@contextlib.asynccontextmanager
async def bucket_errors(bucket: str) -> AsyncIterator[None]:
    """The errors of an operation on bucket ``bucket`` as sqlkv errors (KeyNotFoundError and NoKeysError pass)."""
    import nats.errors as nats_errors

    _, _, errors = nats()
    try:
        yield
    except errors.KeyWrongLastSequenceError as exc:
        raise WrongLastRevisionError("", 0, revision_of(exc)) from None
    except errors.BadRequestError as exc:
        if exc.err_code in WRONG_LAST_SEQUENCE:
            raise WrongLastRevisionError("", 0, revision_of(exc)) from None
        if exc.err_code == 10054:
            raise ValueTooLargeError(f"value exceeds the bucket's max_value_size ({bucket})") from None
        raise StorageError(str(exc)) from None
    except errors.ServiceUnavailableError as exc:
        if exc.err_code == 10077:
            raise BucketFullError(f"maximum bytes exceeded: bucket {bucket} is full") from None
        raise StorageError(str(exc)) from None
    except (errors.BucketNotFoundError, errors.NotFoundError) as exc:
        if isinstance(exc, errors.KeyNotFoundError):
            raise
        raise BucketNotFoundError(f"bucket not found: {bucket}") from None
    except nats_errors.Error as exc:  # timeouts, no responders, a connection gone: the server's trouble
        if isinstance(exc, (errors.KeyNotFoundError, errors.NoKeysError)):
            raise
        raise StorageError(f"NATS: {exc}") from None
