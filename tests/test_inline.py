"""Lone operations run on the event loop's thread; everything else still goes through the database threads.

An AsyncStore runs a lone small operation itself while its database thread
is idle (``inline=True``, the default). These tests pin down when that
happens, that concurrent writes still share commits, that the results are
the same either way, that a write never blocks the loop on another
connection's lock, and what cancellation does.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

import sqlkv
from sqlkv._engine import worker as _worker
from sqlkv._runtime.ports import current_port
from sqlkv._runtime.request import Request
from sqlkv._storage import ops as _ops
from sqlkv._storage.errors import is_busy, map_sqlite_error
from tests.support.parity import SqlkvAdapter, run_steps
from tests.support.platforms import needs_fork
from tests.test_parity import SCENARIOS

pytestmark = pytest.mark.anyio


@pytest.fixture
def borrowed(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool, bool]]:
    """Every run_here() attempt: (operation name, whether it ran, whether it ran on the caller's thread)."""
    attempts: list[tuple[str, bool, bool]] = []
    original = _worker.DatabaseThread.run_here

    def spy(self: _worker.DatabaseThread, request: Any, on_commit: Any) -> bool:
        caller = threading.get_ident()
        ident: list[int] = []
        fn = request.fn

        @functools.wraps(fn)  # keeps put's single_statement: the same code path as without the spy
        def traced(conn: sqlite3.Connection, *args: Any) -> Any:
            ident.append(threading.get_ident())
            return fn(conn, *args)

        request.fn = traced
        ran = original(self, request, on_commit)
        request.fn = fn
        attempts.append((fn.__name__, ran, ident == [caller]))
        return ran

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
        "put_small",
        "get_small",
        "update_small",
        "update_small",
        "create_small",
        "write_marker_small",
        "get_small",
        "write_marker_small",
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
    assert [name for name, _, _ in borrowed] == ["get_small"]


@pytest.fixture
def submitted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the operations handed to a database thread."""
    names: list[str] = []
    original = _worker.DatabaseThread.submit

    def spy(self: _worker.DatabaseThread, request: Any) -> None:
        names.append(request.fn.__name__)
        original(self, request)

    monkeypatch.setattr(_worker.DatabaseThread, "submit", spy)
    return names


async def test_large_values_are_written_and_read_on_the_threads(
    kv: sqlkv.AsyncBucket, borrowed: list[tuple[str, bool, bool]], submitted: list[str]
) -> None:
    """A value over 16 KiB is never read, copied or freed on the loop: the loop checks sizes in row headers only."""
    await kv.put("small", b"x" * 16384)
    await kv.put("large", b"x" * 16385)  # too large to write here: straight to the writer
    assert (await kv.get("small")).value == b"x" * 16384
    assert (await kv.get("large")).value == b"x" * 16385  # its size, read here, sends it to the reader
    assert (await kv.get("small", revision=1)).value == b"x" * 16384  # a revision lookup: on the reader
    await kv.put("large", b"tiny")  # would free the large value's pages (history 5 keeps it, but a purge...)
    await kv.purge("large")  # ...frees them: both go to the writer
    await kv.put("large", b"again")  # the key holds small values only now
    assert [name for name, ran, _ in borrowed if ran] == [
        "put_small",
        "get_small",
        "get_small",
        "get_small",
        "put_small",
        "write_marker_small",
        "put_small",
    ]
    assert submitted == ["put", "get", "get", "put", "write_marker"]


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


async def test_back_to_back_operations_never_starve_a_waiting_task(kv: sqlkv.AsyncBucket) -> None:
    """A lone operation skips its yield when nothing else is ready, but never for long: timers and I/O still run."""
    await kv.put("a", b"1")
    woke = anyio.Event()

    async def sleeper() -> None:
        await anyio.sleep(0.002)
        woke.set()

    gets = 0
    deadline = time.monotonic() + 10
    async with anyio.create_task_group() as tg:
        tg.start_soon(sleeper)
        while not woke.is_set() and time.monotonic() < deadline:
            await kv.get("a")  # never suspends on its own: no other task is ready while the sleeper waits
            gets += 1
        timer_fired = woke.is_set()
    assert timer_fired and gets > 0


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


class Interrupt(BaseException):
    """Stands for KeyboardInterrupt or a signal handler's exception, raised on the loop or the caller's thread."""


def interrupt_second_insert(monkeypatch: pytest.MonkeyPatch) -> None:
    """The next update's insert raises Interrupt: after its BEGIN IMMEDIATE and its check, before COMMIT."""
    original = _ops.insert_row

    def insert_row(*args: Any) -> int:
        monkeypatch.setattr(_ops, "insert_row", original)
        raise Interrupt

    monkeypatch.setattr(_ops, "insert_row", insert_row)


async def test_an_interrupt_inside_an_inline_write_leaves_nothing_behind(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with sqlkv.AsyncStore(db_path) as store:
        kv = await store.create_bucket("b")
        first = await kv.put("a", b"1")
        async with kv.watch(updates_only=True) as watcher:
            await watcher.initial()
            interrupt_second_insert(monkeypatch)
            with anyio.fail_after(10), pytest.raises(Interrupt):
                await kv.update("a", b"lost", first)
            assert await kv.put("b", b"2") == 2  # not inside a transaction left open
            entry = await watcher.__anext__()
            assert (entry.key, entry.revision) == ("b", 2)  # the interrupted row was never announced
    async with sqlkv.AsyncStore(db_path) as store:
        kv = await store.bucket("b")
        assert (await kv.get("a")).value == b"1"
        assert (await kv.get("b")).revision == 2


def test_an_interrupt_inside_a_sync_write_leaves_nothing_behind(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with sqlkv.Store(db_path) as store:
        kv = store.create_bucket("b")
        first = kv.put("a", b"1")
        interrupt_second_insert(monkeypatch)
        with pytest.raises(Interrupt):
            kv.update("a", b"lost", first)
        assert kv.put("b", b"2") == 2
    with sqlkv.Store(db_path) as store:
        assert store.bucket("b").get("a").value == b"1"
        assert [e.revision for e in store.bucket("b").history("b")] == [2]


async def test_a_loop_never_overtakes_a_request_the_thread_has_taken(store: sqlkv.AsyncStore) -> None:
    kv = await store.create_bucket("b")
    writer = store._engine.writer  # type: ignore[attr-defined]
    assert writer is not None
    done = anyio.Event()

    async def old() -> None:
        await kv.put("k", b"old")
        done.set()

    writer._running.acquire()  # the writer will take the request from its queue, then wait here
    released = False
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(old)
            with anyio.fail_after(10):
                while not (writer._queue.empty() and writer._pending == 1):  # noqa: ASYNC110  (no event to wait on)
                    await anyio.sleep(0.001)
            # Released and tried at once, holding the GIL: without the pending count the loop would win the lock.
            writer._running.release()
            released = True
            newer = Request(_ops.put, (kv._sql, "k", b"new", time.time_ns(), None), None)
            assert writer.run_here(newer, lambda posts: None) is False
            with anyio.fail_after(10):
                await done.wait()
    finally:
        if not released:
            writer._running.release()
    assert writer._pending == 0
    assert [e.value for e in await kv.history("k")] == [b"old"]


@needs_fork
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_forked_child_is_told_to_open_its_own_store(kv: sqlkv.AsyncBucket) -> None:
    await kv.put("a", b"1")
    pid = os.fork()
    if pid == 0:  # the child: its copy of the store must refuse, not use the parent's connection
        code = 3
        try:

            def child() -> None:
                nonlocal code

                async def main() -> int:
                    try:
                        await kv.put("b", b"from the child")
                    except sqlkv.StoreClosedError as exc:
                        return 0 if "fork" in str(exc) else 1
                    return 2

                code = asyncio.run(main())

            thread = threading.Thread(target=child)
            thread.start()
            thread.join(20)
        finally:
            os._exit(code)
    _, status = await anyio.to_thread.run_sync(os.waitpid, pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with pytest.raises(sqlkv.KeyNotFoundError):
        await kv.get("b")
    assert await kv.put("b", b"from the parent") == 2


def test_sqlite_codes_without_sqlite_errorcode() -> None:
    """Python 3.10's sqlite3 errors carry no code: the busy wait and the error mapping read the message."""
    locked = sqlite3.OperationalError("database is locked")
    assert not hasattr(locked, "sqlite_errorcode")
    assert is_busy(locked)
    assert isinstance(map_sqlite_error(locked), sqlkv.StoreBusyError)
    assert isinstance(map_sqlite_error(sqlite3.OperationalError("database or disk is full")), sqlkv.StorageFullError)
    assert not is_busy(sqlite3.OperationalError("no such table: kv_1"))


@needs_fork
def test_a_write_waiting_for_a_lock_does_not_hold_up_a_fork(
    db_path: Path, lock_holder: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlkv._runtime.forkgate import GATE

    waiting = threading.Event()
    original = GATE.stepped_out

    def stepped_out() -> Any:
        waiting.set()
        return original()

    monkeypatch.setattr(GATE, "stepped_out", stepped_out)
    with sqlkv.Store(db_path) as store:
        kv = store.create_bucket("b")
        lock_holder.execute("BEGIN IMMEDIATE")
        writer = threading.Thread(target=kv.put, args=("a", b"1"))
        writer.start()
        assert waiting.wait(10)  # the put is waiting for the lock
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        forked_after = time.monotonic() - start
        os.waitpid(pid, 0)
        lock_holder.execute("COMMIT")
        writer.join(10)
        assert forked_after < 2.5, f"the fork waited {forked_after:.1f} s for a sleeping writer (gate wait: 5 s)"
        assert kv.get("a").value == b"1"


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_an_inline_commit_reaches_watchers_after_what_the_loop_has_queued() -> None:
    """Callbacks of an inline commit run at once only when nothing older waits in the loop's inbox."""
    port = current_port()
    if port._inbox is None:  # type: ignore[attr-defined]
        pytest.skip("no eventfd inbox on this platform")
    order: list[str] = []
    port.post(order.append, "queued earlier")
    port.run_posts({id(port): (port, [(order.append, ("inline commit",))])})  # type: ignore[attr-defined]
    assert order == []  # queued behind the earlier callback, not run ahead of it
    with anyio.fail_after(10):
        while len(order) < 2:  # the loop drains its inbox
            await anyio.lowlevel.checkpoint()
    assert order == ["queued earlier", "inline commit"]
    port.run_posts({id(port): (port, [(order.append, ("alone",))])})  # type: ignore[attr-defined]
    assert order[-1] == "alone"  # nothing queued: run at once


async def test_a_large_bytes_subclass_is_written_on_the_writer_thread(
    kv: sqlkv.AsyncBucket, borrowed: list[tuple[str, bool, bool]], submitted: list[str]
) -> None:
    class Blob(bytes):
        pass

    await kv.put("k", Blob(b"x" * 20000))
    assert borrowed == [] and submitted == ["put"]
    assert (await kv.get("k")).value == b"x" * 20000


async def test_an_unforeseen_error_in_a_database_thread_stops_the_store_cleanly(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug inside a batch: its unanswered requests and every later write get StoreClosedError; nothing hangs."""
    async with sqlkv.AsyncStore(db_path, inline=False) as store:
        kv = await store.create_bucket("b")

        def broken(*args: Any) -> None:
            raise RuntimeError("a bug")

        monkeypatch.setattr(store._engine, "after_commit", broken)  # type: ignore[attr-defined]
        assert store._engine.writer is not None  # type: ignore[attr-defined]
        monkeypatch.setattr(store._engine.writer, "_after_commit", broken)  # type: ignore[attr-defined]
        with anyio.fail_after(10):
            assert await kv.put("a", b"1") == 1  # committed before the failure: its answer stands
            with pytest.raises(sqlkv.StoreClosedError, match="internal error"):
                await kv.put("b", b"2")
            assert (await kv.get("a", revision=1)).value == b"1"  # the reader thread is not affected
            with pytest.raises(sqlkv.StoreClosedError, match="internal error"):
                await kv.delete("a")
    async with sqlkv.AsyncStore(db_path) as store:  # reopened: the committed write is there
        assert (await (await store.bucket("b")).get("a")).value == b"1"
