"""The read cache (``_engine/readcache.py``): a repeated get skips SQLite, and stays exact across processes.

A get served from the cache returns the very entry object of the read before
(that is how these tests see that it was served); every test then checks that
a change made anywhere — another process, another thread, the clock passing a
deadline, a fork — is seen by the next get, as SQLite would show it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import sqlkv
from sqlkv._engine import readcache
from sqlkv._engine.readcache import ARM_AFTER
from sqlkv._runtime import platform
from tests.support.clock import FakeClock

pytestmark = pytest.mark.skipif(not platform.READ_CACHE, reason="the read cache is Linux's (or SQLKV_READ_CACHE=0)")

PEER = textwrap.dedent(
    """
    import sys, sqlkv
    with sqlkv.Store(sys.argv[1]) as store:
        kv = store.bucket("b")
        print("ready", flush=True)
        for line in sys.stdin:
            command, _, argument = line.strip().partition(" ")
            if command == "put":
                kv.put("k", argument)
            elif command == "delete":
                kv.delete("k")
            elif command == "ttl":
                store.update_bucket("b", ttl=float(argument))
            elif command == "drop":
                store.delete_bucket("b")
            print("done", flush=True)
    """
)


class Peer:
    """Another process with the store open, changing it on request; each request returns once it committed."""

    def __init__(self, path: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", PEER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None and self.process.stdout.readline() == "ready\n"

    def do(self, request: str) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(request + "\n")
        self.process.stdin.flush()
        assert self.process.stdout.readline() == "done\n"

    def close(self) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()
        try:
            assert self.process.wait(30) == 0
        finally:
            self.process.stdout.close()


@pytest.fixture
def peer(tmp_path: Path) -> Iterator[Peer]:
    with sqlkv.Store(tmp_path / "s.db") as store:
        store.create_bucket("b", history=5).put("k", "0")
    started = Peer(tmp_path / "s.db")
    try:
        yield started
    finally:
        started.close()


def warm(kv: sqlkv.Bucket, key: str = "k") -> sqlkv.Entry:
    """Read ``key`` until the cache is armed and serves it; return the served entry."""
    for _ in range(ARM_AFTER + 1):
        kv.get(key)
    entry = kv.get(key)
    assert kv.get(key) is entry  # served from the cache
    return entry


def test_a_repeated_get_is_served_from_the_cache_until_this_store_writes(tmp_path: Path) -> None:
    with sqlkv.Store(tmp_path / "s.db") as store:
        kv = store.create_bucket("b")
        kv.put("k", "1")
        first = warm(kv)
        assert first.value == b"1"
        kv.put("k", "2")
        second = kv.get("k")
        assert second is not first and second.value == b"2"
        kv.put("other", "x")  # any commit: the next get reads SQLite again, and finds the same row
        third = kv.get("k")
        assert third is not second and third == second


def test_another_process_s_change_is_seen_by_the_very_next_get(peer: Peer, tmp_path: Path) -> None:
    with sqlkv.Store(tmp_path / "s.db") as store:
        kv = store.bucket("b")
        warm(kv)
        for n in range(1, 101):
            peer.do(f"put {n}")
            assert kv.get("k").value == str(n).encode()  # the put returned in the other process: we see it
            assert kv.get("k") is kv.get("k")  # and serve it again from the cache
        peer.do("delete")
        with pytest.raises(sqlkv.KeyDeletedError):
            kv.get("k")
        peer.do("put again")
        warm(kv)
        peer.do("ttl 0.001")  # a bucket TTL the entry is far older than: it is gone at once
        with pytest.raises(sqlkv.KeyNotFoundError):
            kv.get("k")
        peer.do("drop")
        with pytest.raises(sqlkv.BucketNotFoundError):
            kv.get("k")


@pytest.mark.anyio
async def test_async_gets_are_served_from_the_cache_and_see_another_process_s_puts(peer: Peer, tmp_path: Path) -> None:
    async with sqlkv.AsyncStore(tmp_path / "s.db") as store:
        kv = await store.bucket("b")
        for _ in range(ARM_AFTER + 1):
            await kv.get("k")
        entry = await kv.get("k")
        assert await kv.get("k") is entry
        for n in range(1, 21):
            peer.do(f"put {n}")
            assert (await kv.get("k")).value == str(n).encode()


def test_a_cached_entry_is_gone_exactly_at_its_deadline(tmp_path: Path) -> None:
    clock = FakeClock()
    with sqlkv.Store(tmp_path / "s.db", clock=clock) as store:
        kv = store.create_bucket("b", ttl=10)
        kv.put("k", "v")
        entry = warm(kv)
        clock.advance(10 - 1e-9)
        assert kv.get("k") is entry
        clock.advance(1e-9)  # exactly ttl old
        with pytest.raises(sqlkv.KeyNotFoundError):
            kv.get("k")
        clock.advance(-1e-9)  # (a clock that steps back: SQLite's answer, whatever it is, is the cache's)
        assert kv.get("k") == entry


def test_threads_reading_while_one_writes_never_see_a_value_go_back(tmp_path: Path) -> None:
    """Each reader's values only grow, and a put that returned is seen by every get that starts after it."""
    with sqlkv.Store(tmp_path / "s.db") as store:
        kv = store.create_bucket("b")
        kv.put("k", "0")
        warm(kv)
        acknowledged = 0  # written by the writer after each put returned
        stop = threading.Event()
        failures: list[str] = []

        def reader() -> None:
            seen = 0
            while not stop.is_set():
                floor = acknowledged
                value = int(kv.get("k").value)
                if value < seen or value < floor:
                    failures.append(f"read {value} after {seen}, with {floor} acknowledged")
                    return
                seen = value

        threads = [threading.Thread(target=reader) for _ in range(3)]
        for thread in threads:
            thread.start()
        for n in range(1, 501):
            kv.put("k", str(n))
            acknowledged = n
        stop.set()
        for thread in threads:
            thread.join()
        assert failures == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")
