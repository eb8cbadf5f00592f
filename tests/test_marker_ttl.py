"""Marker lifetimes (NATS 2.11+, ADR-43/ADR-48): ``marker_ttl`` and ``purge(key, ttl=)``, on SQLite and on NATS.

Each scenario runs on a file store whose clock is a fake one (``passes`` moves
it and sweeps) and on a ``nats://`` store against nats-server, where time
passes by itself: what follows waits for the watcher's entry or, for a marker
that goes silently, for the state (``eventually``), never for a fixed time.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

import sqlkv
from tests.support.clock import FakeClock
from tests.support.nats_server import NatsServer

pytestmark = [pytest.mark.anyio]
_counter = itertools.count()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # nats-py runs on asyncio only


class Side:
    """A store, and time passing on it: a fake clock moved (and a sweep), or a server's own clock."""

    def __init__(self, store: sqlkv.AsyncStore, clock: FakeClock | None) -> None:
        self.store, self._clock = store, clock
        self.made: list[str] = []

    async def bucket(self, **config: Any) -> sqlkv.AsyncBucket:
        name = f"MT{next(_counter)}"
        self.made.append(name)
        return await self.store.create_bucket(name, **config)

    async def passes(self, seconds: float) -> None:
        if self._clock is not None:
            self._clock.advance(seconds)
            await self.store.sweep()


@pytest.fixture(params=["sqlite", pytest.param("nats", marks=pytest.mark.nats)])
async def side(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Side]:
    if request.param == "sqlite":
        clock = FakeClock()
        async with sqlkv.AsyncStore(tmp_path / "s.db", clock=clock, auto_sweep=False) as store:
            yield Side(store, clock)
        return
    server: NatsServer = request.getfixturevalue("nats_server")
    async with sqlkv.AsyncStore(server.url) as store:
        made = Side(store, None)
        try:
            yield made
        finally:
            for name in made.made:
                if name in await store.bucket_names():  # (a refused configuration made none)
                    await store.delete_bucket(name)


async def eventually(check: Callable[[], Awaitable[None]], timeout: float = 10.0) -> None:
    """Run ``check`` until it passes (a server expires when it does), at most ``timeout`` seconds."""
    with anyio.fail_after(timeout):
        while True:
            try:
                await check()
                return
            except AssertionError:
                await anyio.sleep(0.05)


async def next_entry(watcher: sqlkv.AsyncWatcher) -> sqlkv.Entry:
    with anyio.fail_after(10):
        return await watcher.__anext__()


async def test_the_setting_is_kept_shown_and_changed(side: Side) -> None:
    kv = await side.bucket(history=5, marker_ttl=30)
    assert (await kv.status()).marker_ttl == 30.0
    assert (await side.store.create_bucket(kv.name, history=5, marker_ttl=30)).name == kv.name
    with pytest.raises(sqlkv.BucketExistsError):
        await side.store.create_bucket(kv.name, history=5, marker_ttl=60)
    await side.store.update_bucket(kv.name, marker_ttl=60)
    assert (await kv.status()).marker_ttl == 60.0
    assert (await side.store.bucket(kv.name)).config.marker_ttl == 60.0
    await side.store.update_bucket(kv.name, marker_ttl=None)
    assert (await kv.status()).marker_ttl is None
    assert (await (await side.bucket()).status()).marker_ttl is None


@pytest.mark.parametrize("bad", [0, -1, "1s", float("nan")])
async def test_an_invalid_marker_ttl_is_refused(side: Side, bad: object) -> None:
    with pytest.raises(sqlkv.InvalidArgumentError):
        await side.bucket(marker_ttl=bad)
    kv = await side.bucket()
    with pytest.raises(sqlkv.InvalidArgumentError):
        await side.store.update_bucket(kv.name, marker_ttl=bad)
    with pytest.raises(sqlkv.InvalidArgumentError):
        await kv.purge("k", ttl=bad)  # type: ignore[arg-type]
    assert (await kv.status()).marker_ttl is None


async def test_an_expiry_leaves_a_marker_that_expires_in_its_turn(side: Side) -> None:
    kv = await side.bucket(history=5, marker_ttl=1)
    assert await kv.create("age", b"30", ttl=1) == 1
    async with kv.watch("age", include_history=True) as watcher:
        assert [(e.revision, e.operation) for e in await watcher.initial()] == [(1, sqlkv.Operation.PUT)]
        await side.passes(1)
        expired = await next_entry(watcher)
        assert (expired.key, expired.value, expired.revision, expired.operation) == (
            "age",
            b"",
            2,
            sqlkv.Operation.EXPIRE,
        )
        with pytest.raises(sqlkv.KeyNotFoundError) as absent:  # reads never show the marker
            await kv.get("age")
        assert not isinstance(absent.value, sqlkv.KeyDeletedError)
        with pytest.raises(sqlkv.KeyNotFoundError):
            await kv.history("age")
        assert await kv.keys() == []
        assert (await kv.status()).values == 1  # the marker is stored until its own TTL passed
        await side.passes(1)

        async def marker_gone() -> None:
            assert (await kv.status()).values == 0

        await eventually(marker_gone)
        assert await kv.create("age", b"31") == 3
        again = await next_entry(watcher)  # the marker went silently: the next entry is the create
        assert (again.revision, again.operation) == (3, sqlkv.Operation.PUT)


