"""The counters check: a bucket's stored counters against a count of its rows (SQLite buckets only)."""

from __future__ import annotations

from typing import Any

from sqlkv._storage import ops

__all__ = ["counters", "recount"]


def recount(bucket: Any) -> Any:
    """(rows, bytes, live keys) counted from the bucket's table: the result, or an awaitable on an AsyncBucket."""
    return bucket._engine.read(ops.recount, bucket._sql)


def counters(bucket: Any) -> Any:
    """(rows, bytes, live keys) as the triggers keep them (``status()`` also leaves out what expired)."""
    return bucket._engine.read(ops.counters, bucket._sql)
