"""Reads that scale: ``entries()`` and ``iter_keys()`` page by page in key order, ``get_many()`` on one snapshot."""

from __future__ import annotations

from pathlib import Path

import pytest

import sqlkv
from sqlkv._storage import scan
from tests.support.clock import FakeClock

pytestmark = pytest.mark.anyio


@pytest.fixture(params=[1, 5], ids=["history-1", "history-5"])
async def scan_kv(store: sqlkv.AsyncStore, request: pytest.FixtureRequest) -> sqlkv.AsyncBucket:
    """A bucket of one row per key (scanned straight from the index) or with history (latest row per key)."""
    return await store.create_bucket("scan", history=request.param)


async def _fill(kv: sqlkv.AsyncBucket, count: int) -> list[str]:
    keys = [f"k.{n:05d}" for n in range(count)]
    for key in keys:
        await kv.put(key, key.encode())
    return keys


async def test_entries_walk_every_live_key_in_order_across_pages(scan_kv: sqlkv.AsyncBucket) -> None:
    keys = await _fill(scan_kv, 2 * scan.PAGE_SIZE + 17)
    await scan_kv.put("k.00003", b"newer")  # history: the latest entry counts
    await scan_kv.delete("k.00005")
    await scan_kv.purge("k.01500")
    live = [k for k in keys if k not in ("k.00005", "k.01500")]
    entries = [entry async for entry in scan_kv.entries()]
    assert [e.key for e in entries] == live
    assert entries[3].value == b"newer" and entries[3].delta == 0
    assert entries[0].value == b"k.00000" and entries[0].bucket == scan_kv.name
    assert [k async for k in scan_kv.iter_keys()] == live == await scan_kv.keys()
    backwards = [k async for k in scan_kv.iter_keys(reverse=True)]
    assert backwards == live[::-1]


async def test_ranges_filters_and_limits(scan_kv: sqlkv.AsyncBucket) -> None:
    for key in ("a.1", "a.2", "a.3.x", "b.1", "b.2", "c"):
        await scan_kv.put(key, key)

    async def keys(*filters: str, **options: object) -> list[str]:
        return [e.key async for e in scan_kv.entries(*filters, **options)]  # type: ignore[arg-type]

    assert await keys(start="a.2", end="b.2") == ["a.2", "a.3.x", "b.1"]
    assert await keys(start="a.2", end="b.2", reverse=True) == ["b.1", "a.3.x", "a.2"]
    assert await keys("a.*") == ["a.1", "a.2"]
    assert await keys("a.>") == ["a.1", "a.2", "a.3.x"]
    assert await keys("*.1", "c") == ["a.1", "b.1", "c"]
    assert await keys("a.>", start="a.2") == ["a.2", "a.3.x"]
    assert await keys(limit=2) == ["a.1", "a.2"]
    assert await keys(limit=2, reverse=True) == ["c", "b.2"]
    assert await keys(limit=0) == []
    assert await keys(start="z") == [] and await keys(start="b", end="a") == []
    for key in ("a", "ab.1", "a-b.c", "a.3.x.y"):  # beside the range of "a." (and inside it)
        await scan_kv.put(key, key)
    assert await keys("a.>") == ["a.1", "a.2", "a.3.x", "a.3.x.y"]
    assert await keys("a.3.>") == ["a.3.x", "a.3.x.y"]
    assert await keys("a.*.>") == ["a.3.x", "a.3.x.y"]
    assert [k async for k in scan_kv.iter_keys("b.*", reverse=True)] == ["b.2", "b.1"]
    for bad in ({"limit": -1}, {"limit": 1.5}, {"start": 3}, {"reverse": "yes"}):
        with pytest.raises(sqlkv.InvalidArgumentError):
            scan_kv.entries(**bad)  # type: ignore[arg-type]
    with pytest.raises(sqlkv.InvalidKeyError):
        scan_kv.entries("a..b")


async def test_a_limit_counts_live_entries_over_dead_keys(scan_kv: sqlkv.AsyncBucket) -> None:
    keys = await _fill(scan_kv, 300)
    for key in keys[:250]:
        await scan_kv.delete(key)
    assert [e.key async for e in scan_kv.entries(limit=3)] == keys[250:253]


