"""Counters (``incr``) and sliding expiry (``touch``)."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

import sqlkv
from tests.support.clock import FakeClock

pytestmark = pytest.mark.anyio


async def test_incr_counts_from_zero_and_stores_ascii_decimal(kv: sqlkv.AsyncBucket) -> None:
    assert await kv.incr("hits") == 1
    assert await kv.incr("hits", 41) == 42
    entry = await kv.get("hits")
    assert entry.value == b"42" and entry.revision == 2
    assert await kv.incr("hits", by=-50) == -8
    assert (await kv.get("hits")).value == b"-8"
    assert [e.value for e in await kv.history("hits")] == [b"1", b"42", b"-8"]
    await kv.put("preset", "007")
    assert await kv.incr("preset") == 8


async def test_incr_restarts_a_deleted_or_purged_key_from_zero(kv: sqlkv.AsyncBucket) -> None:
    await kv.put("n", b"10")
    await kv.delete("n")
    assert await kv.incr("n", 3) == 3
    await kv.purge("n")
    assert await kv.incr("n") == 1


async def test_incr_of_an_expired_key_starts_from_zero(timed_store: sqlkv.AsyncStore, clock: FakeClock) -> None:
    kv = await timed_store.create_bucket("t", ttl=10)
    assert await kv.incr("window", ttl=2) == 1
    assert await kv.incr("window", ttl=2) == 2
    clock.advance(2)
    assert await kv.incr("window") == 1
    clock.advance(10)  # the bucket TTL
    assert await kv.incr("window") == 1


@pytest.mark.parametrize("value", [b"12a", b"", b"-", b"+1", b" 1", b"1.5", b"\xd9\xa1", b"1" * 21, b"x" * 100_000])
async def test_incr_refuses_a_value_that_is_not_a_decimal_integer(kv: sqlkv.AsyncBucket, value: bytes) -> None:
    revision = await kv.put("k", value)
    with pytest.raises(sqlkv.NotACounterError) as info:
        await kv.incr("k")
    assert info.value.key == "k" and isinstance(info.value, ValueError)
    assert (await kv.status()).last_revision == revision
    assert (await kv.get("k")).value == value


async def test_incr_stays_within_the_signed_64_bit_range(kv: sqlkv.AsyncBucket) -> None:
    await kv.put("top", str(2**63 - 1))
    with pytest.raises(sqlkv.NotACounterError, match="64-bit"):
        await kv.incr("top")
    assert await kv.incr("top", -1) == 2**63 - 2
    await kv.put("bottom", str(-(2**63)))
    with pytest.raises(sqlkv.NotACounterError):
        await kv.incr("bottom", -1)
    for bad in (1.5, True, "1", 2**63, None):
        with pytest.raises(sqlkv.InvalidArgumentError):
            await kv.incr("k", bad)  # type: ignore[arg-type]
    with pytest.raises(sqlkv.InvalidKeyError):
        await kv.incr("bad key")


async def test_incr_from_100_tasks_loses_no_increment(store: sqlkv.AsyncStore) -> None:
    kv = await store.create_bucket("c", history=1)
    results: list[int] = []

    async def bump() -> None:
        for _ in range(10):
            results.append(await kv.incr("n"))

    async with anyio.create_task_group() as group:
        for _ in range(100):
            group.start_soon(bump)
    assert sorted(results) == list(range(1, 1001))
    assert (await kv.get("n")).value == b"1000"


async def test_touch_moves_the_deadline_without_a_new_revision(timed_store: sqlkv.AsyncStore, clock: FakeClock) -> None:
    kv = await timed_store.create_bucket("s", history=3)
    await kv.put("session", b"a", ttl=5)
    revision = await kv.put("session", b"b", ttl=5)
    async with kv.watch(updates_only=True) as watcher:
        clock.advance(4)
        assert await kv.touch("session", 5) == revision  # now 9 from the start
        clock.advance(4)
        assert (await kv.get("session")).revision == revision
        assert len(await kv.history("session")) == 2  # the whole key, history included
        assert (await kv.status()).last_revision == revision
        assert await kv.touch("session", None) == revision  # no deadline any more
        clock.advance(1000)
        assert (await kv.get("session")).value == b"b"
        await kv.touch("session", 1)
        clock.advance(1)
        with pytest.raises(sqlkv.KeyNotFoundError):
            await kv.get("session")
        with pytest.raises(sqlkv.KeyNotFoundError):
            await kv.touch("session", 10)  # expired: gone
        await timed_store.sweep()
        assert (await watcher.__anext__()).operation is sqlkv.Operation.EXPIRE  # the sweep's, not a touch's


async def test_touch_needs_a_live_key(kv: sqlkv.AsyncBucket) -> None:
    with pytest.raises(sqlkv.KeyNotFoundError) as missing:
        await kv.touch("nobody", 5)
    assert not isinstance(missing.value, sqlkv.KeyDeletedError)
    await kv.put("k", b"v")
    marker = await kv.delete("k")
    with pytest.raises(sqlkv.KeyDeletedError) as deleted:
        await kv.touch("k", 5)
    assert deleted.value.revision == marker
    with pytest.raises(sqlkv.InvalidArgumentError):
        await kv.touch("k", -1)


async def test_the_bucket_ttl_still_counts_from_the_write(timed_store: sqlkv.AsyncStore, clock: FakeClock) -> None:
    kv = await timed_store.create_bucket("t", ttl=10)
    await kv.put("k", b"v")
    clock.advance(9)
    await kv.touch("k", 100)
    clock.advance(1)
    assert await kv.keys() == []


async def test_the_sweeper_honours_a_touched_deadline_at_once(db_path: Path) -> None:
    async with sqlkv.AsyncStore(db_path) as store:  # the real clock and the background sweeper
        kv = await store.create_bucket("s")
        await kv.put("k", b"v", ttl=3600)
        async with kv.watch(updates_only=True) as watcher:
            await kv.touch("k", 0.05)
            with anyio.fail_after(10):
                entry = await watcher.__anext__()
        assert (entry.key, entry.operation) == ("k", sqlkv.Operation.EXPIRE)


def test_the_sync_store_counts_and_touches(tmp_path: Path) -> None:
    with sqlkv.Store(tmp_path / "s.db") as store:
        kv = store.create_bucket("c")
        assert kv.incr("n") == 1 and kv.incr("n", 9) == 10
        assert kv.touch("n", 60) == 2
        kv.put("text", b"abc")
        with pytest.raises(sqlkv.NotACounterError):
            kv.incr("text")
