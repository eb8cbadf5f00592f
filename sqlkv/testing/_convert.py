"""nats.py's classes for sqlkv's entries and errors: what the stand-in returns and raises."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import sqlkv

__all__ = ["OPS", "deleted_entry", "entry", "msg_ttl_seconds", "nats", "nats_errors"]

OPS = {sqlkv.Operation.PUT: None, sqlkv.Operation.DEL: "DEL", sqlkv.Operation.PURGE: "PURGE"}
"""nats.py's ``operation`` of each sqlkv operation; an EXPIRE reads as ``"PURGE"``, as a NATS limit marker does."""


def nats(user: str = "sqlkv.testing") -> Any:
    """``(nats.js.api, nats.js.errors, nats.js.kv)``; RuntimeError naming the extra when nats-py is missing."""
    try:
        from nats.js import api, errors, kv
    except ImportError as exc:
        raise RuntimeError(f"{user} needs nats-py: pip install 'sqlkv[nats]'") from exc
    return api, errors, kv


def entry(found: sqlkv.Entry, *, from_get: bool = False) -> Any:
    """nats.py's Entry; like nats.py, ``get()`` gives ``None`` for an empty value, watch and history ``b""``."""
    _, _, kv = nats()
    return kv.KeyValue.Entry(
        bucket=found.bucket,
        key=found.key,
        value=(found.value or None) if from_get else found.value,
        revision=found.revision,
        delta=found.delta,
        created=found.created,
        operation=OPS.get(found.operation, "PURGE"),
    )


def deleted_entry(bucket: str, error: sqlkv.KeyDeletedError) -> Any:
    """The marker nats.py's ``KeyNotFoundError.entry`` carries for a deleted key (its ``op`` says which marker:
    the entry's value, delta, created and operation are None, as nats.py builds it)."""
    _, _, kv = nats()
    return kv.KeyValue.Entry(
        bucket=bucket,
        key=error.key,
        value=None,
        revision=error.revision,
        delta=None,
        created=None,
        operation=None,
    )


def msg_ttl_seconds(msg_ttl: float | None) -> int | None:
    """A ``msg_ttl`` as nats.py sends it: whole seconds (``str(int(msg_ttl))``); below 1, the server's 10165."""
    if msg_ttl is None:
        return None
    _, errors, _ = nats()
    seconds = int(msg_ttl)
    if seconds < 1:
        raise errors.BadRequestError(code=400, err_code=10165, description="invalid per-message TTL")
    return seconds


@contextlib.contextmanager
def nats_errors(bucket: str = "") -> Iterator[None]:
    """Translate sqlkv errors into the nats.py exception a caller of nats.py would catch."""
    _, errors, _ = nats()
    try:
        yield
    except sqlkv.KeyDeletedError as exc:
        raise errors.KeyNotFoundError(deleted_entry(bucket, exc), exc.operation.name) from None
    except sqlkv.KeyNotFoundError:
        raise errors.KeyNotFoundError() from None
    except sqlkv.WrongLastRevisionError as exc:
        raise errors.KeyWrongLastSequenceError(description=f"wrong last sequence: {exc.actual}") from None
    except sqlkv.InvalidKeyError as exc:
        raise errors.InvalidKeyError(str(exc)) from None
    except sqlkv.InvalidBucketNameError:
        raise errors.InvalidBucketNameError from None
    except sqlkv.BucketNotFoundError:
        raise errors.BucketNotFoundError from None
    except sqlkv.ValueTooLargeError:
        raise errors.BadRequestError(
            code=400, err_code=10054, description="message size exceeds maximum allowed"
        ) from None
    except sqlkv.BucketFullError:
        raise errors.ServiceUnavailableError(code=503, err_code=10077, description="maximum bytes exceeded") from None
