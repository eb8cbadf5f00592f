"""``nats_kv`` behaves like nats.py's KeyValue on a real server: the same test body runs on both."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest

import sqlkv
from sqlkv.testing import NatsKeyValue
from tests.support.nats_server import NatsServer

pytestmark = [pytest.mark.anyio, pytest.mark.nats]
_counter = itertools.count()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["sqlkv", "nats"])
async def kv(request: pytest.FixtureRequest, nats_server: NatsServer, store: sqlkv.AsyncStore) -> AsyncIterator[Any]:
    """The same interface twice: sqlkv's stand-in, and nats.py against a real nats-server."""
    if request.param == "sqlkv":
        yield NatsKeyValue(await store.create_bucket("dropin", history=5))
        return
    import nats

    from tests.support.nats_server import RetryingJetStream

    nc = await nats.connect(nats_server.url)
    js = RetryingJetStream(nc.jetstream())
    name = f"D{next(_counter)}"
    try:
        yield _Retrying(await js.create_key_value(bucket=name, history=5))
    finally:
        await js.delete_key_value(name)
        await nc.close()


async def test_map_operations(kv: Any) -> None:
    from nats.js import errors

    assert await kv.put("a", b"1") == 1
    entry = await kv.get("a")
    assert (entry.key, entry.value, entry.revision, entry.operation) == ("a", b"1", 1, None)
    assert await kv.create("b", b"2") == 2
    with pytest.raises(errors.KeyWrongLastSequenceError, match="wrong last sequence: 2"):
        await kv.create("b", b"3")
    assert await kv.update("b", b"4", last=2) == 3
    with pytest.raises(errors.KeyWrongLastSequenceError, match="wrong last sequence: 3"):
        await kv.update("b", b"5", last=2)
    assert await kv.delete("a") is True
    with pytest.raises(errors.KeyNotFoundError) as deleted:
        await kv.get("a")
    assert deleted.value.op == "DEL"
    with pytest.raises(errors.KeyNotFoundError):
        await kv.get("missing")
    with pytest.raises(errors.BadRequestError) as cas:
        await kv.delete("b", last=1)
    assert cas.value.err_code == 10071
    assert await kv.purge("b") is True
    with pytest.raises(errors.KeyNotFoundError) as purged:
        await kv.get("b")
    assert purged.value.op == "PURGE"
    with pytest.raises(errors.NoKeysError):
        await kv.keys()
    with pytest.raises(errors.NoKeysError):
        await kv.history("never")
    assert await kv.create("a", b"again") == 6
    assert await kv.keys() == ["a"]
    history = await kv.history("a")
    assert [(e.value, e.operation) for e in history] == [(b"1", None), (b"", "DEL"), (b"again", None)]
    with pytest.raises(errors.InvalidKeyError):
        await kv.put("bad key", b"v")


async def test_watch(kv: Any) -> None:
    await kv.put("x.1", b"1")
    await kv.put("x.2", b"2")
    await kv.delete("x.1")
    watcher = await kv.watchall()
    initial = []
    while (entry := await watcher.updates(timeout=5)) is not None:
        initial.append((entry.key, entry.operation, entry.delta))
    assert initial == [("x.2", None, 1), ("x.1", "DEL", 0)]
    await kv.put("x.3", b"3")
    live = await watcher.updates(timeout=5)
    assert (live.key, live.value, live.revision) == ("x.3", b"3", 4)
    await watcher.stop()


async def test_watch_empty_bucket_marker_and_iteration(kv: Any) -> None:
    watcher = await kv.watch("nothing.>")
    assert await watcher.updates(timeout=5) is None
    await kv.put("nothing.here", b"v")
    async for entry in watcher:
        assert entry.key == "nothing.here"
        break
    await watcher.stop()


async def test_status(kv: Any) -> None:
    await kv.put("a", b"1")
    await kv.put("a", b"2")
    status = await kv.status()
    assert (status.values, status.history) == (2, 5)


class _Retrying:
    """nats-py's KeyValue, with ``history()`` and ``keys()`` asked again when they wrongly find nothing.

    Both read a watcher whose end-of-initial-values signal can come before the
    values (nats.py#842); sqlkv's stand-in does not have that bug, so the
    comparison would otherwise fail now and then on nats-py's side.
    """

    def __init__(self, kv: Any) -> None:
        self._kv = kv

    def __getattr__(self, name: str) -> Any:
        return getattr(self._kv, name)

    async def _again(self, call: Any) -> Any:
        import anyio
        from nats.js import errors

        for attempt in range(4):
            try:
                return await call()
            except errors.NoKeysError:
                if attempt == 3:
                    raise
                await anyio.sleep(0.05)
        raise AssertionError("unreachable")

    async def history(self, key: str) -> Any:
        return await self._again(lambda: self._kv.history(key))

    async def keys(self, *args: Any, **kwargs: Any) -> Any:
        return await self._again(lambda: self._kv.keys(*args, **kwargs))
