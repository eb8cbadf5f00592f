"""The synchronous twin: same semantics as the async API, thread-safe, no event loop, fork-safe."""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import sqlkv
from sqlkv import Operation
from tests.support.counters import recount
from tests.support.parity import SqlkvAdapter, run_steps
from tests.support.platforms import needs_fork
from tests.test_parity import SCENARIOS


@pytest.fixture
def sync_store(db_path: Path) -> Iterator[sqlkv.Store]:
    with sqlkv.Store(db_path) as store:
        yield store


class SyncAdapter(SqlkvAdapter):
    """The parity adapter's interface over a sync Bucket (its calls return values, not coroutines)."""

    def __init__(self, kv: sqlkv.Bucket) -> None:  # type: ignore[override]
        super().__init__(kv)  # type: ignore[arg-type]

    async def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        async def run() -> Any:
            return fn(*args, **kwargs)

        return await super().call(run)


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_every_parity_scenario_gives_the_same_log(name: str, tmp_path: Path) -> None:
    history, steps = SCENARIOS[name]
    async with sqlkv.AsyncStore(tmp_path / "a.db") as astore:
        expected = await run_steps(SqlkvAdapter(await astore.create_bucket("b", history=history)), steps)
    with sqlkv.Store(tmp_path / "s.db") as store:
        got = await run_steps(SyncAdapter(store.create_bucket("b", history=history)), steps)
    assert got == expected


def test_operations_and_errors(sync_store: sqlkv.Store) -> None:
    kv = sync_store.create_bucket("prefs", history=5)
    assert kv.put("window.width", b"1280") == 1
    assert kv.get("window.width").value == b"1280"
    rev = kv.create("sem", "x")
    with pytest.raises(sqlkv.KeyExistsError):
        kv.create("sem", "y")
    kv.update("sem", "z", last=rev)
    with pytest.raises(sqlkv.WrongLastRevisionError):
        kv.update("sem", "w", last=rev)
    kv.delete("window.width")
    with pytest.raises(sqlkv.KeyDeletedError):
        kv.get("window.width")
    kv.purge("sem")
    assert [e.operation for e in kv.history("sem")] == [Operation.PURGE]
    assert kv.keys() == []
    with pytest.raises(sqlkv.InvalidKeyError):
        kv.put("a..b", b"v")
    with pytest.raises(sqlkv.BucketNotFoundError):
        sync_store.bucket("nope")
    assert sync_store.bucket_names() == ["prefs"]
    status = kv.status()
    assert recount(kv) == (status.values, status.bytes, status.keys)
    sync_store.delete_bucket("prefs")
    with pytest.raises(sqlkv.BucketNotFoundError):
        kv.get("x")


def test_lifecycle(db_path: Path) -> None:
    store = sqlkv.Store(db_path)
    with pytest.raises(sqlkv.StoreClosedError, match="not open"):
        store.bucket_names()
    store.open()
    kv = store.create_bucket("b")
    store.close()
    with pytest.raises(sqlkv.StoreClosedError):
        kv.put("k", b"v")
    store.close()


def test_many_threads_write_and_read(sync_store: sqlkv.Store) -> None:
    kv = sync_store.create_bucket("t")
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(50):
                kv.put(f"k.{n}", str(i))
                assert kv.get(f"k.{n}").value == str(i).encode()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert kv.status().last_revision == 400


def test_watch_blocking_iterator_and_poll(sync_store: sqlkv.Store) -> None:
    kv = sync_store.create_bucket("w")
    kv.put("window.x", b"1")
    with kv.watch("window.>", timeout=5) as watcher:
        assert [e.key for e in watcher.initial()] == ["window.x"]
        assert watcher.initial_done
        threading.Timer(0.05, kv.put, args=("window.y", b"2")).start()
        entry = next(watcher)
        assert (entry.key, entry.value) == ("window.y", b"2")
        kv.put("other", b"no")
        kv.delete("window.x")
        polled = watcher.poll()
        assert [(e.key, e.operation) for e in polled] == [("window.x", Operation.DEL)]
        assert watcher.poll() == []
        assert watcher.next(timeout=0.01) is None
    with kv.watch(timeout=0.05) as watcher:
        assert len(list(watcher)) == 3  # the initial entries, then the timeout ends the loop


