"""Every SQL statement on the catalog and on bucket tables, in one place.

Statements are plain text built once per bucket table. Table names come from
the bucket's integer id (``kv_<id>``), never from a user string; every value
is a bound parameter. Rows with ``op = 0`` are the invisible high-water rows
kept by the ``keep_high_water`` trigger and are never returned.
"""

from __future__ import annotations

TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing at run time: a command starts sooner)
if TYPE_CHECKING:
    from typing import Any


__all__ = ["LARGE_VALUE", "BucketSQL", "CatalogSQL", "ReplicaSQL", "bucket_table", "value_column", "wal_size_limit"]

LARGE_VALUE = 1 << 20
"""Values over this many bytes are written and read in chunks (see ``large``)."""


def value_by_revision(bucket_id: int) -> str:
    """The statement reading one row's whole value (``large.load`` where blob I/O is missing)."""
    return f'SELECT value FROM "{bucket_table(bucket_id)}" WHERE revision = ?'


def value_column(column: str = "value") -> str:
    """SQL for ``column``, NULL when it holds a large value (its length is in the row header: nothing is read)."""
    return f"CASE WHEN length({column}) <= {LARGE_VALUE} THEN {column} END"


MANY_KEYS = 64
"""Keys per ``get_latest_many`` statement (``scan.get_many`` pads its last chunk with NULLs)."""


def insert_many(bucket_id: int, count: int) -> str:
    """One INSERT of ``count`` rows (key, op, value, created, expires) into bucket ``bucket_id`` (``ops.put_many``)."""
    rows = ", ".join(["(?, ?, ?, ?, ?)"] * int(count))
    return f'INSERT OR REPLACE INTO "{bucket_table(bucket_id)}" (key, op, value, created, expires) VALUES {rows}'


def wal_size_limit(size: int) -> str:
    """The pragma that cuts the WAL file back to ``size`` bytes whenever SQLite rewinds it."""
    return f"PRAGMA journal_size_limit = {int(size)}"


def bucket_table(bucket_id: int) -> str:
    """The (unquoted) table name of bucket ``bucket_id``."""
    return f"kv_{int(bucket_id)}"


class CatalogSQL:
    """Statements on the bucket catalog and the counters."""

    select_by_name = "SELECT id, name, history, config, created FROM sqlkv_buckets WHERE name = ?"
    select_names = "SELECT name FROM sqlkv_buckets ORDER BY name"
    select_all = "SELECT id, name, config FROM sqlkv_buckets ORDER BY id"
    insert = "INSERT INTO sqlkv_buckets (name, history, config, created, ttl) VALUES (?, ?, ?, ?, ?)"
    update = "UPDATE sqlkv_buckets SET history = ?, config = ?, ttl = ? WHERE id = ?"
    delete = "DELETE FROM sqlkv_buckets WHERE id = ?"
    delete_stats = "DELETE FROM sqlkv_stats WHERE bucket_id = ?"


_ROW = f"revision, key, op, {value_column()}, created, expires"
"""A row as watchers read it (``expires``: the key's own deadline, or NULL); a large value is NULL (read in chunks by
``large.fill``)."""


