"""Bucket limits, update_bucket, purge_deletes, and the O(1) counters against full recounts."""

from __future__ import annotations

import random

import pytest

import sqlkv
from tests.support.clock import FakeClock
from tests.support.counters import counters, recount

pytestmark = pytest.mark.anyio


async def test_max_value_size_counts_value_bytes_only(store: sqlkv.AsyncStore) -> None:
    kv = await store.create_bucket("v", max_value_size=10)
    await kv.put("a-long-key-does-not-count", b"x" * 10)
    with pytest.raises(sqlkv.ValueTooLargeError):
        await kv.put("k", b"x" * 11)
    with pytest.raises(sqlkv.ValueTooLargeError):
        await kv.create("new", "é" * 6)  # 12 bytes in UTF-8
    with pytest.raises(sqlkv.ValueTooLargeError):
        await kv.update("a-long-key-does-not-count", b"y" * 11, last=1)
    assert await kv.keys() == ["a-long-key-does-not-count"]
    await kv.delete("a-long-key-does-not-count")  # markers carry no value


async def test_max_bytes_refuses_puts_but_not_deletes(store: sqlkv.AsyncStore) -> None:
    kv = await store.create_bucket("b", max_bytes=100, history=5)
    await kv.put("k1", b"x" * 40)  # 42 bytes
    await kv.put("k2", b"x" * 40)  # 84 bytes
    with pytest.raises(sqlkv.BucketFullError, match="maximum bytes exceeded"):
        await kv.put("k3", b"x" * 40)
    with pytest.raises(sqlkv.BucketFullError):
        await kv.put("k1", b"x" * 40)  # counted before the old revision would be trimmed, as NATS does
    assert (await kv.status()).bytes == 84
    await kv.delete("k1")  # NATS refuses deletes in a full bucket; sqlkv lets you free space
    await kv.purge("k1")
    status = await kv.status()
    assert status.bytes == 42 + 2 and status.max_bytes == 100
    await kv.put("k3", b"x" * 40)
    assert await kv.keys() == ["k2", "k3"]


async def test_refused_write_leaves_batch_neighbours_alone(store: sqlkv.AsyncStore) -> None:
    import anyio

    kv = await store.create_bucket("b", max_value_size=5)
    results: dict[int, object] = {}

    async def put(n: int) -> None:
        try:
            results[n] = await kv.put(f"k.{n}", b"x" * (10 if n % 3 == 0 else 3))
        except sqlkv.ValueTooLargeError as exc:
            results[n] = exc

    async with anyio.create_task_group() as tg:
        for n in range(30):
            tg.start_soon(put, n)
    assert sum(isinstance(r, int) for r in results.values()) == 20
    assert len(await kv.keys()) == 20


async def test_update_bucket(store: sqlkv.AsyncStore) -> None:
    kv = await store.create_bucket("u", history=5, description="first")
    for i in range(5):
        await kv.put("k", str(i))
    updated = await store.update_bucket("u", history=2, max_value_size=3, metadata={"team": "core"})
    assert updated.config.history == 2 and updated.config.description == "first"
    assert [e.value for e in await kv.history("k")] == [b"3", b"4"]  # trimmed at once
    with pytest.raises(sqlkv.ValueTooLargeError):
        await kv.put("k", b"1234")
    status = await kv.status()
    assert (status.history, status.max_value_size, status.metadata) == (2, 3, {"team": "core"})
    await store.update_bucket("u", max_value_size=None)
    await kv.put("k", b"1234")
    with pytest.raises(sqlkv.BucketNotFoundError):
        await store.update_bucket("missing", history=2)
    with pytest.raises(sqlkv.InvalidArgumentError):
        await store.update_bucket("u", history=65)
    assert (await store.bucket("u")).config.history == 2  # the bad update changed nothing
    assert await recount(kv) == ((s := await kv.status()).values, s.bytes, s.keys)


