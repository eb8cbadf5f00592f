"""A watcher's entries carry the same ``expires`` as a get of that revision: per-key deadline or bucket TTL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import anyio
import pytest

import sqlkv
from sqlkv._model.entry import ns_to_datetime
from tests.support.clock import FakeClock

pytestmark = pytest.mark.anyio


async def _take(watcher: sqlkv.AsyncWatcher, count: int) -> list[sqlkv.Entry]:
    got: list[sqlkv.Entry] = []
    with anyio.fail_after(10):
        async for entry in watcher:
            if entry is not None:
                got.append(entry)
            if len(got) == count:
                break
    return got


async def test_live_entries_carry_the_per_key_deadline(tmp_path: Path) -> None:
    clock = FakeClock()
    start = clock.now
    async with sqlkv.AsyncStore(tmp_path / "s.db", clock=clock, auto_sweep=False) as store:
        kv = await store.create_bucket("b", ttl=100)
        async with kv.watch(updates_only=True) as watcher:
            await kv.put("short", b"1", ttl=30)
            await kv.put("plain", b"2")
            await kv.create("made", b"3", ttl=timedelta(seconds=10))
            got = await _take(watcher, 3)
        expected = [start + 30 * 10**9, start + 100 * 10**9, start + 10 * 10**9]
        assert [e.expires for e in got] == [ns_to_datetime(ns) for ns in expected]
        assert [e.expires for e in got] == [(await kv.get(e.key)).expires for e in got]


async def test_entries_from_another_store_object_carry_it(tmp_path: Path) -> None:
    clock = FakeClock()
    start = clock.now
    path = tmp_path / "s.db"
    async with sqlkv.AsyncStore(path, clock=clock, auto_sweep=False, poll_interval=0.005) as store:
        kv = await store.create_bucket("b")
        async with sqlkv.AsyncStore(path, clock=clock, auto_sweep=False) as other:
            remote = await other.bucket("b")
            async with kv.watch(updates_only=True) as watcher:
                await remote.put("k", b"1", ttl=60)  # read from the table by the poller, not from a journal
                await remote.put("forever", b"2")
                got = await _take(watcher, 2)
    assert [e.expires for e in got] == [ns_to_datetime(start + 60 * 10**9), None]


async def test_initial_entries_carry_the_keys_deadline(tmp_path: Path) -> None:
    clock = FakeClock()
    start = clock.now
    async with sqlkv.AsyncStore(tmp_path / "s.db", clock=clock, auto_sweep=False) as store:
        kv = await store.create_bucket("b", history=3)
        await kv.put("k", b"1")
        await kv.put("k", b"2", ttl=40)  # the key's deadline: every retained revision's (as history says)
        deadline = ns_to_datetime(start + 40 * 10**9)
        async with kv.watch("k") as watcher:
            assert [e.expires for e in await watcher.initial()] == [deadline]
        async with kv.watch("k", include_history=True) as watcher:
            initial = await watcher.initial()
        assert [e.expires for e in initial] == [e.expires for e in await kv.history("k")] == [deadline, deadline]
        await kv.put("other", b"3")
        clock.advance(40)  # the key's deadline passed (not swept): every revision of it is gone, as for history
        async with kv.watch(include_history=True) as watcher:
            assert [(e.key, e.revision, e.expires) for e in await watcher.initial()] == [("other", 3, None)]


def test_a_sync_watcher_carries_it(tmp_path: Path) -> None:
    clock = FakeClock()
    start = clock.now
    with sqlkv.Store(tmp_path / "s.db", clock=clock, auto_sweep=False) as store:
        kv = store.create_bucket("b")
        with kv.watch(updates_only=True, timeout=10) as watcher:
            kv.put("k", b"1", ttl=5)
            entry = next(e for e in watcher if e is not None)
        assert entry.expires == ns_to_datetime(start + 5 * 10**9) == kv.get("k").expires