@pytest.mark.parametrize("history", [1, 5])
async def test_expired_keys_are_left_out(timed_store: sqlkv.AsyncStore, clock: FakeClock, history: int) -> None:
    kv = await timed_store.create_bucket("t", ttl=100, history=history)
    await kv.put("old", b"1")
    clock.advance(50)
    await kv.put("short", b"1", ttl=10)
    await kv.put("young", b"1")
    clock.advance(50)
    assert [k async for k in kv.iter_keys()] == ["young"]
    assert list(await kv.get_many(["old", "short", "young"])) == ["young"]


async def test_a_scan_resumes_after_the_last_key_seen_while_others_write(scan_kv: sqlkv.AsyncBucket) -> None:
    keys = await _fill(scan_kv, 3 * scan.PAGE_SIZE)
    seen: list[str] = []
    async for entry in scan_kv.entries():
        seen.append(entry.key)
        if len(seen) == scan.PAGE_SIZE + 10:  # mid-scan: add a key behind the cursor and one ahead, rewrite one
            await scan_kv.put("k.00000x", b"behind")
            await scan_kv.put("k.99999", b"ahead")
            await scan_kv.put(keys[-1], b"rewritten")
    assert seen == [*keys, "k.99999"]  # once each, in order; present throughout means seen
    assert len(set(seen)) == len(seen)


async def test_a_page_of_large_values_stops_at_its_byte_budget(
    scan_kv: sqlkv.AsyncBucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scan, "PAGE_BYTES", 250_000)
    for n in range(10):
        await scan_kv.put(f"big.{n}", bytes([n]) * 100_000)
    pages: list[int] = []

    class CountedPage(scan.Page):
        def __init__(self, entries: list[object], last_key: str | None, done: bool) -> None:
            pages.append(len(entries))
            super().__init__(entries, last_key, done)

    monkeypatch.setattr(scan, "Page", CountedPage)
    entries = [entry async for entry in scan_kv.entries()]
    assert [e.value[0] for e in entries] == list(range(10))
    assert pages == [3, 3, 3, 1]  # the third value passes the budget: a page ends there


async def test_get_many_reads_present_keys_only(scan_kv: sqlkv.AsyncBucket) -> None:
    await scan_kv.put("a", b"1")
    await scan_kv.put("b", b"2")
    await scan_kv.put("gone", b"3")
    await scan_kv.delete("gone")
    found = await scan_kv.get_many(["a", "b", "gone", "never", "a"])
    assert {k: e.value for k, e in found.items()} == {"a": b"1", "b": b"2"}
    assert await scan_kv.get_many([]) == {}
    with pytest.raises(sqlkv.InvalidArgumentError):
        await scan_kv.get_many("a")
    with pytest.raises(sqlkv.InvalidKeyError):
        await scan_kv.get_many(["a", "bad key"])


def test_get_many_of_many_keys_reads_each_key_s_latest_in_the_order_asked(tmp_path: Path) -> None:
    """Keys past one statement's worth (64), in no particular order, with history, markers and repeats."""
    with sqlkv.Store(tmp_path / "s.db") as store:
        kv = store.create_bucket("h", history=3)
        for n in range(200):
            kv.put(f"n.{n:03d}", f"{n}.old")
            kv.put(f"n.{n:03d}", f"{n}.new")
        kv.delete("n.007")
        kv.purge("n.150")
        asked = [f"n.{n:03d}" for n in range(199, -1, -3)] + ["n.999", "n.199"]
        found = kv.get_many(asked)
        expected = [key for key in dict.fromkeys(asked) if key not in ("n.007", "n.150", "n.999")]
        assert list(found) == expected
        assert all(found[key].value == f"{int(key[2:])}.new".encode() for key in expected)
        assert all(found[key] == kv.get(key) for key in expected)


def test_the_sync_store_scans_too(tmp_path: Path) -> None:
    with sqlkv.Store(tmp_path / "s.db") as store:
        kv = store.create_bucket("s")
        for n in range(1500):
            kv.put(f"n.{n:04d}", b"x")
        iterator = kv.entries("n.*", start="n.0100", limit=1200)
        first = next(iterator)
        assert first.key == "n.0100"
        assert len([first, *iterator]) == 1200
        assert list(kv.iter_keys(end="n.0003")) == ["n.0000", "n.0001", "n.0002"]
        assert set(kv.get_many(["n.0001", "n.9999"])) == {"n.0001"}
