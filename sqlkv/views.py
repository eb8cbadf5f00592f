"""Statuses, entries, configurations and values as plain data: what the CLI, the inspector, export and migrate show.

Built on public ``sqlkv`` names only, so every presentation reads the same
fields the same way: :func:`status_view`, :func:`entry_view` and
:func:`config_view` turn the public values into JSON-ready dicts;
:func:`config_kwargs` turns one back into ``create_bucket`` arguments;
:func:`last_update` says when a bucket was last written; :func:`render` shows a
value as text, JSON, base64 or hex; :func:`dumps` writes JSON. Nothing here is
imported by ``import sqlkv``, and its own imports are light (a CLI command
starts sooner): ``json`` loads on the first :func:`dumps` or JSON rendering.
"""

from __future__ import annotations

import binascii

import sqlkv

TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing at run time: a command starts sooner)
if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime
    from typing import Any, Literal

    Encoding = Literal["text", "json", "base64", "hex"]

__all__ = [
    "CONFIG_FIELDS",
    "ENCODINGS",
    "OPERATION_WORDS",
    "config_kwargs",
    "config_view",
    "dumps",
    "entry_view",
    "last_update",
    "last_update_async",
    "render",
    "status_view",
    "value_base64",
    "value_text",
]

CONFIG_FIELDS = ("history", "ttl", "max_value_size", "max_bytes", "description", "metadata", "marker_ttl")
"""The fields of a bucket's configuration (``sqlkv.BucketConfig``), in the order they are shown."""

OPERATION_WORDS = {"PUT": "PUT", "DEL": "DELETE", "PURGE": "PURGE", "EXPIRE": "EXPIRE"}
"""How the NATS CLI names each operation (by ``Operation`` name) in its tables and watch lines."""

ENCODINGS = ("text", "json", "base64", "hex")
"""The ways :func:`render` can show a value."""


def config_view(config: sqlkv.BucketConfig) -> dict[str, Any]:
    """A bucket's configuration: every field of :data:`CONFIG_FIELDS` (``metadata`` a plain dict)."""
    return {
        "history": config.history,
        "ttl": config.ttl,
        "max_value_size": config.max_value_size,
        "max_bytes": config.max_bytes,
        "description": config.description,
        "metadata": dict(config.metadata),
        "marker_ttl": config.marker_ttl,
    }


def config_kwargs(data: Mapping[str, Any]) -> dict[str, Any]:
    """The ``create_bucket`` keyword arguments of a configuration view (absent fields and empty metadata left out)."""
    kwargs = {name: data[name] for name in CONFIG_FIELDS if name in data}
    if not kwargs.get("metadata"):
        kwargs.pop("metadata", None)
    return kwargs


def status_view(status: sqlkv.BucketStatus) -> dict[str, Any]:
    """A bucket's status: name, counts, its configuration's fields, ``created`` (ISO 8601), last revision."""
    return {
        "bucket": status.bucket,
        "values": status.values,
        "keys": status.keys,
        "bytes": status.bytes,
        **config_view(status.config),
        "created": status.created.isoformat(),
        "last_revision": status.last_revision,
    }


def entry_view(entry: sqlkv.Entry, *, value: bool = True) -> dict[str, Any]:
    """An entry: bucket, key, revision, operation name, ``created`` (ISO 8601), delta, size, ``expires`` (or None).

    With ``value``, also the value as UTF-8 text (``value``, None when it is
    not UTF-8) and as base64 (``value_base64``).
    """
    data: dict[str, Any] = {
        "bucket": entry.bucket,
        "key": entry.key,
        "revision": entry.revision,
        "operation": entry.operation.name,
        "created": entry.created.isoformat(),
        "delta": entry.delta,
        "size": len(entry.value),
        "expires": None if entry.expires is None else entry.expires.isoformat(),
    }
    if value:
        data["value"] = value_text(entry.value)
        data["value_base64"] = value_base64(entry.value)
    return data


def last_update(bucket: sqlkv.Bucket, status: sqlkv.BucketStatus) -> datetime | None:
    """When the bucket's newest revision was written; None if never, or if that entry is gone or expired.

    Read through the public API: the entries from the last revision on (one
    indexed read; later writes only make the answer newer).
    """
    if status.last_revision == 0:
        return None
    with bucket.watch(from_revision=status.last_revision, meta_only=True) as watcher:
        return _newest(watcher.initial())


async def last_update_async(bucket: sqlkv.AsyncBucket, status: sqlkv.BucketStatus) -> datetime | None:
    """:func:`last_update` of an ``AsyncBucket``."""
    if status.last_revision == 0:
        return None
    async with bucket.watch(from_revision=status.last_revision, meta_only=True) as watcher:
        return _newest(await watcher.initial())


def _newest(entries: list[sqlkv.Entry]) -> datetime | None:
    return entries[-1].created if entries else None


def value_text(value: bytes) -> str | None:
    """The value as text if it is UTF-8, else None."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return None


def value_base64(value: bytes) -> str:
    """The value in base64 (standard alphabet, padded)."""
    return binascii.b2a_base64(value, newline=False).decode("ascii")


def render(value: bytes, encoding: Encoding) -> str | None:
    """The value shown as ``text`` (UTF-8), ``json`` (indented), ``base64`` or ``hex``; None if it is not that."""
    if encoding == "base64":
        return value_base64(value)
    if encoding == "hex":
        return value.hex()
    text = value_text(value)
    if encoding == "text" or text is None:
        return text
    import json

    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return None


def dumps(data: object, *, html: bool = False) -> str:
    """``data`` as JSON text (non-ASCII kept as it is).

    With ``html`` it is compact, and ``<``, ``>`` and ``&`` are escaped
    (``\\u003c``...), so that a body served to a browser never holds markup from a value.
    """
    import json

    if not html:
        return json.dumps(data, ensure_ascii=False)
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