class BucketSQL:
    """The statements of one bucket table (built once per bucket by :meth:`for_bucket`).

    A plain class, not a dataclass: it is made at every bucket handle and
    imported by every command line run, where a 35-field dataclass costs ~2 ms.
    """

    __slots__ = (
        "bucket",
        "bucket_id",
        "catalog_row",
        "clear_expires",
        "delete_key",
        "delete_key_below",
        "delete_revision",
        "drop",
        "expired_by_deadline",
        "get_latest",
        "get_latest_many",
        "get_latest_small",
        "get_revision",
        "history",
        "insert",
        "insert_large",
        "insert_with_revision",
        "large_row_of_key",
        "latest",
        "latest_markers",
        "latest_rows",
        "latest_rows_range",
        "live_keys",
        "live_keys_range",
        "newest_of_key",
        "next_expires",
        "oldest",
        "oldest_sized",
        "recount",
        "rows_after",
        "rows_after_top",
        "rows_between",
        "sequence",
        "set_expires",
        "sizes_of_key",
        "stats",
        "trim_all",
        "ttl",
    )

    bucket: str
    bucket_id: int
    insert: str
    insert_large: str
    insert_with_revision: str
    latest: str
    get_latest: str
    get_latest_many: str
    get_latest_small: str
    large_row_of_key: str
    get_revision: str
    history: str
    ttl: str
    live_keys: str
    live_keys_range: str
    stats: str
    catalog_row: str
    recount: str
    drop: str
    sequence: str
    rows_after: str
    rows_after_top: str
    latest_rows: str
    latest_rows_range: str
    rows_between: str
    oldest: str
    oldest_sized: str
    sizes_of_key: str
    next_expires: str
    expired_by_deadline: str
    newest_of_key: str
    delete_key: str
    delete_key_below: str
    delete_revision: str
    clear_expires: str
    set_expires: str
    latest_markers: str
    trim_all: str

    def __init__(self, **statements: Any) -> None:
        for name, text in statements.items():
            setattr(self, name, text)

    def __repr__(self) -> str:
        return f"BucketSQL({self.bucket!r}, {self.bucket_id})"

    @classmethod
    def for_bucket(cls, bucket: str, bucket_id: int) -> BucketSQL:
        """Build the statements of bucket ``bucket`` stored in table ``kv_<bucket_id>``."""
        t = f'"{bucket_table(bucket_id)}"'
        ttl = f"(SELECT ttl FROM sqlkv_buckets WHERE id = {int(bucket_id)})"
        # Rows older than this are aged out by the bucket TTL (the parameter is "now").
        cutoff = f"(SELECT CASE WHEN ttl > 0 THEN ?1 - ttl ELSE -1 END FROM sqlkv_buckets WHERE id = {int(bucket_id)})"
        # The latest row of each key, with the bare columns of that row (SQLite's max() rule).
        latest_per_key = f"SELECT key, op, max(revision), created, expires FROM {t}"
        small = "length(value) <= ?2"  # read from the row's header: the value itself is not loaded
        not_large = f"length(value) <= {LARGE_VALUE}"
        alive = f"op = 1 AND created > {cutoff} AND (expires IS NULL OR expires > ?1)"
        latest_alive_or_marker = f"op IN (1, 2, 3) AND created > {cutoff} AND (expires IS NULL OR expires > ?1)"
        return cls(
            bucket=bucket,
            bucket_id=bucket_id,
            # OR REPLACE: in a bucket of history 1 the key index is unique, and the insert replaces the
            # key's row (migration 0004); elsewhere nothing conflicts (a new revision is above every other).
            insert=f"INSERT OR REPLACE INTO {t} (key, op, value, created, expires) VALUES (?, ?, ?, ?, ?)",
            insert_large=(
                f"INSERT OR REPLACE INTO {t} (key, op, value, created, expires) VALUES (?, ?, zeroblob(?), ?, ?)"
            ),
            insert_with_revision=(
                f"INSERT OR REPLACE INTO {t} (revision, key, op, value, created) VALUES (?, ?, ?, ?, ?)"
            ),
            latest=(
                f"SELECT revision, op, created, expires, {ttl} FROM {t} WHERE key = ? ORDER BY revision DESC LIMIT 1"
            ),
            # The latest row of each of up to MANY_KEYS keys (a fixed IN list padded with NULLs: one statement
            # for every call), its bare columns from the max(revision) row (SQLite's rule), the bucket TTL last.
            get_latest_many=(
                f"SELECT key, max(revision), op, {value_column()}, created, expires, {ttl} FROM {t} "
                f"WHERE key IN ({', '.join(['?'] * MANY_KEYS)}) GROUP BY key"
            ),
            get_latest=(
                f"SELECT revision, op, {value_column()}, created, expires, {ttl} FROM {t} "
                "WHERE key = ? ORDER BY revision DESC LIMIT 1"
            ),
            # length(value) reads a row's header only, and so do columns stored before the value; any column
            # stored after it (created, expires) makes SQLite walk the value's overflow pages. These two never
            # read the pages of a value over ?2 bytes: the CASE guards skip value, created and expires then.
            get_latest_small=(
                f"SELECT revision, op, CASE WHEN {small} THEN value END, CASE WHEN {small} THEN created END, "
                f"CASE WHEN {small} THEN expires END, {ttl} FROM {t} WHERE key = ?1 ORDER BY revision DESC LIMIT 1"
            ),
            large_row_of_key=f"SELECT 1 FROM {t} WHERE key = ?1 AND length(value) > ?2 LIMIT 1",
            get_revision=f"SELECT key, op, {value_column()}, created FROM {t} WHERE revision = ?",
            history=f"SELECT revision, op, {value_column()}, created, expires FROM {t} WHERE key = ? ORDER BY revision",
            ttl=f"SELECT {ttl}",
            live_keys=(f"SELECT key FROM ({latest_per_key} WHERE op != 0 GROUP BY key) WHERE {alive} ORDER BY key"),
            live_keys_range=(
                f"SELECT key FROM ({latest_per_key} WHERE op != 0 AND key >= ?2 AND key < ?3 GROUP BY key) "
                f"WHERE {alive} ORDER BY key"
            ),
            stats=(
                f"SELECT rows, bytes, keys, (SELECT max(revision) FROM {t}) "
                f"FROM sqlkv_stats WHERE bucket_id = {int(bucket_id)}"
            ),
            catalog_row=f"SELECT config, created FROM sqlkv_buckets WHERE id = {int(bucket_id)}",
            recount=(
                f"SELECT count(*), coalesce(sum(length(CAST(key AS BLOB)) + length(value)), 0), "
                f"(SELECT count(*) FROM ({latest_per_key} WHERE op != 0 GROUP BY key) WHERE op = 1) "
                f"FROM {t} WHERE op != 0"
            ),
            drop=f"DROP TABLE IF EXISTS {t}",
            sequence=f"SELECT max(revision) FROM {t}",
            rows_after=f"SELECT {_ROW} FROM {t} WHERE revision > ? AND op != 0 ORDER BY revision LIMIT ?",
            # The same rows, each with the bucket's sequence: one statement, so one snapshot, when no value is large.
            # The same rows with the bucket's sequence, reading no large value's pages at all (created and expires are
            # stored after the value, so they are guarded too): a large row comes back with all three NULL, and the
            # caller reads the rows again in chunks (``changes.rows_after``), or leaves that to a thread (a loop).
            rows_after_top=(
                f"SELECT revision, key, op, {value_column()}, CASE WHEN {not_large} THEN created END, "
                f"CASE WHEN {not_large} THEN expires END, (SELECT max(revision) FROM {t}) FROM {t} "
                "WHERE revision > ? AND op != 0 ORDER BY revision LIMIT ?"
            ),
            latest_rows=(
                f"SELECT {_ROW} FROM {t} WHERE revision IN "
                f"(SELECT max(revision) FROM {t} WHERE op != 0 GROUP BY key) "
                f"AND {latest_alive_or_marker} ORDER BY revision"
            ),
            latest_rows_range=(
                f"SELECT {_ROW} FROM {t} WHERE revision IN "
                f"(SELECT max(revision) FROM {t} WHERE op != 0 AND key >= ?2 AND key < ?3 GROUP BY key) "
                f"AND {latest_alive_or_marker} ORDER BY revision"
            ),
            # Every row of a key takes the deadline of the key's latest row ``l`` (as ``history`` reports it); a key
            # whose latest row expired is left out whole.
            rows_between=(
                f"SELECT r.revision, r.key, r.op, {value_column('r.value')}, r.created, l.expires "
                f"FROM {t} AS r JOIN {t} AS l ON l.revision = (SELECT max(revision) FROM {t} WHERE key = r.key) "
                f"WHERE r.revision >= ?2 AND r.revision <= ?3 AND r.op != 0 AND r.created > {cutoff} "
                "AND (l.expires IS NULL OR l.expires > ?1) ORDER BY r.revision"
            ),
            oldest=f"SELECT revision, key, op, created FROM {t} WHERE op != 0 ORDER BY revision LIMIT ?",
            oldest_sized=(
                f"SELECT revision, key, op, created, length(CAST(key AS BLOB)) + length(value) FROM {t} "
                "WHERE op != 0 ORDER BY revision"
            ),
            sizes_of_key=(
                f"SELECT revision, op, length(CAST(key AS BLOB)) + length(value) FROM {t} WHERE key = ? AND op != 0"
            ),
            next_expires=f"SELECT min(expires) FROM {t} WHERE expires IS NOT NULL",
            expired_by_deadline=(
                f"SELECT revision, key, op FROM {t} WHERE expires IS NOT NULL AND expires <= ? ORDER BY expires LIMIT ?"
            ),
            newest_of_key=f"SELECT max(revision) FROM {t} WHERE key = ?",
            delete_key=f"DELETE FROM {t} WHERE key = ?",
            delete_key_below=f"DELETE FROM {t} WHERE key = ? AND revision < ?",
            delete_revision=f"DELETE FROM {t} WHERE revision = ?",
            clear_expires=f"UPDATE {t} SET expires = NULL WHERE revision = ?",
            set_expires=f"UPDATE {t} SET expires = ?2 WHERE revision = ?1",
            latest_markers=(
                f"SELECT key, newest, created FROM (SELECT key, op, max(revision) AS newest, created FROM {t} "
                "WHERE op != 0 GROUP BY key) WHERE op IN (2, 3, 4)"
            ),
            trim_all=(
                f"DELETE FROM {t} WHERE revision IN (SELECT revision FROM (SELECT revision, row_number() "
                f"OVER (PARTITION BY key ORDER BY revision DESC) AS age FROM {t} WHERE op != 0) WHERE age > ?)"
            ),
        )


