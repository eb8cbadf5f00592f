"""The lock recipe: one holder at a time, kept alive while held, freed by release or by expiry."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import anyio
import pytest

import sqlkv

pytestmark = pytest.mark.anyio


async def test_acquire_and_release(kv: sqlkv.AsyncBucket) -> None:
    async with kv.lock("file.txt", ttl=10) as lock:
        entry = await kv.get("file.txt")
        assert entry.value == lock.holder and entry.revision == lock.revision
        with pytest.raises(sqlkv.LockNotAcquiredError):
            async with kv.lock("file.txt", wait=False):
                pass
        with pytest.raises(sqlkv.LockNotAcquiredError, match="still held"):
            async with kv.lock("file.txt", timeout=0.2):
                pass
    with pytest.raises(sqlkv.KeyDeletedError):
        await kv.get("file.txt")
    async with kv.lock("file.txt", wait=False):
        pass


async def test_waiter_gets_the_lock_when_it_is_released(kv: sqlkv.AsyncBucket) -> None:
    order: list[str] = []
    held = anyio.Event()

    async def first() -> None:
        async with kv.lock("res", ttl=30):
            held.set()
            order.append("first in")
            await anyio.sleep(0.2)
            order.append("first out")

    async def second() -> None:
        await held.wait()
        async with kv.lock("res", ttl=30, timeout=10):
            order.append("second in")

    async with anyio.create_task_group() as tg:
        tg.start_soon(first)
        tg.start_soon(second)
    assert order == ["first in", "first out", "second in"]


async def test_lock_is_kept_alive_past_its_ttl(kv: sqlkv.AsyncBucket) -> None:
    async with kv.lock("res", ttl=1.0) as lock:
        await anyio.sleep(2.5)  # more than two TTLs: the refresh (every ttl/3) keeps it
        with pytest.raises(sqlkv.LockNotAcquiredError):
            async with kv.lock("res", wait=False):
                pass
        assert not lock.lost and lock.revision > 1


async def test_lock_timeout_validation(kv: sqlkv.AsyncBucket) -> None:
    with pytest.raises(sqlkv.InvalidArgumentError):
        kv.lock("res", ttl=0)
    with pytest.raises(sqlkv.InvalidArgumentError):
        kv.lock("res", timeout=-1)
    with pytest.raises(sqlkv.InvalidKeyError):
        kv.lock("bad key")


CONTENDER = textwrap.dedent(
    """
    import os, sys, time, anyio, sqlkv
    async def main(path, log, rounds):
        async with sqlkv.AsyncStore(path) as store:
            kv = await store.bucket("locks")
            for _ in range(rounds):
                async with kv.lock("shared", ttl=5, timeout=60):
                    start = time.monotonic()
                    await anyio.sleep(0.01)
                    end = time.monotonic()
                with open(log, "a") as f:
                    f.write(f"{os.getpid()} {start!r} {end!r}\\n")
    anyio.run(main, sys.argv[1], sys.argv[2], int(sys.argv[3]))
    """
)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_processes_contending_never_overlap(db_path: Path, tmp_path: Path) -> None:
    async with sqlkv.AsyncStore(db_path) as store:
        await store.create_bucket("locks")
    log = tmp_path / "holds.log"
    children = [
        subprocess.Popen([sys.executable, "-c", CONTENDER, str(db_path), str(log), "6"], stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    for child in children:
        _, err = child.communicate(timeout=120)
        assert child.returncode == 0, err.decode()
    holds = sorted(tuple(map(float, line.split()[1:])) for line in log.read_text().splitlines())
    assert len(holds) == 24
    for (_, end), (start, _) in itertools.pairwise(holds):
        assert end <= start, "two holders at once"


HOLDER = textwrap.dedent(
    """
    import sys, anyio, sqlkv
    async def main(path):
        async with sqlkv.AsyncStore(path) as store:
            kv = await store.bucket("locks")
            async with kv.lock("shared", ttl=1):
                print("held", flush=True)
                await anyio.sleep(3600)
    anyio.run(main, sys.argv[1])
    """
)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_killed_holder_is_freed_after_its_ttl(db_path: Path) -> None:
    async with sqlkv.AsyncStore(db_path) as store:
        kv = await store.create_bucket("locks")
        child = subprocess.Popen([sys.executable, "-c", HOLDER, str(db_path)], stdout=subprocess.PIPE, text=True)
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "held"
            with pytest.raises(sqlkv.LockNotAcquiredError):
                async with kv.lock("shared", wait=False):
                    pass
            os.kill(child.pid, signal.SIGKILL)
            child.wait(10)
            killed_at = time.monotonic()
            async with kv.lock("shared", ttl=5, timeout=15):
                waited = time.monotonic() - killed_at
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
            if child.stdout is not None:
                child.stdout.close()
    assert waited < 5  # at most the holder's 1 s TTL (plus its last refresh) and a sweep