async def test_config_validation(store: sqlkv.AsyncStore) -> None:
    cases = [
        {"max_value_size": -1},
        {"max_bytes": -1},
        {"max_bytes": True},
        {"max_value_size": 1.5},
        {"description": 3},
        {"metadata": {"a": 1}},
        {"metadata": [("a", "b")]},
    ]
    for kwargs in cases:
        with pytest.raises(sqlkv.InvalidArgumentError):
            await store.create_bucket("c", **kwargs)  # type: ignore[arg-type]
    assert await store.bucket_names() == []
    a = await store.create_bucket("c", ttl=5, max_bytes=10, metadata={"x": "y"})
    b = await store.create_bucket("c", ttl=5.0, max_bytes=10, metadata={"x": "y"})
    assert a.config == b.config
    with pytest.raises(sqlkv.BucketExistsError):
        await store.create_bucket("c", ttl=6, max_bytes=10, metadata={"x": "y"})


async def test_purge_deletes(timed_store: sqlkv.AsyncStore, clock: FakeClock) -> None:
    kv = await timed_store.create_bucket("p", history=5)
    for key in ("old", "young", "alive"):
        await kv.put(key, b"1")
        await kv.put(key, b"2")
    await kv.delete("old")
    clock.advance(31 * 60)
    await kv.delete("young")
    removed = await kv.purge_deletes()
    assert removed == 3 + 2  # all of "old"; the history of "young"
    with pytest.raises(sqlkv.KeyNotFoundError):
        await kv.history("old")
    assert [e.operation for e in await kv.history("young")] == [sqlkv.Operation.DEL]
    assert [e.value for e in await kv.history("alive")] == [b"1", b"2"]
    assert await kv.purge_deletes(older_than=0) == 1
    with pytest.raises(sqlkv.KeyNotFoundError):
        await kv.history("young")
    assert await kv.keys() == ["alive"]
    assert await kv.update("old", b"fresh", last=0) > 0
    assert await recount(kv) == ((s := await kv.status()).values, s.bytes, s.keys)


async def test_counters_equal_recounts_after_random_workloads(timed_store: sqlkv.AsyncStore, clock: FakeClock) -> None:
    rng = random.Random(20261121)
    kv = await timed_store.create_bucket("r", history=3, ttl=30, max_bytes=3000)
    keys = [f"k.{i}" for i in range(25)]
    for step in range(1500):
        key = rng.choice(keys)
        action = rng.random()
        try:
            if action < 0.45:
                await kv.put(key, bytes(rng.randrange(0, 60)), ttl=rng.choice([None, None, 5, 20]))
            elif action < 0.55:
                await kv.create(key, b"c")
            elif action < 0.65:
                await kv.update(key, b"u", last=rng.choice([0, step, (await kv.status()).last_revision]))
            elif action < 0.75:
                await kv.delete(key)
            elif action < 0.82:
                await kv.purge(key)
            elif action < 0.9:
                clock.advance(rng.random() * 6)
            elif action < 0.94:
                await timed_store.sweep()
            elif action < 0.96:
                await kv.purge_deletes(older_than=rng.choice([0, 10]))
            elif action < 0.98:
                await timed_store.update_bucket("r", history=rng.randrange(1, 5))
            else:
                await timed_store.update_bucket("r", max_bytes=rng.choice([1500, 3000, None]))
        except (sqlkv.WrongLastRevisionError, sqlkv.BucketFullError):
            pass
        if step % 50 == 0:
            assert await recount(kv) == await counters(kv), f"step {step}"
            await check_status_matches_reads(kv)
    assert await recount(kv) == await counters(kv)
    await check_status_matches_reads(kv)


async def check_status_matches_reads(kv: sqlkv.AsyncBucket) -> None:
    """status() counts what reads see: every entry a full-history watch shows, every live key."""
    status = await kv.status()
    async with kv.watch(include_history=True) as watcher:
        shown = await watcher.initial()
    assert status.values == len(shown)
    assert status.bytes == sum(len(e.key.encode()) + len(e.value) for e in shown)
    assert status.keys == len(await kv.keys())
