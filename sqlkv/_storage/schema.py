"""The migration runner: numbered SQL files applied in order when a store opens.

Each file in ``migrations/`` is named ``NNNN_description.sql``. Its text up to
the line ``-- sqlkv:per-bucket`` is applied once to the database; the rest is
the bucket-table template, applied to every existing bucket table by that
migration and replayed (all migrations in order) for every bucket created
later. The applied version is kept in ``PRAGMA user_version``.
"""

from __future__ import annotations

import functools
import os
import re
import sqlite3
from collections.abc import Callable, Mapping
from functools import cache

from .._model.config import BucketConfig
from .._model.errors import NotAStoreError, SchemaTooNewError, StorageError
from .statements import bucket_table

__all__ = [
    "Migration",
    "apply_migrations",
    "bucket_template",
    "check_schema",
    "config_statements",
    "key_index_statements",
    "load_migrations",
]

_PER_BUCKET_MARKER = "-- sqlkv:per-bucket"
_FILE_RE = re.compile(r"(\d{4})_[a-z0-9_]+\.sql")
_PLACEHOLDER_RE = re.compile(r"\{\{(table|table:[a-z_]+|bucket_id|history|max_value_size|max_bytes|key_index)\}\}")
_CONFIG_PLACEHOLDERS = ("{{history}}", "{{max_value_size}}", "{{max_bytes}}")
_CREATE_TRIGGER_RE = re.compile(r"CREATE TRIGGER (\{\{table:[a-z_]+\}\})")


class Migration:
    """One numbered migration: store-level statements and per-bucket statements."""

    __slots__ = ("bucket_statements", "name", "store_statements", "version")

    def __init__(
        self, version: int, name: str, store_statements: tuple[str, ...], bucket_statements: tuple[str, ...]
    ) -> None:
        self.version = version
        self.name = name
        self.store_statements = store_statements
        self.bucket_statements = bucket_statements


def _migrations_dir() -> str | None:
    """The migrations as a directory: ``sqlkv/_migrations`` of an installed wheel, else the repository's
    ``migrations/`` (a source tree, an editable install); None when the package is not in a directory (a zip)."""
    package = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    packaged = os.path.join(package, "_migrations")
    if os.path.isdir(packaged):
        return packaged
    repository = os.path.join(os.path.dirname(package), "migrations")
    return repository if os.path.isdir(package) and os.path.isdir(repository) else None


def _migration_files() -> dict[str, Callable[[], str]]:
    """Each migration file's name, and how to read its text.

    Where the package lies in a directory the files are read from it as they
    are (what ``importlib.resources`` would do too, whose import costs every
    command line a few milliseconds); any other loader, a zip on ``sys.path``,
    is asked through ``importlib.resources``.
    """
    folder = _migrations_dir()
    if folder is not None:
        return {name: functools.partial(_read, os.path.join(folder, name)) for name in os.listdir(folder)}
    from importlib.resources import files

    resources = files("sqlkv") / "_migrations"
    return {entry.name: functools.partial(entry.read_text, encoding="utf-8") for entry in resources.iterdir()}


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as file:
        return file.read()


def split_statements(script: str) -> tuple[str, ...]:
    """Split an SQL script into complete statements (trigger bodies stay whole)."""
    statements: list[str] = []
    current: list[str] = []
    for line in script.splitlines(keepends=True):
        if not current and (not line.strip() or line.lstrip().startswith("--")):
            continue
        current.append(line)
        text = "".join(current)
        if sqlite3.complete_statement(text):
            statements.append(text.strip())
            current = []
    if "".join(current).strip():
        raise ValueError(f"incomplete SQL statement in migration: {''.join(current)!r}")
    return tuple(statements)


@cache
def migration_count() -> int:
    """How many migrations this sqlkv has: the schema version of an up-to-date file (no SQL parsed)."""
    return sum(1 for name in _migration_files() if _FILE_RE.fullmatch(name))


@cache
def load_migrations(directory: str | os.PathLike[str] | None = None) -> tuple[Migration, ...]:
    """Read and parse every migration file (of ``directory``, else sqlkv's own), in version order."""
    sources: dict[str, Callable[[], str]]
    if directory is not None:
        folder = os.fspath(directory)
        sources = {name: functools.partial(_read, os.path.join(folder, name)) for name in os.listdir(folder)}
    else:
        sources = _migration_files()
    found: list[Migration] = []
    for name in sorted(sources):
        match = _FILE_RE.fullmatch(name)
        if not match:
            continue
        text = sources[name]()
        store_part, _, bucket_part = text.partition(_PER_BUCKET_MARKER)
        found.append(
            Migration(
                version=int(match.group(1)),
                name=name,
                store_statements=split_statements(store_part),
                bucket_statements=split_statements(bucket_part),
            )
        )
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations must be numbered 1..n without gaps, found {versions}")
    return tuple(found)


