"""Wake-up hints: another process's commit reaches a watcher at once, not at its next poll; else polling."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

import sqlkv
from sqlkv._engine import hints
from sqlkv._runtime import platform

pytestmark = pytest.mark.anyio

needs_hints = pytest.mark.skipif(not hints.AVAILABLE, reason="no wake-up hints here")

KINDS = [kind for kind in ("abstract", "path", "udp") if kind != "abstract" or sys.platform.startswith("linux")]
LEVEL = {"abstract": "", "path": "macos", "udp": "1"}
"""The SQLKV_PORTABLE level whose processes use each kind of socket (for the other processes of a test)."""


@pytest.fixture(params=KINDS)
def wake(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each kind of hint socket in turn: this process's stores use it, and so do the processes the test starts."""
    kind: str = request.param
    monkeypatch.setattr(hints, "WAKE", kind)
    monkeypatch.setenv("SQLKV_PORTABLE", LEVEL[kind])
    return kind


PUT = "import sys, sqlkv\nwith sqlkv.Store(sys.argv[1]) as s:\n    s.bucket('h').put(sys.argv[2], b'v')\n"


def _put_from_another_process(path: Path, key: str) -> None:
    subprocess.run([sys.executable, "-c", PUT, str(path), key], check=True, timeout=60)


@needs_hints
async def test_a_commit_in_another_process_wakes_the_watcher_without_waiting_for_a_poll(
    db_path: Path, wake: str
) -> None:
    # Polls 10 s apart (the longest allowed): an entry that comes within 5 s came with a hint.
    async with sqlkv.AsyncStore(db_path, poll_interval=10) as store:
        kv = await store.create_bucket("h")
        async with kv.watch(updates_only=True) as watcher:
            assert sorted(os.listdir(hints.hint_directory(str(db_path)))) != []  # the feed announced itself
            for n in range(3):  # the CLI's way: a sync Store in a short-lived process
                await anyio.to_thread.run_sync(_put_from_another_process, db_path, f"k.{n}")
                with anyio.fail_after(5):
                    entry = await watcher.__anext__()
                assert entry.key == f"k.{n}"
    assert not os.path.exists(hints.hint_directory(str(db_path)))  # the last listener removed the directory