def test_gui_style_callback_from_a_thread(sync_store: sqlkv.Store) -> None:
    """What a Qt or Tk app does: a worker thread iterates, and hands entries to the GUI's queue."""
    kv = sync_store.create_bucket("gui")
    gui_queue: queue.Queue[sqlkv.Entry] = queue.Queue()
    watcher = kv.watch(updates_only=True).start()

    def pump() -> None:
        for entry in watcher:
            gui_queue.put(entry)

    thread = threading.Thread(target=pump)
    thread.start()
    kv.put("a", b"1")
    kv.put("b", b"2")
    got = [gui_queue.get(timeout=5).key for _ in range(2)]
    watcher.close()
    thread.join(5)
    assert got == ["a", "b"] and not thread.is_alive()


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_async_and_sync_objects_see_each_other(db_path: Path) -> None:
    import anyio

    async with sqlkv.AsyncStore(db_path, poll_interval=0.005) as astore:
        akv = await astore.create_bucket("shared")
        with sqlkv.Store(db_path, poll_interval=0.005) as store:
            kv = store.bucket("shared")
            await akv.put("from.async", b"1")
            assert kv.get("from.async").value == b"1"
            kv.put("from.sync", b"2")
            assert (await akv.get("from.sync")).value == b"2"
            async with akv.watch(updates_only=True) as awatcher:
                with kv.watch(updates_only=True) as swatcher:
                    kv.put("x", b"sync")
                    await akv.put("y", b"async")
                    with anyio.fail_after(5):
                        got_async = [(await awatcher.__anext__()).key for _ in range(2)]
                    got_sync = [swatcher.next(5).key for _ in range(2)]  # type: ignore[union-attr]
    assert sorted(got_async) == sorted(got_sync) == ["x", "y"]


def test_sync_lock(sync_store: sqlkv.Store) -> None:
    kv = sync_store.create_bucket("locks")
    with kv.lock("file.txt", ttl=1.0) as lock:
        with pytest.raises(sqlkv.LockNotAcquiredError), kv.lock("file.txt", wait=False):
            pass
        threading.Event().wait(1.5)  # longer than the TTL: the refresher keeps it
        assert not lock.lost
        assert kv.get("file.txt").value == lock.holder
    with kv.lock("file.txt", wait=False):
        pass


@needs_fork
def test_a_forked_child_reopens_its_connections(db_path: Path) -> None:
    """Fork at a quiet moment (no helper thread inside SQLite: forking while one is can deadlock any child)."""
    import select
    import signal
    import warnings

    store = sqlkv.Store(db_path, auto_sweep=False).open()
    kv = store.create_bucket("f")
    kv.put("parent", b"1")
    assert store._engine.checkpointer is not None and store._engine.checkpointer.idle.wait(10)
    read, write = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads: the child only uses its own
        pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            os.close(read)
            value = kv.get("parent").value
            kv.put("child", b"2")
            code = 0 if value == b"1" and store._engine.pid == os.getpid() else 2
        finally:
            os.write(write, bytes([code]))
            os._exit(code)
    os.close(write)
    try:
        ready, _, _ = select.select([read], [], [], 60)
        if not ready:
            os.kill(pid, signal.SIGKILL)
        result = os.read(read, 1) if ready else b""
    finally:
        os.close(read)
        _, status = os.waitpid(pid, 0)
    assert result == b"\x00", "the child did not finish"
    assert os.WEXITSTATUS(status) == 0
    assert kv.get("child").value == b"2"
    kv.put("parent", b"3")  # the parent's connections still work
    assert kv.get("parent").value == b"3"
    store.close()