def render(statement: str, bucket_id: int, values: Mapping[str, int]) -> str:
    """Fill a per-bucket statement's placeholders for bucket ``bucket_id`` with configuration ``values``."""
    table = bucket_table(bucket_id)

    def substitute(match: re.Match[str]) -> str:
        what = match.group(1)
        if what == "bucket_id":
            return str(int(bucket_id))
        if what in values:
            return str(int(values[what]))
        if what == "key_index":  # history 1: one row per key, kept by INSERT OR REPLACE (migration 0004)
            if int(values["history"]) == 1:
                return f'UNIQUE INDEX "{table}_key" ON "{table}" (key)'
            return f'INDEX "{table}_key_revision" ON "{table}" (key, revision)'
        if what == "table":
            return f'"{table}"'
        return f'"{table}_{what.partition(":")[2]}"'

    return _PLACEHOLDER_RE.sub(substitute, statement)


def bucket_template(
    bucket_id: int, values: Mapping[str, int], migrations: tuple[Migration, ...] | None = None
) -> list[str]:
    """All per-bucket statements, every migration in order, for a new bucket."""
    chosen = load_migrations() if migrations is None else migrations
    return [render(s, bucket_id, values) for m in chosen for s in m.bucket_statements]


def config_statements(
    bucket_id: int, values: Mapping[str, int], migrations: tuple[Migration, ...] | None = None
) -> list[str]:
    """Statements that re-create the bucket's configuration-dependent triggers for new ``values``.

    Every per-bucket ``CREATE TRIGGER`` that uses ``{{history}}``,
    ``{{max_value_size}}`` or ``{{max_bytes}}`` is dropped and created again
    from its newest definition.
    """
    chosen = load_migrations() if migrations is None else migrations
    newest: dict[str, str] = {}
    for migration in chosen:
        for statement in migration.bucket_statements:
            match = _CREATE_TRIGGER_RE.match(statement)
            if match and any(p in statement for p in _CONFIG_PLACEHOLDERS):
                newest[match.group(1)] = statement
    result: list[str] = []
    for name, statement in newest.items():
        result.append(f"DROP TRIGGER IF EXISTS {render(name, bucket_id, values)}")
        result.append(render(statement, bucket_id, values))
    return result


def key_index_statements(bucket_id: int, values: Mapping[str, int]) -> list[str]:
    """Statements that give the bucket the key index of its history (after a history 1 bucket is trimmed).

    History 1: UNIQUE on the key, so that an insert replaces the key's row;
    deeper histories: on (key, revision). As migration 0004 creates it.
    """
    statements = (
        "DROP INDEX IF EXISTS {{table:key_revision}}",
        "DROP INDEX IF EXISTS {{table:key}}",
        "CREATE {{key_index}}",
    )
    return [render(s, bucket_id, values) for s in statements]


def apply_migrations(conn: sqlite3.Connection, migrations: tuple[Migration, ...] | None = None) -> int:
    """Bring the database up to the newest schema in one transaction; return the version.

    Refuses (SchemaTooNewError) a database whose version is newer than the
    newest migration known here. ``conn`` must be in autocommit mode.
    """
    target = migration_count() if migrations is None else len(migrations)
    if _check_version(conn, target) == target:
        return target  # fast path: nothing to do, no write lock taken, no SQL file parsed
    chosen = load_migrations() if migrations is None else migrations
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = _check_version(conn, target)
        if current == 0 and conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            raise NotAStoreError(f"{_file_of(conn)} is an SQLite database, but not an sqlkv store: it is left as it is")
        buckets: list[tuple[int, dict[str, int]]] = []
        for migration in chosen[current:]:
            if migration.version > 1:
                buckets = [
                    (row[0], BucketConfig.from_json(row[1]).template_values())
                    for row in conn.execute("SELECT id, config FROM sqlkv_buckets")
                ]
            for statement in migration.store_statements:
                conn.execute(statement)
            for bucket_id, values in buckets:
                for statement in migration.bucket_statements:
                    conn.execute(render(statement, bucket_id, values))
        conn.execute(f"PRAGMA user_version = {int(target)}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return target


def _check_version(conn: sqlite3.Connection, target: int) -> int:
    current: int = conn.execute("PRAGMA user_version").fetchone()[0]
    if current > target:
        raise SchemaTooNewError(
            f"database schema version {current} is newer than this sqlkv knows ({target}); upgrade sqlkv to open it"
        )
    return current


def check_schema(conn: sqlite3.Connection) -> None:
    """For a read-only open: the file must already have exactly the schema of this sqlkv."""
    target = migration_count()
    current = _check_version(conn, target)
    if current == 0 and conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
        raise NotAStoreError(f"{_file_of(conn)} is an SQLite database, but not an sqlkv store: it is left as it is")
    if current == 0:
        raise NotAStoreError(
            f"{_file_of(conn)} is an empty SQLite database, not yet an sqlkv store (open it read-write)"
        )
    if current != target:
        raise StorageError(
            f"database schema version {current} is older than this sqlkv's ({target}): "
            "open it once read-write to upgrade it"
        )


def _file_of(conn: sqlite3.Connection) -> str:
    """The file of ``conn``'s main database, for a message."""
    return str(conn.execute("PRAGMA database_list").fetchone()[2] or "the file")