def test_a_forked_child_reads_the_file_not_its_parent_s_cache(tmp_path: Path) -> None:
    with sqlkv.Store(tmp_path / "s.db") as store:
        kv = store.create_bucket("b")
        kv.put("k", "before")
        warm(kv)
        ready_r, ready_w = os.pipe()
        go_r, go_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: warm its own reads, wait for the parent's put, read it
            code = 1
            try:
                os.close(ready_r)
                os.close(go_w)
                for _ in range(ARM_AFTER + 2):
                    kv.get("k")
                os.write(ready_w, b"x")
                os.read(go_r, 1)
                code = 0 if kv.get("k").value == b"after" else 2
            finally:
                os._exit(code)
        os.close(ready_w)
        os.close(go_r)
        assert os.read(ready_r, 1) == b"x"
        kv.put("k", "after")
        os.write(go_w, b"x")
        _, status = os.waitpid(pid, 0)
        os.close(ready_r)
        os.close(go_w)
        assert os.waitstatus_to_exitcode(status) == 0
        assert kv.get("k").value == b"after"


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd")
def test_closing_a_store_closes_the_cache_s_connection(tmp_path: Path) -> None:
    fds_before = len(os.listdir("/proc/self/fd"))
    store = sqlkv.Store(tmp_path / "s.db").open()
    kv = store.create_bucket("b")
    kv.put("k", "v")
    warm(kv)
    store.close()
    assert len(os.listdir("/proc/self/fd")) <= fds_before
    with pytest.raises(sqlkv.StoreClosedError):
        kv.get("k")


def test_the_cache_holds_a_bounded_number_of_value_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readcache, "MAX_BYTES", 10_000)
    with sqlkv.Store(tmp_path / "s.db") as store:
        kv = store.create_bucket("b")
        for n in range(30):
            kv.put(f"k.{n}", bytes(1000))
        warm(kv, "k.0")
        for n in range(30):
            kv.get(f"k.{n}")  # a first read: the key is noted, its entry not held
        held = [kv.get(f"k.{n}") for n in range(30)]  # held from the second read: 30,000 bytes, over the budget
        again = [kv.get(f"k.{n}") for n in range(30)]
        assert sum(a is b for a, b in zip(held, again, strict=True)) <= 11
        assert again == held


TWO_MAPPINGS = textwrap.dedent(
    """
    import mmap, os, sys, sqlkv
    from sqlkv._storage.walindex import find_header
    with sqlkv.Store(sys.argv[1]) as store:
        store.create_bucket("b").put("k", "v")
        print("one mapping:", find_header(sys.argv[1]) is not None)
        fd = os.open(sys.argv[1] + "-shm", os.O_RDONLY)  # kept open to the end: closing it would drop SQLite's locks
        second = mmap.mmap(fd, 4096, mmap.MAP_SHARED, mmap.PROT_READ)
        print("two mappings:", find_header(sys.argv[1]) is not None)
        os._exit(0)  # (no close of that descriptor while the store holds the file)
    """
)


def test_a_second_mapping_of_the_wal_index_turns_the_cache_off(tmp_path: Path) -> None:
    """Two mappings of the header mean a second SQLite library in the process: its mapping may go before ours."""
    done = subprocess.run(
        [sys.executable, "-c", TWO_MAPPINGS, str(tmp_path / "s.db")], capture_output=True, text=True, timeout=60
    )
    assert done.stdout.split("\n")[:2] == ["one mapping: True", "two mappings: False"], done.stderr
