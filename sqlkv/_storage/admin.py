"""Bucket administration that spans the catalog and the bucket's rows: changing a bucket's configuration."""

from __future__ import annotations

import sqlite3

from .catalog import BucketRecord, update_config
from .expiry import sweep_bucket
from .statements import BucketSQL

__all__ = ["update_bucket"]


def update_bucket(conn: sqlite3.Connection, name: str, changes: dict[str, object], now: int) -> BucketRecord:
    """Change the configuration of bucket ``name``, in one write transaction.

    A smaller history trims every key at once. A new or shorter TTL applies to
    existing entries at once: what it ages out is swept in the same
    transaction (EXPIRE markers included), so a later, longer TTL cannot bring
    it back.
    """
    record, old = update_config(conn, name, changes)
    bucket_id, _, new, _ = record
    if new.ttl_ns and (not old.ttl_ns or new.ttl_ns < old.ttl_ns):
        sql = BucketSQL.for_bucket(name, bucket_id)
        while sweep_bucket(conn, sql, new.ttl_ns, now, 10_000, new.marker_ttl_ns)[2] == 10_000:
            pass
    return record
