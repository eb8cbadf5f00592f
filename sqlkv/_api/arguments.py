"""Argument checks shared by every implementation of the API (SQLite async, SQLite sync, NATS).

Each public method of the interface checks its arguments here, once, then
hands the implementation values it can use as they are.
"""

from __future__ import annotations

import enum
import math
import os
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone

from .._model.config import BucketConfig, to_seconds
from .._model.entry import Entry, Operation
from .._model.errors import InvalidArgumentError
from .._model.validate import check_bucket_name, check_key, check_revision, coerce_value

__all__ = [
    "UNSET",
    "Unset",
    "bucket_changes",
    "check_timeout",
    "import_rows",
    "path_arg",
    "purge_args",
    "scan_args",
    "ttl_seconds",
    "bucket_config",
    "lock_args",
    "many_keys",
    "marker_args",
    "older_than_seconds",
    "value_args",
]

DEFAULT_MARKER_AGE = 30 * 60.0
"""purge_deletes keeps markers younger than this (seconds): 30 minutes, as NATS does."""


class Unset(enum.Enum):
    UNSET = "unset"


UNSET = Unset.UNSET
"""Marks an update_bucket() argument that was not given."""


def value_args(key: object, value: object, ttl: object) -> tuple[str, bytes, float | None]:
    """(key, value as bytes, per-key TTL in seconds or None) of put, create and update."""
    return check_key(key), coerce_value(value), None if ttl is None else to_seconds(ttl, "ttl")


def ttl_seconds(ttl: object) -> float | None:
    """A per-key TTL (seconds or a timedelta) in seconds, or None."""
    return None if ttl is None else to_seconds(ttl, "ttl")


def purge_args(key: object, last: object, ttl: object) -> tuple[str, int | None, float | None]:
    """(key, expected latest revision or None, the marker's TTL in seconds or None) of purge."""
    key, last = marker_args(key, last)
    return key, last, ttl_seconds(ttl)


def marker_args(key: object, last: object) -> tuple[str, int | None]:
    """(key, expected latest revision or None) of delete and purge."""
    check_key(key)
    if last is not None:
        check_revision(last, name="last", minimum=0)
    return key, last  # type: ignore[return-value]  # both checked


def older_than_seconds(older_than: float | timedelta | None) -> float:
    """purge_deletes' marker age in seconds: 30 minutes by default, 0 for every marker."""
    if older_than is None:
        return DEFAULT_MARKER_AGE
    if older_than == 0 and not isinstance(older_than, bool):
        return 0.0
    return to_seconds(older_than, "older_than")


def bucket_config(
    name: object,
    history: int,
    ttl: float | timedelta | None,
    max_value_size: int | None,
    max_bytes: int | None,
    description: str | None,
    metadata: Mapping[str, str] | None,
    marker_ttl: float | timedelta | None = None,
) -> BucketConfig:
    """A checked bucket name's configuration (create_bucket)."""
    check_bucket_name(name)
    return BucketConfig(
        history=history,
        ttl=ttl,  # type: ignore[arg-type]  # BucketConfig converts a timedelta
        max_value_size=max_value_size,
        max_bytes=max_bytes,
        description=description,
        metadata=metadata or {},
        marker_ttl=marker_ttl,  # type: ignore[arg-type]  # BucketConfig converts a timedelta
    )


def bucket_changes(name: object, **given: object) -> dict[str, object]:
    """The settings update_bucket was given (``None`` metadata: none), for ``dataclasses.replace``."""
    check_bucket_name(name)
    if given.get("metadata") is None and "metadata" in given:
        given["metadata"] = {}
    return {setting: value for setting, value in given.items() if value is not UNSET}


def lock_args(key: object, ttl: object, wait: object, timeout: object) -> tuple[str, float, bool, float]:
    """(key, TTL seconds, whether to wait, longest wait in seconds: inf for none) of a lock."""
    key, seconds = check_key(key), to_seconds(ttl, "ttl")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout >= 0):
        raise InvalidArgumentError("timeout must be None or a number of seconds >= 0")
    return key, seconds, bool(wait), math.inf if timeout is None else float(timeout)


def check_timeout(timeout: object) -> float | None:
    """A sync watcher's ``timeout``: None (wait for ever) or seconds >= 0."""
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0):
        raise InvalidArgumentError("timeout must be None or a number of seconds >= 0")
    return None if timeout is None else float(timeout)


def path_arg(path: object) -> str:
    """A file path given as ``str`` or ``os.PathLike``."""
    try:
        text = os.fspath(path)  # type: ignore[call-overload]
    except TypeError:
        raise InvalidArgumentError(f"path must be a str or os.PathLike, not {type(path).__name__}") from None
    if not isinstance(text, str) or not text:
        raise InvalidArgumentError(f"invalid path: {path!r}")
    return text


ImportRow = tuple[int, str, int, bytes, int]
"""An entry to import: (revision, key, op code, value, created ns)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)


def import_rows(entries: Iterable[Entry]) -> list[ImportRow]:
    """Entries to import as rows, checked: valid keys, known operations, bytes values, increasing revisions."""
    if isinstance(entries, (str, bytes)) or not isinstance(entries, Iterable):
        raise InvalidArgumentError("import_entries takes an iterable of sqlkv.Entry")
    rows: list[ImportRow] = []
    last = 0
    for entry in entries:
        if not isinstance(entry, Entry):
            raise InvalidArgumentError(f"import_entries takes sqlkv.Entry objects, not {type(entry).__name__}")
        revision = check_revision(entry.revision)
        if revision <= last:
            raise InvalidArgumentError(f"revisions must increase: {revision} after {last}")
        if not isinstance(entry.operation, Operation):
            raise InvalidArgumentError(f"unknown operation {entry.operation!r}")
        created = entry.created
        if not isinstance(created, datetime) or created.tzinfo is None:
            raise InvalidArgumentError("an entry's created time must be an aware datetime")
        ns = (created - _EPOCH) // _MICROSECOND * 1000
        rows.append((revision, check_key(entry.key), int(entry.operation), coerce_value(entry.value), ns))
        last = revision
    return rows


def scan_args(start: object, end: object, limit: object, reverse: object) -> tuple[str, str | None, int | None, bool]:
    """(start, end, limit, reverse) of entries() and iter_keys(): str bounds, a count >= 0 or None, a bool."""
    for name, bound in (("start", start), ("end", end)):
        if bound is not None and not isinstance(bound, str):
            raise InvalidArgumentError(f"{name} must be a str (a key or any prefix) or None, not {bound!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise InvalidArgumentError(f"limit must be None or an int >= 0, not {limit!r}")
    if not isinstance(reverse, bool):
        raise InvalidArgumentError(f"reverse must be a bool, not {reverse!r}")
    return start or "", end, limit, reverse  # type: ignore[return-value]


def many_keys(keys: object) -> list[str]:
    """get_many's keys: an iterable of valid keys (not a lone str)."""
    if isinstance(keys, (str, bytes)) or not isinstance(keys, Iterable):
        raise InvalidArgumentError(f"get_many takes an iterable of keys, not {keys!r}")
    return [check_key(key) for key in keys]
