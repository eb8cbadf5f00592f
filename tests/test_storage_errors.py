"""Broken files and hostile environments give typed errors, never raw sqlite3 ones."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import sqlkv

pytestmark = pytest.mark.anyio


async def test_file_that_is_not_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "not.db"
    path.write_bytes(b"this is plainly not a database file" * 200)
    with pytest.raises(sqlkv.StorageError, match="not a valid sqlkv database"):
        async with sqlkv.AsyncStore(path):
            pass
    assert path.read_bytes().startswith(b"this is plainly")


async def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(sqlkv.StorageError, match="does not exist"):
        async with sqlkv.AsyncStore(tmp_path / "nope" / "x.db"):
            pass


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
async def test_read_only_directory(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(sqlkv.StorageError):
            async with sqlkv.AsyncStore(folder / "x.db"):
                pass
    finally:
        folder.chmod(0o700)


async def test_full_database_is_a_typed_error_and_store_stays_usable(db_path: Path) -> None:
    import sqlite3

    async with sqlkv.AsyncStore(db_path) as store:
        kv = await store.create_bucket("b")
        await kv.put("small", b"x")
        pages = sqlite3.connect(db_path).execute("PRAGMA page_count").fetchone()[0]

        def limit(conn: sqlite3.Connection) -> None:
            conn.execute(f"PRAGMA max_page_count = {pages + 2}")

        await store._engine.write(limit)
        with pytest.raises(sqlkv.StorageFullError):
            for i in range(200):
                await kv.put(f"big.{i}", os.urandom(4000))
        assert (await kv.get("small")).value == b"x"
        await kv.put("small", b"y")  # still usable
        assert (await kv.get("small")).value == b"y"


async def test_read_only_store_never_writes(db_path: Path) -> None:
    import hashlib

    async with sqlkv.AsyncStore(db_path) as store:
        kv = await store.create_bucket("b", history=2)
        await kv.put("k", b"v")
    digest = hashlib.sha256(db_path.read_bytes()).hexdigest()
    async with sqlkv.AsyncStore(db_path, read_only=True) as store:
        assert store.read_only
        kv = await store.bucket("b")
        assert (await kv.get("k")).value == b"v"
        assert await kv.keys() == ["k"]
        async with kv.watch() as watcher:
            assert [e.key for e in await watcher.initial()] == ["k"]
        for write in (kv.put("k", b"x"), kv.delete("k"), store.create_bucket("c"), store.delete_bucket("b")):
            with pytest.raises(sqlkv.StorageError, match="read-only"):
                await write
    with sqlkv.Store(db_path, read_only=True) as sync:
        assert sync.bucket("b").get("k").value == b"v"
        with pytest.raises(sqlkv.StorageError, match="read-only"):
            sync.bucket("b").put("k", b"x")
    assert hashlib.sha256(db_path.read_bytes()).hexdigest() == digest


async def test_read_only_open_of_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(sqlkv.StorageError, match="no such file"):
        async with sqlkv.AsyncStore(tmp_path / "absent.db", read_only=True):
            pass
    assert not (tmp_path / "absent.db").exists()


async def test_read_only_file_opens_read_only(db_path: Path) -> None:
    async with sqlkv.AsyncStore(db_path) as store:
        await (await store.create_bucket("b")).put("k", b"v")
    db_path.chmod(0o400)
    try:
        async with sqlkv.AsyncStore(db_path, read_only=True) as store:
            assert (await (await store.bucket("b")).get("k")).value == b"v"
    finally:
        db_path.chmod(0o600)
