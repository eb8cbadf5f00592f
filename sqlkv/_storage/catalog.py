"""Bucket operations on the catalog: create, find, list, update and delete buckets.

Like ``ops``, plain functions of an ``sqlite3.Connection``; writes run in the
writer's transaction.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import time

from .._model.config import BucketConfig
from .._model.errors import BucketExistsError, BucketNotFoundError
from . import schema
from .statements import BucketSQL, CatalogSQL

__all__ = [
    "BucketRecord",
    "all_buckets",
    "bucket_names",
    "create_bucket",
    "delete_bucket",
    "find_bucket",
    "update_config",
]

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
    for statement in schema.bucket_template(bucket_id, config.template_values()):
        conn.execute(statement)
    return bucket_id, name, config, created


def update_config(conn: sqlite3.Connection, name: str, changes: dict[str, object]) -> tuple[BucketRecord, BucketConfig]:
    """Change the configuration of bucket ``name`` (a smaller history trims every key at once).

    Returns the new record and the old configuration. A lower ``max_bytes``
    refuses new values until enough is removed.
    """
    bucket_id, _, old, created = find_bucket(conn, name)
    new = dataclasses.replace(old, **changes)  # type: ignore[arg-type]  # validates like BucketConfig(...)
    conn.execute(CatalogSQL.update, (new.history, new.to_json(), new.ttl_ns, bucket_id))
    for statement in schema.config_statements(bucket_id, new.template_values()):
        conn.execute(statement)
    if new.history < old.history:
        conn.execute(BucketSQL.for_bucket(name, bucket_id).trim_all, (new.history,))
    if (new.history == 1) != (old.history == 1):  # after the trim: a unique key index needs one row per key
        for statement in schema.key_index_statements(bucket_id, new.template_values()):
            conn.execute(statement)
    return (bucket_id, name, new, created), old


def delete_bucket(conn: sqlite3.Connection, name: str) -> None:
    """Drop bucket ``name`` and all its data; its revision counter starts again if re-created."""
    bucket_id = find_bucket(conn, name)[0]
    conn.execute(BucketSQL.for_bucket(name, bucket_id).drop)
    conn.execute(CatalogSQL.delete, (bucket_id,))
    conn.execute(CatalogSQL.delete_stats, (bucket_id,))
    journal = getattr(conn, "journal", None)
    if journal is not None:
        journal.append((bucket_id, None))  # its watchers read the table, find it gone, and end
