"""Lone operations run on the event loop's thread; everything else still goes through the database threads.

An AsyncStore runs a lone small operation itself while its database thread
is idle (``inline=True``, the default). These tests pin down when that
happens, that concurrent writes still share commits, that the results are
the same either way, that a write never blocks the loop on another
connection's lock, and what cancellation does.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from parity import SqlkvAdapter, run_steps
from test_parity import SCENARIOS

import sqlkv
from sqlkv import _worker

pytestmark = pytest.mark.anyio


@pytest.fixture
def borrowed(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool, bool]]:
    """Every run_here() attempt: (operation name, whether it ran, whether it ran on the caller's thread)."""
    attempts: list[tuple[str, bool, bool]] = []
    original = _worker.DatabaseThread.run_here

    def spy(self: _worker.DatabaseThread, request: Any) -> Any:
        caller = threading.get_ident()
        ident: list[int] = []
        fn = request.fn

        def traced(conn: sqlite3.Connection, *args: Any) -> Any:
            ident.append(threading.get_ident())
            return fn(conn, *args)

        request.fn = traced
        outcome = original(self, request)
        request.fn = fn
        attempts.append((fn.__name__, outcome[0], ident == [caller]))
        return outcome

    monkeypatch.setattr(_worker.DatabaseThread, "run_here", spy)
    return attempts


@pytest.fixture
def writer_batches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Sizes of the batches the writer thread committed."""
    sizes: list[int] = []
    original = _worker.run_writes

    def spy(conn: sqlite3.Connection, batch: list[Any], path: str, busy_timeout: float | None) -> bool:
        if threading.current_thread().name.startswith("sqlkv-writer"):
            sizes.append(len(batch))
        return original(conn, batch, path, busy_timeout)

    monkeypatch.setattr(_worker, "run_writes", spy)
    return sizes


@pytest.fixture
def lock_holder(db_path: Path) -> Iterator[sqlite3.Connection]:
    """A plain connection to the store's file, standing for another process that takes the write lock."""
    conn = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    yield conn
    if conn.in_transaction:
        conn.execute("ROLLBACK")
    conn.close()


async def test_lone_operations_run_on_the_loop_thread(
    kv: sqlkv.AsyncBucket, borrowed: list[tuple[str, bool, bool]]
) -> None:
    first = await kv.put("a", b"1")
    assert (await kv.get("a")).value == b"1"
    second = await kv.update("a", b"2", first)
    with pytest.raises(sqlkv.WrongLastRevisionError):
        await kv.update("a", b"3", first)
    await kv.create("b", b"x")
    await kv.delete("b")
    with pytest.raises(sqlkv.KeyDeletedError):
        await kv.get("b")
    await kv.purge("b")
    assert (await kv.status()).values == 3
    assert [e.revision for e in await kv.history("a")] == [first, second]  # not a point read: the reader thread
    assert [name for name, _, _ in borrowed] == [
        "put",
        "get",
        "update",
        "update",
        "create",
        "write_marker",
        "get",
        "write_marker",
        "status",
    ]
    assert all(ran and here for _, ran, here in borrowed)


async def test_inline_false_always_uses_the_threads(db_path: Path, borrowed: list[tuple[str, bool, bool]]) -> None:
    async with sqlkv.AsyncStore(db_path, inline=False) as store:
        assert not store.inline
        kv = await store.create_bucket("b")
        await kv.put("a", b"1")
        assert (await kv.get("a")).value == b"1"
    assert borrowed == []


async def test_full_durability_never_commits_on_the_loop(db_path: Path, borrowed: list[tuple[str, bool, bool]]) -> None:
    async with sqlkv.AsyncStore(db_path, durability="full") as store:
        kv = await store.create_bucket("b")
        await kv.put("a", b"1")  # a commit that syncs the disk: the writer thread's job
        assert (await kv.get("a")).value == b"1"
    assert [name for name, _, _ in borrowed] == ["get"]


async def test_large_values_go_to_the_writer_thread(
    kv: sqlkv.AsyncBucket, borrowed: list[tuple[str, bool, bool]]
) -> None:
    await kv.put("small", b"x" * 16384)
    await kv.put("large", b"x" * 16385)
    assert (await kv.get("large")).value == b"x" * 16385
    assert [name for name, _, _ in borrowed] == ["put", "get"]


async def test_concurrent_writes_still_share_commits(
    kv: sqlkv.AsyncBucket, writer_batches: list[int], borrowed: list[tuple[str, bool, bool]]
) -> None:
    revisions: list[int] = []

    async def writer(task: int) -> None:
        for i in range(10):
            revisions.append(await kv.put(f"t{task}.k{i}", b"v"))

    async with anyio.create_task_group() as tg:
        for task in range(50):
            tg.start_soon(writer, task)
    assert sorted(revisions) == list(range(1, 501))
    assert max(writer_batches) > 1, "concurrent writes were committed one by one"
    assert sum(writer_batches) + sum(ran for _, ran, _ in borrowed) == 500
    assert sum(ran for _, ran, _ in borrowed) <= 2, "concurrent writes ran on the loop one by one"
    assert len(await kv.keys()) == 500


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_every_parity_scenario_gives_the_same_log_either_way(name: str, tmp_path: Path) -> None:
    history, steps = SCENARIOS[name]
    logs = []
    for inline in (True, False):
        async with sqlkv.AsyncStore(tmp_path / f"{inline}.db", inline=inline) as store:
            logs.append(await run_steps(SqlkvAdapter(await store.create_bucket("b", history=history)), steps))
    assert logs[0] == logs[1]


async def test_a_write_waits_for_another_connection_without_blocking_the_loop(
    kv: sqlkv.AsyncBucket, lock_holder: sqlite3.Connection
) -> None:
    lock_holder.execute("BEGIN IMMEDIATE")
    done = anyio.Event()
    revision: list[int] = []

    async def write() -> None:
        revision.append(await kv.put("a", b"1"))
        done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(write)
        with anyio.fail_after(2):  # the loop keeps running while the put waits (busy_timeout is 30 s)
            for _ in range(20):
                await anyio.sleep(0.002)
                assert not done.is_set()
        lock_holder.execute("COMMIT")
        with anyio.fail_after(10):
            await done.wait()
    assert revision == [1]
    assert (await kv.get("a")).revision == 1


async def test_busy_timeout_ends_in_store_busy_error_and_the_store_stays_usable(
    db_path: Path, lock_holder: sqlite3.Connection
) -> None:
    async with sqlkv.AsyncStore(db_path, busy_timeout=0.05) as store:
        kv = await store.create_bucket("b")
        lock_holder.execute("BEGIN IMMEDIATE")
        with anyio.fail_after(10):
            with pytest.raises(sqlkv.StoreBusyError, match="locked"):
                await kv.put("a", b"1")
            assert (await kv.keys()) == []  # reads are not blocked by a writer
        lock_holder.execute("ROLLBACK")
        assert await kv.put("a", b"1") == 1


def test_sync_busy_timeout_ends_in_store_busy_error(db_path: Path, lock_holder: sqlite3.Connection) -> None:
    with sqlkv.Store(db_path, busy_timeout=0.05) as store:
        kv = store.create_bucket("b")
        lock_holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlkv.StoreBusyError, match="locked"):
            kv.put("a", b"1")
        lock_holder.execute("ROLLBACK")
        assert kv.put("a", b"1") == 1


