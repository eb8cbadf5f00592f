"""Typed buckets as a user writes them: ``mypy --strict`` must accept this file and infer the types noted."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from typing_extensions import assert_type

import sqlkv
from sqlkv.codecs import Json, Msgspec, Text


class User(msgspec.Struct):
    name: str
    age: int


async def typed(store: sqlkv.AsyncStore) -> None:
    kv = await store.create_bucket("users", codec=Msgspec(User))
    assert_type(kv, sqlkv.AsyncTypedBucket[User])
    await kv.put("u.1", User("ann", 30))
    entry = await kv.get("u.1")
    assert_type(entry, sqlkv.Entry[User])
    assert_type(entry.value, User)
    assert_type(await kv.value("u.1"), User | None)
    assert_type(await kv.value("u.1", default=User("nobody", 0)), User)
    assert_type(await kv.history("u.1"), list[sqlkv.Entry[User | None]])
    assert_type(await kv.get_many(["u.1"]), dict[str, sqlkv.Entry[User]])
    async for scanned in kv.entries():
        assert_type(scanned, sqlkv.Entry[User])
    async with kv.watch() as watcher:
        async for change in watcher:
            assert_type(change.value, User | None)
    async with store.atomic() as tx:
        tx.put(kv, "u.2", User("bob", 40))
    again = await store.bucket("users", codec=Msgspec(User))
    assert_type(again, sqlkv.AsyncTypedBucket[User])
    notes = await store.create_bucket("notes", codec=Text())
    assert_type((await notes.get("n")).value, str)
    docs = await store.create_bucket("docs", codec=Json())
    assert_type((await docs.get("d")).value, Any)


async def untyped(store: sqlkv.AsyncStore) -> None:
    kv = await store.create_bucket("raw")
    assert_type(kv, sqlkv.AsyncBucket)
    entry = await kv.get("k")
    assert_type(entry, sqlkv.Entry)
    assert_type(entry, sqlkv.Entry[bytes])  # an unparameterized Entry holds bytes
    assert_type(entry.value, bytes)
    assert_type(await kv.value("k"), bytes | None)
    assert_type(entry.expires, datetime | None)


def sync(store: sqlkv.Store) -> None:
    kv = store.create_bucket("users", codec=Msgspec(User))
    assert_type(kv, sqlkv.TypedBucket[User])
    kv["u.1"] = User("ann", 30)
    assert_type(kv["u.1"], User)
    assert_type(kv.get("u.1").value, User)
    assert_type(kv.value("u.1", User("x", 0)), User)
    assert_type([key for key in kv], list[str])
    assert_type(len(kv), int)
    raw = store.bucket("users")
    assert_type(raw["u.1"], bytes)
    with kv.watch(timeout=1) as watcher:
        for change in watcher:
            assert_type(change, sqlkv.Entry[User | None])
