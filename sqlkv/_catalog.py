"""Bucket operations on the catalog: create, find, list, update and delete buckets.

Like ``_ops``, plain functions of an ``sqlite3.Connection``; writes run in the
writer's transaction.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import time

from . import _migrations
from ._config import BucketConfig
from ._errors import BucketExistsError, BucketNotFoundError
from ._sql import BucketSQL, CatalogSQL

__all__ = ["BucketRecord", "bucket_names", "create_bucket", "delete_bucket", "find_bucket", "update_bucket"]

BucketRecord = tuple[int, str, BucketConfig, int]
"""(id, name, config, created ns) of a catalog row."""


def find_bucket(conn: sqlite3.Connection, name: str) -> BucketRecord:
    """The catalog row of bucket ``name``; BucketNotFoundError if there is none."""
    row = conn.execute(CatalogSQL.select_by_name, (name,)).fetchone()
    if row is None:
        raise BucketNotFoundError(f"bucket not found: {name}")
    return row[0], row[1], BucketConfig.from_json(row[3]), row[4]


def bucket_names(conn: sqlite3.Connection) -> list[str]:
    """Every bucket name, sorted."""
    return [row[0] for row in conn.execute(CatalogSQL.select_names)]


def all_buckets(conn: sqlite3.Connection) -> list[tuple[BucketSQL, BucketConfig]]:
    """Every bucket's statements and configuration."""
    return [
        (BucketSQL.for_bucket(name, bucket_id), BucketConfig.from_json(config))
        for bucket_id, name, config in conn.execute(CatalogSQL.select_all)
    ]


def create_bucket(conn: sqlite3.Connection, name: str, config: BucketConfig) -> BucketRecord:
    """Create bucket ``name``; the same config again returns the existing bucket."""
    row = conn.execute(CatalogSQL.select_by_name, (name,)).fetchone()
    if row is not None:
        existing = BucketConfig.from_json(row[3])
        if existing != config:
            raise BucketExistsError(f"bucket name already in use with a different configuration: {name}")
        return row[0], row[1], existing, row[4]
    created = time.time_ns()
    cursor = conn.execute(CatalogSQL.insert, (name, config.history, config.to_json(), created, config.ttl_ns))
    bucket_id = cursor.lastrowid
    assert bucket_id is not None
    for statement in _migrations.bucket_template(bucket_id, config.template_values()):
        conn.execute(statement)
    return bucket_id, name, config, created


def update_bucket(conn: sqlite3.Connection, name: str, changes: dict[str, object], now: int) -> BucketRecord:
    """Change the configuration of bucket ``name``; a smaller history trims every key at once.

    A new or shorter TTL applies to existing entries at once: what it ages out
    is swept in the same transaction (EXPIRE markers included), so a later,
    longer TTL cannot bring it back. A lower ``max_bytes`` refuses new values
    until enough is removed.
    """
    bucket_id, _, old, created = find_bucket(conn, name)
    new = dataclasses.replace(old, **changes)  # type: ignore[arg-type]  # validates like BucketConfig(...)
    conn.execute(CatalogSQL.update, (new.history, new.to_json(), new.ttl_ns, bucket_id))
    for statement in _migrations.config_statements(bucket_id, new.template_values()):
        conn.execute(statement)
    sql = BucketSQL.for_bucket(name, bucket_id)
    if new.history < old.history:
        conn.execute(sql.trim_all, (new.history,))
    if new.ttl_ns and (not old.ttl_ns or new.ttl_ns < old.ttl_ns):
        from ._expiry import sweep_bucket  # (a cycle at import time: _expiry lists buckets here)

        while sweep_bucket(conn, sql, new.ttl_ns, now, 10_000)[2] == 10_000:
            pass
    return bucket_id, name, new, created


def delete_bucket(conn: sqlite3.Connection, name: str) -> None:
    """Drop bucket ``name`` and all its data; its revision counter starts again if re-created."""
    bucket_id = find_bucket(conn, name)[0]
    conn.execute(BucketSQL.for_bucket(name, bucket_id).drop)
    conn.execute(CatalogSQL.delete, (bucket_id,))
    conn.execute(CatalogSQL.delete_stats, (bucket_id,))