def test_sync_write_waits_for_the_lock(db_path: Path, lock_holder: sqlite3.Connection) -> None:
    with sqlkv.Store(db_path) as store:
        kv = store.create_bucket("b")
        lock_holder.execute("BEGIN IMMEDIATE")
        waiting = threading.Timer(0.05, lambda: lock_holder.execute("COMMIT"))
        waiting.start()
        assert kv.put("a", b"1") == 1  # waited for the other connection's commit
        waiting.join()


async def test_a_put_cancelled_before_it_ran_writes_nothing(kv: sqlkv.AsyncBucket) -> None:
    finished: list[int] = []

    async def write() -> None:
        finished.append(await kv.put("a", b"1"))

    async with anyio.create_task_group() as tg:
        tg.start_soon(write)
        await anyio.lowlevel.checkpoint()  # the put has started and yields before running
        tg.cancel_scope.cancel()
    assert finished == []
    with pytest.raises(sqlkv.KeyNotFoundError):
        await kv.get("a")
    assert await kv.put("a", b"2") == 1  # nothing was written, not even a revision


async def test_watchers_see_every_commit_once_in_order_whatever_path_it_took(
    db_path: Path, store: sqlkv.AsyncStore
) -> None:
    kv = await store.create_bucket("w")
    written: list[int] = []
    async with kv.watch(updates_only=True) as watcher:
        await watcher.initial()

        def sync_writer() -> None:
            with sqlkv.Store(db_path) as other:
                other_kv = other.bucket("w")
                for i in range(50):
                    written.append(other_kv.put(f"sync.{i}", b"s"))

        async def burst(n: int) -> None:
            written.append(await kv.put(f"burst.{n}", b"b"))

        thread = threading.Thread(target=sync_writer)
        thread.start()
        for i in range(50):
            written.append(await kv.put(f"lone.{i}", b"l"))  # mostly on the loop
            if i % 10 == 0:
                async with anyio.create_task_group() as tg:  # through the writer thread
                    for n in range(10):
                        tg.start_soon(burst, i * 10 + n)
        await anyio.to_thread.run_sync(thread.join)
        seen: list[int] = []
        with anyio.fail_after(10):
            async for entry in watcher:
                seen.append(entry.revision)
                if len(seen) == len(written):
                    break
    assert seen == sorted(written) == list(range(1, len(written) + 1))
