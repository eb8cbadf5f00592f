"""Plain puts queued together run as one multi-row INSERT: the same revisions, rows, counters and errors as alone."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anyio
import pytest

import sqlkv
from sqlkv._storage import ops
from tests.support.counters import recount

pytestmark = pytest.mark.anyio


@pytest.fixture
def fused_sizes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The size of every fused statement the writer ran (the tests check that fusion did happen)."""
    sizes: list[int] = []
    real: Callable[..., list[int]] = ops.put.fuse  # type: ignore[attr-defined]

    def counting(conn: Any, sql: Any, puts: list[tuple[Any, ...]]) -> list[int]:
        sizes.append(len(puts))
        return real(conn, sql, puts)

    monkeypatch.setattr(ops.put, "fuse", counting)
    yield sizes


async def _put_all(kv: sqlkv.AsyncBucket, items: list[tuple[str, bytes]]) -> list[Any]:
    """Put every item from its own task at once; each outcome (a revision or the error) in item order."""
    outcomes: list[Any] = [None] * len(items)

    async def one(index: int, key: str, value: bytes) -> None:
        try:
            outcomes[index] = await kv.put(key, value)
        except sqlkv.SqlkvError as exc:
            outcomes[index] = exc

    async with anyio.create_task_group() as tg:
        for index, (key, value) in enumerate(items):
            tg.start_soon(one, index, key, value)
    return outcomes


@pytest.mark.parametrize("history", [1, 3])
async def test_concurrent_puts_get_the_revisions_and_rows_of_separate_puts(
    store: sqlkv.AsyncStore, fused_sizes: list[int], history: int
) -> None:
    kv = await store.create_bucket("fused", history=history)
    other = await store.create_bucket("other")
    await kv.put("k.0", b"before")
    items = [(f"k.{i % 7}", b"v%d" % i) for i in range(300)]  # every key many times, often twice in a row
    async with anyio.create_task_group() as tg:
        tg.start_soon(_put_all, other, [(f"o.{i}", b"o") for i in range(50)])  # interleaved in the same batches
        outcomes = await _put_all(kv, items)
    assert max(fused_sizes) > 1
    assert all(isinstance(o, int) for o in outcomes)
    assert len(set(outcomes)) == len(outcomes)
    for key in {k for k, _ in items}:
        mine = sorted((revision, value) for (k, value), revision in zip(items, outcomes) if k == key)
        stored = [(e.revision, e.value) for e in await kv.history(key)]
        assert stored == mine[-history:]  # the newest `history` puts of the key, by the revisions they returned
    assert await recount(kv) == ((s := await kv.status()).values, s.bytes, s.keys)
    assert await recount(other) == ((s := await other.status()).values, s.bytes, s.keys)
    assert (await kv.status()).last_revision == max(outcomes)


async def test_a_refused_put_among_fused_ones_fails_alone(store: sqlkv.AsyncStore, fused_sizes: list[int]) -> None:
    kv = await store.create_bucket("limited", max_value_size=10)
    items = [(f"k.{i}", b"x" * (20 if i % 9 == 4 else 5)) for i in range(120)]
    outcomes = await _put_all(kv, items)
    assert max(fused_sizes) > 1
    refused = [i for i, o in enumerate(outcomes) if isinstance(o, sqlkv.ValueTooLargeError)]
    assert refused == [i for i in range(120) if i % 9 == 4]
    revisions = [o for o in outcomes if isinstance(o, int)]
    assert len(set(revisions)) == len(revisions) == 120 - len(refused)
    for (key, _value), outcome in zip(items, outcomes):
        if isinstance(outcome, int):
            assert (await kv.get(key)).revision == outcome
        else:
            with pytest.raises(sqlkv.KeyNotFoundError):
                await kv.get(key)
    assert await recount(kv) == ((s := await kv.status()).values, s.bytes, s.keys)


async def test_a_watcher_sees_each_fused_put_once_in_revision_order(
    store: sqlkv.AsyncStore, fused_sizes: list[int]
) -> None:
    kv = await store.create_bucket("watched")
    items = [(f"k.{i % 11}", b"%d" % i) for i in range(200)]
    seen: list[tuple[int, str, bytes]] = []
    async with kv.watch() as watcher:
        outcomes = await _put_all(kv, items)
        async for entry in watcher:
            if entry is None:
                continue
            seen.append((entry.revision, entry.key, entry.value))
            if entry.revision == max(outcomes):
                break
    assert max(fused_sizes) > 1
    assert seen == sorted((revision, key, value) for (key, value), revision in zip(items, outcomes))