@needs_hints
def test_the_sync_store_is_woken_by_an_async_store_in_the_same_process(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with sqlkv.Store(path, poll_interval=10) as store:
        kv = store.create_bucket("h")
        with kv.watch(updates_only=True) as watcher:

            async def write() -> None:
                async with sqlkv.AsyncStore(path) as other:  # another store object: it sends a hint too
                    await (await other.bucket("h")).put("from.async", b"v")

            anyio.run(write)
            entry = watcher.next(timeout=5)  # polls are 10 s apart
        assert entry is not None and entry.key == "from.async"


@needs_hints
async def test_a_commit_before_the_writers_know_of_a_new_watcher_still_reaches_it(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sender trusts its list of listeners for ``REFRESH``; a watcher started meanwhile gets no hint for a
    commit made then, so its feed looks once ``2 * REFRESH`` after it starts. Here senders never look again,
    and the feed's ``REFRESH`` is 0.5 s: the entry comes at that look, not at the 5 s safety look."""
    from sqlkv._watch import feed

    monkeypatch.setattr(hints, "REFRESH", 3600.0)  # a sender's list, once read, stays as it is
    monkeypatch.setattr(feed, "REFRESH", 0.5)
    with sqlkv.Store(db_path) as writer:
        writer.create_bucket("h").put("before", b"v")  # the sender read its list: nobody listens yet
        async with sqlkv.AsyncStore(db_path, poll_interval=10) as store:
            kv = await store.bucket("h")
            async with kv.watch(updates_only=True) as watcher:
                writer.bucket("h").put("meanwhile", b"v")  # no hint: the sender does not know the new listener
                with anyio.fail_after(3):
                    entry = await watcher.__anext__()
                assert entry.key == "meanwhile"


async def test_watchers_poll_where_hints_cannot_work(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hints, "AVAILABLE", False)
    async with sqlkv.AsyncStore(db_path, poll_interval=0.01) as store:
        kv = await store.create_bucket("h")
        async with kv.watch(updates_only=True) as watcher:
            assert not os.path.exists(hints.hint_directory(str(db_path)))
            await anyio.to_thread.run_sync(_put_from_another_process, db_path, "polled")
            with anyio.fail_after(30):
                assert (await watcher.__anext__()).key == "polled"


@needs_hints
def test_a_killed_listener_is_cleaned_up_by_the_next_writer(tmp_path: Path, wake: str) -> None:
    path = tmp_path / "k.db"
    with sqlkv.Store(path) as store:
        kv = store.create_bucket("h")
        watcher_code = (
            "import sys, time, sqlkv\nwith sqlkv.Store(sys.argv[1]) as s:\n"
            "    with s.bucket('h').watch() as w:\n        print('ready', flush=True)\n        time.sleep(600)\n"
        )
        child = subprocess.Popen([sys.executable, "-c", watcher_code, str(path)], stdout=subprocess.PIPE, text=True)
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        directory = hints.hint_directory(str(path))
        (marker,) = os.listdir(directory)
        assert marker.startswith(f"{child.pid}-")
        if wake == "path":
            assert stat.S_ISSOCK(os.lstat(os.path.join(directory, marker)).st_mode)  # the socket is the marker
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        deadline = time.monotonic() + 30
        while marker in os.listdir(directory) and time.monotonic() < deadline:  # each put sends it a hint
            kv.put("k", b"v")
            time.sleep(0.002)
        assert marker not in os.listdir(directory)


@needs_hints
async def test_hints_are_local_datagrams_only(db_path: Path, wake: str) -> None:
    async with sqlkv.AsyncStore(db_path) as store:
        kv = await store.create_bucket("h")
        async with kv.watch():
            feed = store._watch_hub()._current().feed  # type: ignore[attr-defined]
            listener = feed._listener
            assert listener is not None
            sock = listener._socket
            assert sock.type == socket.SOCK_DGRAM
            directory = hints.hint_directory(str(db_path))
            assert os.stat(directory).st_mode & 0o777 == 0o700
            (marker,) = os.listdir(directory)
            if wake == "abstract":  # the abstract namespace: no file, no network
                assert sock.family == socket.AF_UNIX and sock.getsockname()[:1] == b"\0"
                assert stat.S_ISREG(os.stat(os.path.join(directory, marker)).st_mode)
            elif wake == "path":  # macOS, the BSDs: the socket file in the 0700 directory is the marker
                assert sock.family == socket.AF_UNIX and sock.getsockname() == os.path.join(directory, marker)
            else:  # Windows: loopback only, its port in the marker's name
                assert sock.family == socket.AF_INET and sock.getsockname() == ("127.0.0.1", int(marker.split(".")[1]))


def test_a_socket_path_too_long_for_sun_path_means_polling(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """macOS allows 104 bytes: a store whose ``-wake/<token>`` would not fit is watched by polling, and works."""
    monkeypatch.setattr(hints, "WAKE", "path")
    monkeypatch.setenv("SQLKV_PORTABLE", "macos")
    folder = tmp_path / ("d" * max(1, platform.SUN_PATH_MAX - len(os.fsencode(str(tmp_path)))))
    folder.mkdir()
    path = folder / "s.db"
    with sqlkv.Store(path, poll_interval=0.01) as store:
        kv = store.create_bucket("h")
        with kv.watch(updates_only=True) as watcher:
            assert not os.path.exists(hints.hint_directory(str(path)))  # no listener: polling
            _put_from_another_process(path, "polled")
            entry = watcher.next(timeout=30)
        assert entry is not None and entry.key == "polled"


def test_markers_of_another_kind_are_neither_sent_to_nor_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sender takes only the names its kind of socket makes (a stray file in the directory is left alone)."""
    directory = tmp_path / "s.db-wake"
    directory.mkdir()
    for name in ("123-0a1b2c3d", "123-0a1b2c3d.4242", "notes.txt", "123-0a1b2c3d.99999"):
        (directory / name).touch()
    for kind, expected in (("path", ["123-0a1b2c3d"]), ("udp", ["123-0a1b2c3d.4242"])):
        monkeypatch.setattr(hints, "WAKE", kind)
        sender = hints.HintSender(str(tmp_path / "s.db"))
        sender._refresh()
        assert [name for name, _ in sender._targets] == expected
        sender.close()


@needs_hints
def test_the_loop_of_every_watcher_takes_the_hints_itself(tmp_path: Path) -> None:
    """One asyncio loop watching: it reads the hints and the rows (no poller hop); watchers on two loops: the poller.

    Where a loop's port has no eventfd inbox (``SQLKV_PORTABLE``, macOS, Windows) the poller always does.
    """
    import asyncio
    import threading

    loop_reads = platform.EVENTFD

    path = tmp_path / "s.db"
    second_loop_watching = threading.Event()
    second_loop_done = threading.Event()
    seen_by_second: list[str] = []

    async def main() -> None:
        async with sqlkv.AsyncStore(path, poll_interval=10) as store:
            kv = await store.create_bucket("h")
            feed = store._watch_hub()._current().feed  # type: ignore[attr-defined]
            async with kv.watch(updates_only=True) as watcher:
                assert (feed._reader is not None) == loop_reads  # this loop alone: it takes the hints
                await anyio.to_thread.run_sync(_put_from_another_process, path, "k.1")
                with anyio.fail_after(5):
                    assert (await watcher.__anext__()).key == "k.1"

                async def watch_on_a_second_loop() -> None:  # the same store's bucket, from another thread's loop
                    async with kv.watch(updates_only=True) as other:
                        second_loop_watching.set()
                        with anyio.fail_after(10):
                            seen_by_second.append((await other.__anext__()).key)
                    second_loop_done.set()

                thread = threading.Thread(target=asyncio.run, args=(watch_on_a_second_loop(),))
                thread.start()
                try:
                    assert await anyio.to_thread.run_sync(second_loop_watching.wait, 10)
                    assert feed._reader is None  # two loops: the poller takes the hints and posts to each
                    await anyio.to_thread.run_sync(_put_from_another_process, path, "k.2")
                    with anyio.fail_after(5):
                        assert (await watcher.__anext__()).key == "k.2"
                finally:
                    await anyio.to_thread.run_sync(thread.join, 15)
                assert second_loop_done.is_set() and seen_by_second == ["k.2"]
                assert (feed._reader is not None) == loop_reads  # that loop's watcher is gone: this loop again
                await anyio.to_thread.run_sync(_put_from_another_process, path, "k.3")
                with anyio.fail_after(5):
                    assert (await watcher.__anext__()).key == "k.3"

    asyncio.run(main())
