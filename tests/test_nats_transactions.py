"""Transactions, counters and scans on a NATS server, against the SQLite store doing the same."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest

import sqlkv
from tests.support.nats_server import NatsServer

pytestmark = [pytest.mark.anyio, pytest.mark.nats]
_counter = itertools.count()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # nats-py runs on asyncio only


@pytest.fixture
async def nats_store(nats_server: NatsServer) -> AsyncIterator[sqlkv.AsyncStore]:
    async with sqlkv.AsyncStore(nats_server.url) as store:
        yield store


async def _on_both(
    nats_store: sqlkv.AsyncStore, tmp_path: Path, history: int, scenario: Callable[..., Awaitable[Any]]
) -> tuple[Any, Any]:
    """Run ``scenario(store, bucket)`` on a file store and on the server; return both outcomes."""
    name = f"T{next(_counter)}"
    async with sqlkv.AsyncStore(tmp_path / f"{name}.db") as file_store:
        expected = await scenario(file_store, await file_store.create_bucket(name, history=history))
    try:
        got = await scenario(nats_store, await nats_store.create_bucket(name, history=history))
    finally:
        await nats_store.delete_bucket(name)
    return expected, got


def _outcome(error: BaseException) -> tuple[object, ...]:
    return (type(error).__name__, getattr(error, "mutation", None), getattr(error, "actual", None))


async def test_a_transaction_is_the_same_atomic_batch_on_both(nats_store: sqlkv.AsyncStore, tmp_path: Path) -> None:
    async def scenario(store: sqlkv.AsyncStore, kv: sqlkv.AsyncBucket) -> list[Any]:
        log: list[Any] = []
        await kv.put("a", b"1")
        await kv.put("gone", b"x")
        await kv.delete("gone")
        async with store.atomic() as tx:
            tx.put(kv, "p", b"2")
            tx.create(kv, "b", b"new")
            tx.create(kv, "gone", b"back")  # create over a delete marker
            tx.update(kv, "a", b"3", last=1)
            tx.delete(kv, "c")
            tx.put(kv, "p", b"twice")  # a key written twice (no compare-and-set on the second)
        log.append(tx.revisions)
        async with store.atomic() as tx:
            tx.purge(kv, "gone", last=6)
            tx.put(kv, "gone", b"after the purge")
        log.append(tx.revisions)
        for bad in (
            lambda tx: tx.update(kv, "a", b"x", last=1),
            lambda tx: tx.create(kv, "b", b"x"),
            lambda tx: tx.delete(kv, "a", last=2),
        ):
            try:
                async with store.atomic() as tx:
                    tx.put(kv, "z", b"never")
                    bad(tx)
            except sqlkv.SqlkvError as exc:
                log.append(_outcome(exc))
        log.append((await kv.status()).last_revision)
        log.append([(e.key, e.revision, e.value, e.operation) for e in await kv.history("a")])
        log.append(await kv.keys())
        return log

    expected, got = await _on_both(nats_store, tmp_path, 5, scenario)
    assert got == expected
    assert expected[:2] == [[4, 5, 6, 7, 8, 9], [10, 11]]
    assert expected[2] == ("WrongLastRevisionError", 1, 7)


async def test_what_nats_cannot_do_atomically_is_refused_before_anything_is_sent(nats_store: sqlkv.AsyncStore) -> None:
    kv = await nats_store.create_bucket(f"T{next(_counter)}")
    other = await nats_store.create_bucket(f"T{next(_counter)}")
    try:
        for record, words in (
            (lambda tx: (tx.check(kv, "a", last=0), tx.put(kv, "a", b"1")), "tx.check"),
            (lambda tx: tx.incr(kv, "n"), "tx.incr"),
            (lambda tx: (tx.put(kv, "a", b"1"), tx.put(other, "a", b"1")), "one bucket"),
            (lambda tx: tx.put(kv, "a", b"1", ttl=5), "per-key TTL"),
            (lambda tx: (tx.put(kv, "a", b"1"), tx.update(kv, "a", b"2", last=1)), "written earlier"),
            (lambda tx: (tx.put(kv, "a", b"1"), tx.create(kv, "a", b"2")), "written earlier"),
            (lambda tx: (tx.put(kv, "a", b"1"), tx.purge(kv, "a")), "written earlier"),
        ):
            with pytest.raises(sqlkv.UnsupportedError, match=words):
                async with nats_store.atomic() as tx:
                    record(tx)
        assert (await kv.status()).last_revision == 0 and (await other.status()).last_revision == 0
        async with nats_store.atomic() as tx:
            tx.create(kv, "session", b"1", ttl=60)  # create may carry a TTL, as kv.create
        assert tx.revisions == [1]
    finally:
        await nats_store.delete_bucket(kv.name)
        await nats_store.delete_bucket(other.name)


async def test_a_bucket_made_by_another_tool_says_how_to_allow_batches(
    nats_store: sqlkv.AsyncStore, nats_js: Any
) -> None:
    name = f"T{next(_counter)}"
    await nats_js.create_key_value(bucket=name)  # nats-py's own: atomic publish stays off
    try:
        kv = await nats_store.bucket(name)
        with pytest.raises(sqlkv.UnsupportedError, match="allow-batch"):
            async with nats_store.atomic() as tx:
                tx.put(kv, "a", b"1")
                tx.put(kv, "b", b"1")
        assert await kv.keys() == []
    finally:
        await nats_js.delete_key_value(name)


async def test_incr_and_scans_match_the_file_store(nats_store: sqlkv.AsyncStore, tmp_path: Path) -> None:
    async def scenario(store: sqlkv.AsyncStore, kv: sqlkv.AsyncBucket) -> list[Any]:
        log: list[Any] = [await kv.incr("n"), await kv.incr("n", 41), await kv.incr("n", -50)]
        await kv.put("text", b"abc")
        try:
            await kv.incr("text")
        except sqlkv.NotACounterError as exc:
            log.append(type(exc).__name__)
        for key in ("a.1", "a.2", "b.1", "c"):
            await kv.put(key, key)
        await kv.delete("a.2")
        log.append([(e.key, e.value, e.revision) async for e in kv.entries()])
        log.append([k async for k in kv.iter_keys("a.*", "c", reverse=True)])
        log.append([k async for k in kv.iter_keys(start="a.2", end="c", limit=2)])
        log.append({k: e.value for k, e in (await kv.get_many(["n", "a.2", "zz", "c"])).items()})
        return log

    expected, got = await _on_both(nats_store, tmp_path, 3, scenario)
    assert got == expected
    assert expected[:4] == [1, 42, -8, "NotACounterError"]


async def test_incr_on_nats_loses_nothing_under_contention(nats_store: sqlkv.AsyncStore) -> None:
    kv = await nats_store.create_bucket(f"T{next(_counter)}")
    try:

        async def bump() -> None:
            for _ in range(5):
                await kv.incr("n")

        async with anyio.create_task_group() as group:
            for _ in range(8):
                group.start_soon(bump)
        assert (await kv.get("n")).value == b"40"
        with pytest.raises(sqlkv.UnsupportedError, match="touch"):
            await kv.touch("n", 5)
    finally:
        await nats_store.delete_bucket(kv.name)


async def test_a_create_in_a_transaction_is_refused_only_for_a_live_value(nats_server: NatsServer) -> None:
    """Issue 24: as ``create()``, a transaction's create racing deletes and purges is refused only for a live
    value (the batch is sent again when only the created key's marker moved)."""
    from tests.support.create_race import create_race

    outcome = await create_race(nats_server.url, f"T{next(_counter)}", 100, atomic=True)
    assert outcome.unexplained == []
    assert outcome.busy < outcome.tried and outcome.created > 0


async def test_a_create_ttl_in_a_transaction_is_sent_as_outside_one(nats_store: sqlkv.AsyncStore) -> None:
    """Under a second is refused before anything is sent (as kv.create does); 1.5 s is not cut to 1 s."""
    kv = await nats_store.create_bucket(f"T{next(_counter)}")
    try:
        with pytest.raises(sqlkv.UnsupportedError, match="at least 1 s"):
            async with nats_store.atomic() as tx:
                tx.create(kv, "a", b"1", ttl=0.5)
        assert (await kv.status()).last_revision == 0
        async with nats_store.atomic() as tx:
            tx.create(kv, "a", b"1", ttl=1.5)
        entry = await kv.get("a")
        assert entry.expires is not None and entry.expires - entry.created == timedelta(seconds=1.5)
    finally:
        await nats_store.delete_bucket(kv.name)
