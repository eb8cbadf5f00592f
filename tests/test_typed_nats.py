"""Typed buckets, ``value()`` and ``Entry.expires`` on a real NATS server: the codec runs on the client."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import timedelta

import msgspec
import pytest

import sqlkv
from sqlkv._backends.nats.watcher import expires_ns
from sqlkv.codecs import Json, Msgspec
from tests.support.nats_server import NatsServer

pytestmark = [pytest.mark.anyio, pytest.mark.nats]
_counter = itertools.count()


class User(msgspec.Struct):
    name: str
    age: int


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # nats-py runs on asyncio only


@pytest.fixture
async def nats_store(nats_server: NatsServer) -> AsyncIterator[sqlkv.AsyncStore]:
    async with sqlkv.AsyncStore(nats_server.url) as store:
        yield store


async def test_the_same_typed_code_runs_on_a_nats_server(nats_store: sqlkv.AsyncStore) -> None:
    name = f"T{next(_counter)}"
    kv = await nats_store.create_bucket(name, history=5, codec=Msgspec(User))
    try:
        rev = await kv.put("u.1", User("ann", 30))
        assert (await kv.get("u.1")).value == User("ann", 30)
        await kv.update("u.1", User("ann", 31), last=rev)
        assert (await kv.get("u.1", revision=rev)).value == User("ann", 30)
        await kv.create("u.2", User("bob", 40))
        assert await kv.value("u.2") == User("bob", 40) and await kv.value("u.9", "none") == "none"
        assert {k: e.value for k, e in (await kv.get_many(["u.1", "u.2"])).items()} == {
            "u.1": User("ann", 31),
            "u.2": User("bob", 40),
        }
        assert [e.value async for e in kv.entries()] == [User("ann", 31), User("bob", 40)]
        await kv.delete("u.2")
        assert await kv.value("u.2") is None
        assert [e.value for e in await kv.history("u.2")] == [User("bob", 40), None]
        async with kv.watch("u.*") as watcher:
            assert [e.value for e in await watcher.initial()] == [User("ann", 31), None]
            await kv.put("u.3", User("cy", 50))
            async for entry in watcher:
                assert (entry.key, entry.value) == ("u.3", User("cy", 50))
                break
        async with nats_store.atomic() as tx:  # the server's atomic batch, with objects
            tx.put(kv, "u.4", User("dee", 60))
            tx.create(kv, "u.5", User("eve", 70))
        assert [await kv.value(k) for k in ("u.4", "u.5")] == [User("dee", 60), User("eve", 70)]
        # bytes on the wire: an untyped handle on the same bucket reads the codec's JSON
        raw = await nats_store.bucket(name)
        assert (await raw.get("u.1")).value == b'{"name":"ann","age":31}'
        await raw.put("bad", b"[1]")
        with pytest.raises(sqlkv.ValueDecodeError) as caught:
            await kv.get("bad")
        assert (caught.value.bucket, caught.value.key, caught.value.data) == (name, "bad", b"[1]")
        # no metadata on NATS: the codec is not recorded, any codec opens the bucket
        assert (await nats_store.bucket(name, codec=Json())).codec.name == "json"
    finally:
        await nats_store.delete_bucket(name)


async def test_value_and_expires_on_a_nats_server(nats_store: sqlkv.AsyncStore) -> None:
    name = f"T{next(_counter)}"
    kv = await nats_store.create_bucket(name, history=2, ttl=3600)
    try:
        assert await kv.value("k") is None and await kv.value("k", b"d") == b"d"
        await kv.put("k", b"1")
        assert await kv.value("k") == b"1"
        entry = await kv.get("k")
        assert entry.expires == entry.created + timedelta(hours=1)  # the stream's max_age, from the message's time
        assert [e.expires - e.created for e in await kv.history("k")] == [timedelta(hours=1)]
        assert [e.expires async for e in kv.entries()] == [entry.expires]
        async with kv.watch() as watcher:
            assert [e.expires for e in await watcher.initial()] == [entry.expires]
        plain = await nats_store.create_bucket(f"{name}p")
        try:
            await plain.put("k", b"1")
            assert (await plain.get("k")).expires is None
        finally:
            await nats_store.delete_bucket(f"{name}p")
    finally:
        await nats_store.delete_bucket(name)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("5", 5), ("1m30s", 90), ("500ms", 0.5), ("1h", 3600), ("never", None), ("", None), ("5x", None)],
)
def test_a_message_ttl_header_gives_its_deadline(header: str, seconds: float | None) -> None:
    created = 1_800_000_000 * 10**9
    expected = None if seconds is None else created + round(seconds * 1e9)
    assert expires_ns(created, {"Nats-TTL": header}, None) == expected
    # the sooner of the message's TTL and the bucket's
    assert expires_ns(created, {"Nats-TTL": header}, 60) == min(
        created + 60 * 10**9, expected if expected is not None else created + 60 * 10**9
    )
    assert expires_ns(created, None, None) is None
