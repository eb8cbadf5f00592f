"""Schema migrations: versioning, refusal of newer files, and evolving every bucket table."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

import sqlkv
from sqlkv._storage import schema as _migrations
from sqlkv._storage.schema import apply_migrations, load_migrations, split_statements
from tests.support.counters import recount

pytestmark = pytest.mark.anyio

REPO_MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def test_migrations_are_numbered_and_parse() -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    first = migrations[0]
    assert any("CREATE TABLE sqlkv_buckets" in s for s in first.store_statements)
    assert any(s.startswith("CREATE TRIGGER") and s.rstrip().endswith("END;") for s in first.bucket_statements)


def test_split_keeps_trigger_bodies_whole() -> None:
    script = "CREATE TABLE t (a);\n-- note\nCREATE TRIGGER x AFTER INSERT ON t BEGIN\n SELECT 1;\n SELECT 2;\nEND;\n"
    assert len(split_statements(script)) == 2


async def test_open_records_schema_version(db_path: Path) -> None:
    async with sqlkv.AsyncStore(db_path):
        pass
    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(load_migrations())
    conn.close()


async def test_newer_schema_is_refused(db_path: Path) -> None:
    async with sqlkv.AsyncStore(db_path):
        pass
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    with pytest.raises(sqlkv.SchemaTooNewError, match="999"):
        async with sqlkv.AsyncStore(db_path):
            pass


def test_a_later_migration_alters_every_bucket_table(tmp_path: Path) -> None:
    """A migration 0002 that adds a column and an index to every existing bucket table."""
    folder = tmp_path / "migrations"
    shutil.copytree(REPO_MIGRATIONS, folder)
    next_version = len(load_migrations.__wrapped__(REPO_MIGRATIONS)) + 1
    (folder / f"{next_version:04d}_add_note.sql").write_text(
        "CREATE TABLE sqlkv_notes (id INTEGER PRIMARY KEY);\n"
        "-- sqlkv:per-bucket\n"
        "ALTER TABLE {{table}} ADD COLUMN note TEXT;\n"
        "CREATE INDEX {{table:created}} ON {{table}} (created);\n"
    )
    v1 = load_migrations.__wrapped__(REPO_MIGRATIONS)
    v2 = load_migrations.__wrapped__(folder)
    assert len(v2) == len(v1) + 1

    db = tmp_path / "db.sqlite"
    conn = sqlite3.connect(db, isolation_level=None)
    assert apply_migrations(conn, v1) == len(v1)
    from sqlkv._model.config import BucketConfig
    from sqlkv._storage import catalog as _catalog

    conn.execute("BEGIN")
    ids = [_catalog.create_bucket(conn, name, BucketConfig())[0] for name in ("one", "two")]
    conn.execute("COMMIT")

    assert apply_migrations(conn, v2) == len(v2)
    for bucket_id in ids:
        columns = [row[1] for row in conn.execute(f'PRAGMA table_info("kv_{bucket_id}")')]
        assert "note" in columns
        indexes = [row[1] for row in conn.execute(f'PRAGMA index_list("kv_{bucket_id}")')]
        assert f"kv_{bucket_id}_created" in indexes
    # a bucket created after the upgrade gets the same shape by replaying the template
    statements = _migrations.bucket_template(99, BucketConfig().template_values(), v2)
    assert any("ADD COLUMN note" in s for s in statements)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(v2)
    conn.close()


def test_failed_migration_leaves_database_unchanged(tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    shutil.copytree(REPO_MIGRATIONS, folder)
    current = len(load_migrations.__wrapped__(REPO_MIGRATIONS))
    (folder / f"{current + 1:04d}_broken.sql").write_text("CREATE TABLE ok_table (a);\nTHIS IS NOT SQL;\n")
    migrations = load_migrations.__wrapped__(folder)
    conn = sqlite3.connect(tmp_path / "db.sqlite", isolation_level=None)
    apply_migrations(conn, migrations[:current])
    with pytest.raises(sqlite3.OperationalError):
        apply_migrations(conn, migrations)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == current
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "ok_table" not in tables
    conn.close()


def test_history_triggers_can_be_recreated_for_a_new_depth(tmp_path: Path) -> None:
    from sqlkv._model.config import BucketConfig
    from sqlkv._storage import catalog as _catalog

    conn = sqlite3.connect(tmp_path / "db.sqlite", isolation_level=None)
    apply_migrations(conn)
    bucket_id = _catalog.create_bucket(conn, "b", BucketConfig(history=5))[0]
    insert = f'INSERT INTO "kv_{bucket_id}" (key, op, value, created) VALUES (?, 1, ?, 0)'
    for i in range(5):
        conn.execute(insert, ("k", str(i)))
    conn.execute("BEGIN")
    for statement in _migrations.config_statements(bucket_id, BucketConfig(history=2).template_values()):
        conn.execute(statement)
    conn.execute("COMMIT")
    conn.execute(insert, ("k", "5"))
    rows = conn.execute(f'SELECT value FROM "kv_{bucket_id}" WHERE key = ? ORDER BY revision', ("k",))
    assert [r[0] for r in rows] == ["4", "5"]
    conn.close()


async def test_upgrade_from_schema_1_keeps_data_and_counts_it(tmp_path: Path) -> None:
    """A file written by schema 1 (with buckets and history) opens under the current schema."""
    from sqlkv._model.config import BucketConfig

    path = tmp_path / "v1.db"
    v1 = load_migrations()[:1]
    conn = sqlite3.connect(path, isolation_level=None)
    apply_migrations(conn, v1)
    conn.execute(
        "INSERT INTO sqlkv_buckets (name, history, config, created) VALUES ('old', 3, ?, 0)",
        (BucketConfig(history=3).to_json(),),
    )
    for statement in _migrations.bucket_template(1, BucketConfig(history=3).template_values(), v1):
        conn.execute(statement)
    insert = 'INSERT INTO "kv_1" (key, op, value, created) VALUES (?, ?, ?, 1000)'
    for key, op, value in [("a", 1, b"1"), ("a", 1, b"22"), ("b", 1, b"x"), ("b", 2, b""), ("c", 1, b"333")]:
        conn.execute(insert, (key, op, value))
    conn.close()

    async with sqlkv.AsyncStore(path) as store:
        kv = await store.bucket("old")
        status = await kv.status()
        assert (status.values, status.keys, status.bytes) == (5, 2, (1 + 1) + (1 + 2) + (1 + 1) + 1 + (1 + 3))
        assert await recount(kv) == (status.values, status.bytes, status.keys)
        assert [e.value for e in await kv.history("a")] == [b"1", b"22"]
        assert await kv.put("a", b"4") == 6
        assert await kv.put("a", b"5") == 7
        assert [e.value for e in await kv.history("a")] == [b"22", b"4", b"5"]
        assert await recount(kv) == ((s := await kv.status()).values, s.bytes, s.keys)


async def test_upgrade_to_schema_4_gives_history_1_buckets_a_unique_key_index(tmp_path: Path) -> None:
    """A schema-3 file: its history-1 bucket gets the unique key index, its history-3 bucket keeps (key, revision)."""
    from sqlkv._model.config import BucketConfig

    path = tmp_path / "v3.db"
    v3 = load_migrations()[:3]
    conn = sqlite3.connect(path, isolation_level=None)
    apply_migrations(conn, v3)
    for bucket_id, (name, history) in enumerate([("one", 1), ("three", 3)], start=1):
        config = BucketConfig(history=history)
        conn.execute(
            "INSERT INTO sqlkv_buckets (name, history, config, created) VALUES (?, ?, ?, 0)",
            (name, history, config.to_json()),
        )
        for statement in _migrations.bucket_template(bucket_id, config.template_values(), v3):
            conn.execute(statement)
        insert = f'INSERT INTO "kv_{bucket_id}" (key, op, value, created) VALUES (?, ?, ?, 1000)'
        for key, op, value in [("a", 1, b"1"), ("a", 1, b"22"), ("b", 1, b"x"), ("b", 2, b""), ("c", 1, b"333")]:
            conn.execute(insert, (key, op, value))
    # Two high-water rows, as a replica's cursor can leave them: the upgrade keeps the newer one.
    conn.execute("INSERT INTO \"kv_1\" (revision, key, op, value, created) VALUES (10, '', 0, x'', 0)")
    conn.execute("INSERT INTO \"kv_1\" (revision, key, op, value, created) VALUES (12, '', 0, x'', 0)")
    conn.close()

    async with sqlkv.AsyncStore(path) as store:
        one, three = await store.bucket("one"), await store.bucket("three")
        assert (await one.status()).values == 3
        assert await recount(one) == ((s := await one.status()).values, s.bytes, s.keys)
        assert await one.put("a", b"4") == 13
        assert await one.put("a", b"5") == 14
        assert [(e.revision, e.value) for e in await one.history("a")] == [(14, b"5")]
        assert await recount(one) == ((s := await one.status()).values, s.bytes, s.keys)
        assert await three.put("a", b"4") == 6
        assert [e.value for e in await three.history("a")] == [b"1", b"22", b"4"]
        assert await recount(three) == ((s := await three.status()).values, s.bytes, s.keys)
    conn = sqlite3.connect(path)
    indexes = {r[0]: r[1] for r in conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index'")}
    conn.close()
    assert "UNIQUE INDEX" in indexes["kv_1_key"] and "kv_1_key_revision" not in indexes
    assert "(key, revision)" in indexes["kv_2_key_revision"] and "kv_2_key" not in indexes


@pytest.mark.parametrize("path", [(1, 4, 1), (4, 1, 2, 1)])
def test_history_moving_to_and_from_1_keeps_counts_and_revisions(tmp_path: Path, path: tuple[int, ...]) -> None:
    """Each change of depth swaps the key index after the trim; counters stay exact, revisions keep rising."""
    with sqlkv.Store(tmp_path / "db.sqlite") as store:
        kv = store.create_bucket("b", history=path[0])
        revision = 0
        for depth in (*path[1:], path[-1]):
            for key in ("a", "b", "a", "c", "a"):
                new = kv.put(key, key.encode() * 3)
                assert new == revision + 1
                revision = new
            kv.delete("b")
            revision += 1
            assert recount(kv) == ((s := kv.status()).values, s.bytes, s.keys)
            before = len(kv.history("a"))
            assert 1 <= before <= kv.status().history
            store.update_bucket("b", history=depth)
            assert recount(kv) == ((s := kv.status()).values, s.bytes, s.keys)
            assert len(kv.history("a")) == min(before, depth)


def test_a_source_tree_reads_the_repository_migrations_without_importlib_resources(tmp_path: Path) -> None:
    """A checkout (or an editable install) reads ``migrations/`` at the repository's top as files: the package
    has no ``_migrations`` of its own there, and ``importlib.resources`` (slow to import) is left unloaded."""
    import subprocess
    import sys

    import sqlkv
    from sqlkv._storage import schema

    package = Path(sqlkv.__file__).resolve().parent
    if (package / "_migrations").is_dir():
        pytest.skip("sqlkv is installed from a wheel here")
    assert schema._migrations_dir() == str(package.parent / "migrations")
    script = (
        "import sys, sqlkv\n"
        "with sqlkv.Store(sys.argv[1]) as store: store.create_bucket('b').put('k', b'v')\n"
        "print('importlib.resources' in sys.modules)\n"
    )
    run = subprocess.run([sys.executable, "-c", script, str(tmp_path / "s.db")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["False"]
