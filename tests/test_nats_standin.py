"""``sqlkv.testing.NatsJetStream`` behaves like nats.py's JetStream KV on a real server: one body, both sides.

Each test runs twice: on the stand-in (a store on a fake clock, swept when the
test moves time on) and on nats.py against nats-server. ``moment.passes(s)``
moves the stand-in's clock (the server's time passes by itself); what follows
waits for the event (a watcher's entry) or for the state (``eventually``),
never for a fixed time.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

import sqlkv
from sqlkv.testing import NatsJetStream
from tests.support.clock import FakeClock
from tests.support.nats_server import NatsServer

pytestmark = [pytest.mark.anyio, pytest.mark.nats]
_counter = itertools.count()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # nats-py runs on asyncio only


class Moment:
    """Time passing: the stand-in's fake clock moves and its store sweeps; a server's clock moves by itself."""

    def __init__(self, store: sqlkv.AsyncStore | None, clock: FakeClock | None) -> None:
        self._store, self._clock = store, clock

    async def passes(self, seconds: float) -> None:
        if self._store is not None and self._clock is not None:
            self._clock.advance(seconds)
            await self._store.sweep()


class Side:
    """One side of the comparison: a JetStream context, unique bucket names, and its time."""

    def __init__(self, js: Any, moment: Moment, real: bool) -> None:
        self.js, self.moment, self.real = js, moment, real
        self.made: list[str] = []

    def name(self, base: str) -> str:
        name = f"{base}{next(_counter)}"
        self.made.append(name)
        return name


@pytest.fixture(params=["standin", "nats"])
async def side(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Side]:
    if request.param == "standin":
        clock = FakeClock()
        async with sqlkv.AsyncStore(tmp_path / "s.db", clock=clock, auto_sweep=False) as store:
            yield Side(NatsJetStream(store), Moment(store, clock), real=False)
        return
    import nats

    server: NatsServer = request.getfixturevalue("nats_server")
    nc = await nats.connect(server.url)
    made = Side(nc.jetstream(), Moment(None, None), real=True)
    try:
        yield made
    finally:
        for name in made.made:
            try:
                await made.js.delete_key_value(name)
            except Exception:  # a test that checks a missing bucket made none
                pass
        await nc.close()


async def eventually(check: Callable[[], Awaitable[None]], timeout: float = 10.0) -> None:
    """Run ``check`` until it passes (a server's expiry comes when it comes), at most ``timeout`` seconds."""
    with anyio.fail_after(timeout):
        while True:
            try:
                await check()
                return
            except AssertionError:
                await anyio.sleep(0.05)


# -- buckets ---------------------------------------------------------------------------------------


async def test_create_bind_and_delete_buckets(side: Side) -> None:
    from nats.js import api, errors

    name = side.name("B")
    kv = await side.js.create_key_value(bucket=name, history=5, ttl=3600, description="d")
    status = await kv.status()
    assert (status.bucket, status.values, status.history, status.ttl, status.marker_ttl) == (name, 0, 5, 3600, None)
    again = await side.js.create_key_value(api.KeyValueConfig(bucket=name, history=5, ttl=3600, description="d"))
    assert await again.put("k", b"v") == 1
    assert (await (await side.js.key_value(name)).get("k")).value == b"v"
    with pytest.raises(errors.BadRequestError) as taken:
        await side.js.create_key_value(bucket=name, history=2)
    assert taken.value.err_code == 10058
    assert await side.js.delete_key_value(name) is True
    with pytest.raises(errors.BucketNotFoundError):
        await side.js.key_value(name)
    with pytest.raises(errors.NotFoundError) as missing:
        await side.js.delete_key_value(name)
    assert missing.value.err_code == 10059


@pytest.mark.parametrize("bad", [" x y", "x!", "*", "x.>", ".x", "x."])
async def test_invalid_bucket_names(side: Side, bad: str) -> None:
    from nats.js import errors

    with pytest.raises(errors.InvalidBucketNameError):
        await side.js.create_key_value(bucket=bad, history=5)
    with pytest.raises(errors.InvalidBucketNameError):
        await side.js.key_value(bad)
    with pytest.raises(errors.InvalidBucketNameError):
        await side.js.delete_key_value(bad)


async def test_history_over_64(side: Side) -> None:
    from nats.js import errors

    with pytest.raises(errors.KeyHistoryTooLargeError):
        await side.js.create_key_value(bucket=side.name("H"), history=65)


async def test_limit_marker_ttl_in_status(side: Side) -> None:
    from nats.js import api

    kv = await side.js.create_key_value(bucket=side.name("M"), limit_marker_ttl=30.0)
    assert (await kv.status()).marker_ttl == 30.0
    kv = await side.js.create_key_value(api.KeyValueConfig(bucket=side.name("M"), limit_marker_ttl=5))
    assert (await kv.status()).marker_ttl == 5.0


# -- keys ------------------------------------------------------------------------------------------


async def test_a_sub_second_msg_ttl_is_refused_as_the_server_does(side: Side) -> None:
    from nats.js import errors

    kv = await side.js.create_key_value(bucket=side.name("T"), history=5)
    with pytest.raises(errors.BadRequestError) as refused:
        await kv.create("k", b"v", msg_ttl=0.5)
    assert refused.value.err_code == 10165


# -- marker lifetimes (NATS 2.11+, ADR-43/ADR-48) --------------------------------------------------


async def test_a_key_expires_and_its_marker_after_it(side: Side) -> None:
    from nats.js import errors

    kv = await side.js.create_key_value(bucket=side.name("E"), history=5, limit_marker_ttl=1.0)
    assert await kv.create("age", b"30", msg_ttl=1.0) == 1
    watcher = await kv.watch("age", include_history=True)
    first = await watcher.updates(timeout=5)
    assert (first.key, first.value, first.operation) == ("age", b"30", None)
    assert await watcher.updates(timeout=5) is None
    await side.moment.passes(1.0)
    expired = await watcher.updates(timeout=10)  # the marker a server writes when a key expires
    assert (expired.key, expired.value, expired.revision, expired.operation) == ("age", b"", 2, "PURGE")
    assert [(e.revision, e.operation) for e in await kv.history("age")] == [(2, "PURGE")]
    assert (await kv.status()).values == 1
    await side.moment.passes(1.0)

    async def marker_gone() -> None:
        try:
            await kv.history("age")
        except errors.NoKeysError:
            return
        raise AssertionError("the marker is still there")

    await eventually(marker_gone)
    assert (await kv.status()).values == 0
    with pytest.raises(errors.KeyNotFoundError):
        await kv.get("age")
    assert await kv.create("age", b"31") == 3  # the revision counter goes on
    after = await watcher.updates(timeout=5)  # the marker left silently: the next entry is the create
    assert (after.revision, after.value, after.operation) == (3, b"31", None)
    await watcher.stop()


async def test_a_purge_marker_with_a_ttl_expires(side: Side) -> None:
    from nats.js import errors

    kv = await side.js.create_key_value(bucket=side.name("U"), history=10)
    await kv.put("name", b"alice")
    await kv.put("name", b"bob")
    await kv.purge("name", msg_ttl=1.0)
    with pytest.raises(errors.KeyNotFoundError) as purged:
        await kv.get("name")
    assert purged.value.op == "PURGE"
    assert [(e.revision, e.operation) for e in await kv.history("name")] == [(3, "PURGE")]
    assert (await kv.status()).values == 1
    await side.moment.passes(1.0)

    async def marker_gone() -> None:
        assert (await kv.status()).values == 0

    await eventually(marker_gone)
    with pytest.raises(errors.NoKeysError):
        await kv.history("name")
    assert await kv.create("name", b"carol") == 4


async def test_without_a_limit_marker_ttl_an_expiry_is_silent(side: Side) -> None:
    from nats.js import errors

    kv = await side.js.create_key_value(bucket=side.name("S"), history=1)
    watcher = await kv.watchall()
    assert await watcher.updates(timeout=5) is None
    await kv.create("k", b"v", msg_ttl=1.0)
    assert (await watcher.updates(timeout=5)).key == "k"
    await side.moment.passes(1.0)

    async def expired() -> None:
        try:
            await kv.get("k")
        except errors.KeyNotFoundError:
            return
        raise AssertionError("not expired yet")

    await eventually(expired)
    with pytest.raises(errors.NoKeysError):
        await kv.history("k")
    await kv.put("after", b"1")
    assert (await watcher.updates(timeout=5)).key == "after"  # no expiry entry came before it
    await watcher.stop()


@pytest.mark.parametrize("side", ["standin"], indirect=True)  # on a server only its expiry time would show it
async def test_a_create_ttl_below_the_marker_ttl_is_raised_to_it_when_history_is_kept(side: Side) -> None:
    from nats.js import errors

    kv = await side.js.create_key_value(bucket=side.name("C"), history=5, limit_marker_ttl=3.0)
    await kv.create("k", b"v", msg_ttl=1.9)  # nats.py sends whole seconds: 1
    await side.moment.passes(2.5)
    assert (await kv.get("k")).value == b"v"  # raised to the marker TTL, 3 s
    await side.moment.passes(0.5)
    with pytest.raises(errors.KeyNotFoundError):
        await kv.get("k")
    one = await side.js.create_key_value(bucket=side.name("C"), history=1, limit_marker_ttl=3.0)
    await one.create("k", b"v", msg_ttl=1.9)
    await side.moment.passes(1.0)  # history 1: no older revision to outlive the marker, no raising
    with pytest.raises(errors.KeyNotFoundError):
        await one.get("k")