class ReplicaSQL:
    """Statements of a replica's state and, for a mirror, its guard triggers (see ``replica``)."""

    __slots__ = (
        "create_guards",
        "create_outbox_limit",
        "create_outbox_trigger",
        "drop_triggers",
        "local_count",
        "local_revisions",
        "set_high_water",
    )

    def __init__(self, bucket_id: int) -> None:
        t = f'"{bucket_table(bucket_id)}"'
        bid = int(bucket_id)
        refuse = (
            f"WHEN (SELECT applying FROM sqlkv_replicas WHERE bucket_id = {bid}) = 0 "
            "BEGIN SELECT RAISE(ABORT, 'sqlkv: read-only replica'); END"
        )
        self.create_guards = (
            f'CREATE TRIGGER IF NOT EXISTS "kv_{bid}_replica_insert" BEFORE INSERT ON {t} '
            f"WHEN NEW.op BETWEEN 1 AND 3 AND (SELECT applying FROM sqlkv_replicas WHERE bucket_id = {bid}) = 0 "
            "BEGIN SELECT RAISE(ABORT, 'sqlkv: read-only replica'); END",
            f'CREATE TRIGGER IF NOT EXISTS "kv_{bid}_replica_update" BEFORE UPDATE ON {t} {refuse}',
        )
        # Sync mode: every local write (never the replica's own) is queued for the hub in its own transaction.
        self.create_outbox_trigger = (
            f'CREATE TRIGGER IF NOT EXISTS "kv_{bid}_replica_outbox" AFTER INSERT ON {t} '
            f"WHEN NEW.op BETWEEN 1 AND 3 AND (SELECT applying FROM sqlkv_replicas WHERE bucket_id = {bid}) = 0 "
            "BEGIN INSERT INTO sqlkv_replica_outbox (bucket_id, revision, key, op, value, base) "
            f"VALUES ({bid}, NEW.revision, NEW.key, NEW.op, NEW.value, coalesce((SELECT remote_revision "
            f"FROM sqlkv_replica_keys WHERE bucket_id = {bid} AND key = NEW.key), 0)); END"
        )
        # Sync mode: a value the outbox could not copy whole (written in chunks after the row) is refused.
        self.create_outbox_limit = (
            f'CREATE TRIGGER IF NOT EXISTS "kv_{bid}_replica_outbox_limit" BEFORE INSERT ON {t} '
            f"WHEN length(NEW.value) > {LARGE_VALUE} "
            f"AND (SELECT applying FROM sqlkv_replicas WHERE bucket_id = {bid}) = 0 "
            "BEGIN SELECT RAISE(ABORT, 'sqlkv: value too large'); END"
        )
        # Detaching: the bucket is a plain local bucket again.
        self.drop_triggers = (
            f'DROP TRIGGER IF EXISTS "kv_{bid}_replica_insert"',
            f'DROP TRIGGER IF EXISTS "kv_{bid}_replica_update"',
            f'DROP TRIGGER IF EXISTS "kv_{bid}_replica_outbox"',
            f'DROP TRIGGER IF EXISTS "kv_{bid}_replica_outbox_limit"',
        )
        self.local_count = f"SELECT count(*) FROM {t} WHERE op != 0 AND revision <= ?"
        self.local_revisions = f"SELECT revision FROM {t} WHERE op != 0 AND revision <= ? ORDER BY revision"
        # The invisible high-water row (as the keep_high_water trigger writes it): the next revision is above it.
        self.set_high_water = (
            f"INSERT OR REPLACE INTO {t} (revision, key, op, value, created) VALUES (?, '', 0, x'', ?)"
        )