@needs_fork
def test_forks_while_sqlkv_threads_are_busy_do_not_deadlock(db_path: Path) -> None:
    """Children forked while an AsyncStore writes flat out, and a Store's helpers run, all open the file and read it."""
    import select
    import signal
    import warnings

    import anyio

    stop = threading.Event()
    started = threading.Event()

    async def write_flat_out() -> None:
        async with sqlkv.AsyncStore(db_path) as astore:
            kv = await astore.create_bucket("busy")
            started.set()
            i = 0
            while not stop.is_set():
                await kv.put(f"k.{i % 100}", b"v" * 100)
                i += 1

    writer = threading.Thread(target=anyio.run, args=(write_flat_out,))
    writer.start()
    assert started.wait(30)
    outcomes = []
    try:
        with sqlkv.Store(db_path) as store:
            sync_kv = store.bucket("busy")
            for _ in range(20):
                sync_kv.keys()
                read, write = os.pipe()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)
                    pid = os.fork()
                if pid == 0:  # child: a store of its own, on the same file
                    code = 1
                    try:
                        os.close(read)
                        with sqlkv.Store(db_path, auto_sweep=False) as child:
                            child.bucket("busy").keys()
                        code = 0
                    finally:
                        os.write(write, bytes([code]))
                        os._exit(code)
                os.close(write)
                ready, _, _ = select.select([read], [], [], 30)
                if not ready:
                    os.kill(pid, signal.SIGKILL)
                outcomes.append(os.read(read, 1) if ready else b"stuck")
                os.close(read)
                os.waitpid(pid, 0)
    finally:
        stop.set()
        writer.join(30)
    assert outcomes == [b"\x00"] * 20


def test_the_fork_gate_waits_for_sqlite_work_and_holds_new_work_back() -> None:
    from sqlkv._runtime.forkgate import ForkGate

    gate = ForkGate(wait=10)
    inside, release, closed, entered_late = threading.Event(), threading.Event(), threading.Event(), threading.Event()

    def busy() -> None:
        with gate:
            inside.set()
            release.wait(10)

    def late() -> None:
        closed.wait(10)
        with gate:
            entered_late.set()

    def forker() -> None:
        gate.before_fork()
        closed.set()

    threads = [threading.Thread(target=busy), threading.Thread(target=late), threading.Thread(target=forker)]
    threads[0].start()
    assert inside.wait(10)
    threads[2].start()
    threads[1].start()
    assert not closed.wait(0.2)  # the "fork" waits while a thread is inside SQLite
    release.set()
    assert closed.wait(10)  # ... and proceeds once it left
    threads[2].join(10)
    assert not entered_late.wait(0.2)  # new work waits while the gate is closed
    gate.after_fork_in_parent()
    assert entered_late.wait(10)
    for thread in threads:
        thread.join(10)


def test_the_sync_api_and_the_cli_never_import_asyncio_or_anyio(tmp_path: Path) -> None:
    """A script or a desktop app using Store pays for no event loop machinery (issue 14: the CLI's start)."""
    import subprocess
    import sys

    script = """
import sys, sqlkv
from sqlkv.cli import main
with sqlkv.Store(sys.argv[1]) as store:
    kv = store.create_bucket("b", history=3, ttl=60)
    kv.put("k", b"v", ttl=5)
    kv.get("k"), kv.history("k"), kv.keys(), kv.status()
    with kv.watch(timeout=0) as watcher:
        watcher.initial()
    with kv.lock("l", ttl=5):
        pass
    store.backup(sys.argv[1] + ".copy")
main(["--db", sys.argv[1], "kv", "get", "b", "k"])
main(["--db", sys.argv[1], "kv", "ls"])
print(sorted(name for name in sys.modules if name.split(".")[0] in ("asyncio", "anyio", "trio", "sniffio")))
"""
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "s.db")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[]"
