"""Mistakes ``mypy --strict`` must catch on typed buckets: each line marked ``# E:`` is an error, and only those."""

from __future__ import annotations

import msgspec

import sqlkv
from sqlkv.codecs import Msgspec


class User(msgspec.Struct):
    name: str
    age: int


async def mistakes(store: sqlkv.AsyncStore) -> None:
    kv = await store.create_bucket("users", codec=Msgspec(User))
    await kv.put("k", 3)  # E: an int is not a User
    await kv.put("k", b"bytes")  # E: bytes are not a User
    name: int = (await kv.get("k")).value  # E: a User is not an int
    raw = await store.create_bucket("raw")
    await raw.put("k", User("ann", 1))  # E: an untyped bucket takes bytes or str
    async with kv.watch() as watcher:
        async for change in watcher:
            print(change.value.name)  # E: a marker's value is None
    del name


def sync_mistakes(store: sqlkv.Store) -> None:
    kv = store.create_bucket("users", codec=Msgspec(User))
    kv["k"] = 3  # E: an int is not a User
    count: str = kv["k"]  # E: a User is not a str
    del count
