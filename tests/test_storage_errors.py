"""Broken files and hostile environments give typed errors, never raw sqlite3 ones."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

import pytest

import sqlkv
from tests.support.unprivileged import run_unprivileged, shared_dir

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


def test_read_only_directory() -> None:
    """Creating a store where the user may not write: a StorageError (before: a raw PermissionError)."""
    with shared_dir() as folder:
        (folder / "ro").mkdir(mode=0o555)
        (folder / "ro").chmod(0o555)
        result = run_unprivileged(
            """
            async def main():
                async with sqlkv.AsyncStore(sys.argv[1]):
                    pass
            for attempt in (lambda: anyio.run(main), lambda: sqlkv.Store(sys.argv[1]).open()):
                try:
                    attempt()
                except sqlkv.StorageError as exc:
                    print("StorageError:", exc)
            """,
            str(folder / "ro" / "x.db"),
        )
        assert result.stderr == ""
        assert result.stdout.count("StorageError: cannot create database file") == 2, result.stdout
        assert "permission denied" in result.stdout


async def test_full_database_is_a_typed_error_and_store_stays_usable(db_path: Path) -> None:
    import sqlite3

    async with sqlkv.AsyncStore(db_path) as store:
        kv = await store.create_bucket("b")
        await kv.put("small", b"x")
        with contextlib.closing(sqlite3.connect(db_path)) as conn:  # (closed: Python 3.13 warns of an unclosed one)
            pages = conn.execute("PRAGMA page_count").fetchone()[0]

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


def test_a_store_in_a_read_only_directory_opens_read_only() -> None:
    """read_only=True works where SQLite cannot create the -shm file (immutable mode); a write open says why not."""
    with shared_dir() as folder:
        home = folder / "ro"
        home.mkdir()
        with sqlkv.Store(home / "s.db") as store:
            store.create_bucket("b", history=3).put("k", b"v")
        assert not (home / "s.db-wal").exists() and not (home / "s.db-shm").exists()
        (home / "s.db").chmod(0o644)
        home.chmod(0o555)
        result = run_unprivileged(
            """
            path = sys.argv[1]
            with sqlkv.Store(path, read_only=True) as store:
                print("sync", store.bucket("b").get("k").value, store.bucket_names())
            async def main():
                async with sqlkv.AsyncStore(path, read_only=True) as store:
                    kv = await store.bucket("b")
                    print("async", (await kv.get("k")).value, (await kv.status()).values)
                    async with kv.watch() as watcher:
                        print("watch", [e.key for e in await watcher.initial()])
            anyio.run(main)
            try:
                sqlkv.Store(path).open()
            except sqlkv.StorageError as exc:
                print("write open:", exc)
            print(sorted(os.listdir(os.path.dirname(path))))
            """,
            str(home / "s.db"),
        )
        assert result.stderr == "", result.stderr
        lines = result.stdout.splitlines()
        assert lines[:3] == ["sync b'v' ['b']", "async b'v' 1", "watch ['k']"], result.stdout
        assert lines[3].startswith("write open: ") and "read_only=True" in lines[3], result.stdout
        assert lines[4] == "['s.db']"  # nothing was created beside it


def test_read_only_in_a_read_only_directory_with_a_wal_left_says_what_to_do() -> None:
    with shared_dir() as folder:
        home = folder / "ro"
        home.mkdir()
        writer = sqlkv.Store(home / "s.db").open()
        writer.create_bucket("b").put("k", b"v")  # open: its -wal and -shm exist
        try:
            (home / "s.db").chmod(0o644)
            home.chmod(0o555)
            result = run_unprivileged(
                """
                try:
                    sqlkv.Store(sys.argv[1], read_only=True).open().close()
                    print("opened")
                except sqlkv.StorageError as exc:
                    print("StorageError:", exc)
                """,
                str(home / "s.db"),
            )
        finally:
            home.chmod(0o755)
            writer.close()
        assert result.stderr == "", result.stderr
        assert result.stdout.startswith("StorageError: cannot open") and "copy the file" in result.stdout


def test_another_sqlite_database_is_never_turned_into_a_store(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "theirs.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.execute("INSERT INTO notes VALUES ('mine')")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(sqlkv.StorageError, match="not an sqlkv store"):
        sqlkv.Store(path).open()
    assert path.read_bytes() == before


def test_backup_never_replaces_a_special_file(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with sqlkv.Store(tmp_path / "s.db") as store:
        store.create_bucket("b")
        with pytest.raises(sqlkv.InvalidArgumentError, match="not a regular file"):
            store.backup(str(fifo), overwrite=True)
    assert fifo.is_fifo()


def test_the_wal_file_is_cut_back_after_a_burst_of_writes(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A burst grows the WAL; once checkpointed, the next write rewinds it and SQLite cuts the file to the limit.

    SQLite rewinds the WAL only when no reader holds an older snapshot: the
    sweeper's planning read (a snapshot, at a moment its thread chooses, slow
    under load) could overlap the checkpoint, which then stopped at that
    snapshot's end and left nothing to rewind. So no sweeper here: nobody
    else reads, and the checkpoint copies every frame back.
    """
    from sqlkv._engine import engine

    monkeypatch.setattr(engine, "WAL_SIZE_LIMIT", 256 * 1024)
    wal = Path(f"{db_path}-wal")
    with sqlkv.Store(db_path, auto_sweep=False) as store:
        kv = store.create_bucket("b")
        for i in range(40):
            kv.put(f"k{i}", bytes(100_000))
        grown = wal.stat().st_size
        assert grown > 4_000_000
        checkpointer = sqlite3.connect(db_path)
        try:
            busy, frames, copied = checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            assert busy == 0 and copied == frames  # every frame copied back: the next write may rewind the WAL
        finally:
            checkpointer.close()
        kv.put("after", b"x")  # this write rewinds the WAL and SQLite truncates the file
        assert wal.stat().st_size <= 256 * 1024
        assert kv.get("k39").value == bytes(100_000)


def test_sqlite_errors_are_read_in_one_module() -> None:
    """Only ``_storage/errors.py`` reads an ``sqlite3`` error's message or code (its triggers' messages included).

    ``statements.py`` and ``migrations/`` write the trigger messages (in SQL); no other module may match them.
    """
    package = Path(sqlkv.__file__).parent
    readers = ("sqlkv: value too large", "sqlkv: bucket full", "sqlkv: read-only replica", "sqlite_errorcode")
    found = {
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if any(text in path.read_text(encoding="utf-8") for text in readers)
    }
    assert found == {"_storage/errors.py", "_storage/statements.py"}
    statements = (package / "_storage" / "statements.py").read_text(encoding="utf-8")
    assert "sqlite_errorcode" not in statements and "str(exc)" not in statements