async def test_a_purge_with_a_ttl_in_a_transaction_leaves_no_trace(side: Side) -> None:
    kv = await side.bucket(history=5)
    await kv.put("name", b"alice")
    await kv.put("other", b"x")
    async with side.store.atomic() as tx:
        tx.purge(kv, "name", last=1, ttl=1)
        tx.put(kv, "other", b"y")
    assert tx.revisions == [3, 4]
    with pytest.raises(sqlkv.KeyDeletedError):
        await kv.get("name")
    await side.passes(1)

    async def marker_gone() -> None:
        assert (await kv.status()).values == 2  # the two revisions of "other" alone

    await eventually(marker_gone)
    with pytest.raises(sqlkv.KeyNotFoundError):
        await kv.history("name")
    assert (await kv.get("other")).value == b"y"  # the transaction's other write is no marker: it stays
    with pytest.raises(sqlkv.InvalidArgumentError):
        async with side.store.atomic() as tx:
            tx.purge(kv, "other", ttl=-1)


async def test_a_purge_marker_with_a_ttl_leaves_no_trace(side: Side) -> None:
    kv = await side.bucket(history=5)
    await kv.put("name", b"alice")
    await kv.put("name", b"bob")
    assert await kv.purge("name", ttl=1) == 3
    with pytest.raises(sqlkv.KeyDeletedError) as purged:
        await kv.get("name")
    assert (purged.value.revision, purged.value.operation) == (3, sqlkv.Operation.PURGE)
    assert [(e.revision, e.operation) for e in await kv.history("name")] == [(3, sqlkv.Operation.PURGE)]
    await side.passes(1)

    async def marker_gone() -> None:
        assert (await kv.status()).values == 0

    await eventually(marker_gone)
    with pytest.raises(sqlkv.KeyNotFoundError):
        await kv.history("name")
    assert await kv.update("name", b"carol", last=0) == 4  # the key has no entry at all


async def test_a_purge_marker_below_a_newer_value_goes_at_its_ttl(side: Side) -> None:
    kv = await side.bucket(history=5)
    await kv.put("k", b"old")
    await kv.purge("k", ttl=1)
    await kv.put("k", b"new")
    await side.passes(1)

    async def only_the_value() -> None:
        assert [(e.revision, e.value) for e in await kv.history("k")] == [(3, b"new")]

    await eventually(only_the_value)
    assert (await kv.get("k")).value == b"new"
    assert (await kv.status()).values == 1


async def test_under_a_second_nats_refuses_what_sqlite_takes(side: Side) -> None:
    kv = await side.bucket(history=5)
    await kv.put("k", b"v")
    if side.store.backend == "file":
        assert await kv.purge("k", ttl=0.5) == 2
        assert (await side.bucket(marker_ttl=0.5)).name
        return
    with pytest.raises(sqlkv.UnsupportedError, match="at least 1 s"):
        await kv.purge("k", ttl=0.5)
    with pytest.raises(sqlkv.UnsupportedError, match="at least 1 s"):
        await side.bucket(marker_ttl=0.5)
    assert (await kv.get("k")).value == b"v"


async def test_create_writes_over_the_marker_of_an_expired_key(side: Side) -> None:
    kv = await side.bucket(history=1, marker_ttl=30)
    await kv.create("k", b"v1", ttl=1)
    async with kv.watch("k") as watcher:
        await watcher.initial()
        await side.passes(1)
        assert (await next_entry(watcher)).operation is sqlkv.Operation.EXPIRE
    assert await kv.create("k", b"v2") == 3  # nats-py 2.16.0 alone refuses: it does not take the marker for a delete
    assert (await kv.get("k")).value == b"v2"
    with pytest.raises(sqlkv.KeyExistsError):
        await kv.create("k", b"v3")


async def test_migrate_carries_the_marker_ttl(tmp_path: Path) -> None:
    from sqlkv.migrate import migrate

    async with sqlkv.AsyncStore(tmp_path / "a.db") as first, sqlkv.AsyncStore(tmp_path / "b.db") as second:
        kv = await first.create_bucket("m", history=3, marker_ttl=30)
        await kv.put("k", b"v")
        await migrate(first, second, ["m"])
        assert (await (await second.bucket("m")).status()).marker_ttl == 30.0
