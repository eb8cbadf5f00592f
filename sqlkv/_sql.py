"""Every SQL statement sqlkv runs on a bucket, in one place.

Statements are plain text built once per bucket table. Table names come from
the bucket's integer id (``kv_<id>``), never from a user string; every value
is a bound parameter.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BucketSQL", "CatalogSQL", "bucket_table"]


def bucket_table(bucket_id: int) -> str:
    """The (unquoted) table name of bucket ``bucket_id``."""
    return f"kv_{int(bucket_id)}"


class CatalogSQL:
    """Statements on the bucket catalog."""

    select_by_name = "SELECT id, name, history, config, created FROM sqlkv_buckets WHERE name = ?"
    select_names = "SELECT name FROM sqlkv_buckets ORDER BY name"
    insert = "INSERT INTO sqlkv_buckets (name, history, config, created) VALUES (?, ?, ?, ?)"
    delete = "DELETE FROM sqlkv_buckets WHERE id = ?"


@dataclass(frozen=True, slots=True)
class BucketSQL:
    """The statements of one bucket table."""

    bucket: str
    bucket_id: int
    insert: str
    latest: str
    get_latest: str
    get_revision: str
    history: str
    live_keys: str
    live_keys_range: str
    stats: str
    drop: str
    sequence: str
    rows_after: str
    latest_rows: str
    latest_rows_range: str
    rows_between: str

    @classmethod
    def for_bucket(cls, bucket: str, bucket_id: int) -> BucketSQL:
        """Build the statements of bucket ``bucket`` stored in table ``kv_<bucket_id>``."""
        t = f'"{bucket_table(bucket_id)}"'
        latest_per_key = f"SELECT key, op, max(revision) FROM {t}"  # the bare op comes from the max row
        return cls(
            bucket=bucket,
            bucket_id=bucket_id,
            insert=f"INSERT INTO {t} (key, op, value, created) VALUES (?, ?, ?, ?)",
            latest=f"SELECT revision, op FROM {t} WHERE key = ? ORDER BY revision DESC LIMIT 1",
            get_latest=(
                f"SELECT revision, op, value, created FROM {t} WHERE key = ? ORDER BY revision DESC LIMIT 1"
            ),
            get_revision=f"SELECT key, op, value, created FROM {t} WHERE revision = ?",
            history=f"SELECT revision, op, value, created FROM {t} WHERE key = ? ORDER BY revision",
            live_keys=f"SELECT key FROM ({latest_per_key} GROUP BY key) WHERE op = 1 ORDER BY key",
            live_keys_range=(
                f"SELECT key FROM ({latest_per_key} WHERE key >= ? AND key < ? GROUP BY key) "
                "WHERE op = 1 ORDER BY key"
            ),
            stats=(
                f"SELECT count(*), coalesce(sum(length(CAST(key AS BLOB)) + length(value)), 0), "
                f"(SELECT count(*) FROM ({latest_per_key} GROUP BY key) WHERE op = 1), "
                f"(SELECT max(revision) FROM {t}) "
                f"FROM {t} WHERE op != 0"
            ),
            drop=f"DROP TABLE IF EXISTS {t}",
            sequence=f"SELECT max(revision) FROM {t}",
            rows_after=(
                f"SELECT revision, key, op, value, created FROM {t} "
                "WHERE revision > ? AND op != 0 ORDER BY revision LIMIT ?"
            ),
            latest_rows=(
                f"SELECT revision, key, op, value, created FROM {t} "
                f"WHERE revision IN (SELECT max(revision) FROM {t} GROUP BY key) AND op != 0 "
                "ORDER BY revision"
            ),
            latest_rows_range=(
                f"SELECT revision, key, op, value, created FROM {t} WHERE revision IN "
                f"(SELECT max(revision) FROM {t} WHERE key >= ? AND key < ? GROUP BY key) ORDER BY revision"
            ),
            rows_between=(
                f"SELECT revision, key, op, value, created FROM {t} "
                "WHERE revision >= ? AND revision <= ? AND op != 0 ORDER BY revision"
            ),
        )
