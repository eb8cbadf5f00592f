"""Concurrent creates against deletes and purges of one key on a NATS server (issue 24, item 2).

Only the creators ever write a value, so a create may be refused only when
another create's value is live: every refusal's ``actual`` must be the
revision of a create that succeeded. ``create_race`` returns the refusals
that no successful create explains.
"""

from __future__ import annotations

import contextlib
from typing import NamedTuple

import anyio

import sqlkv

__all__ = ["RaceOutcome", "create_race"]


class RaceOutcome(NamedTuple):
    """What a race gave: creates tried, succeeded, given up (StoreBusyError), and unexplained refusals."""

    tried: int
    created: int
    busy: int
    unexplained: list[int]
    """The ``actual`` revisions of the KeyExistsErrors that no successful create explains."""


async def create_race(url: str, bucket: str, rounds: int, *, atomic: bool = False) -> RaceOutcome:
    """Two creators make ``rounds`` creates each of key ``k`` (one by one, or each in a transaction) while a
    deleter and a purger loop on it, each side on a connection of its own.

    A create may also give up with StoreBusyError when a new marker landed before each of its bounded attempts.
    """
    created: set[int] = set()
    refused: list[int] = []
    busy: list[int] = []
    finished = anyio.Event()
    creators_left = 2
    async with contextlib.AsyncExitStack() as stack:
        stores = [await stack.enter_async_context(sqlkv.AsyncStore(url)) for _ in range(4)]
        await stores[0].create_bucket(bucket, history=1)
        buckets = [await store.bucket(bucket) for store in stores]

        async def creator(store: sqlkv.AsyncStore, kv: sqlkv.AsyncBucket) -> None:
            nonlocal creators_left
            try:
                for _ in range(rounds):
                    try:
                        if atomic:
                            async with store.atomic() as tx:
                                tx.create(kv, "k", b"v")
                            created.add(tx.revisions[0])
                        else:
                            created.add(await kv.create("k", b"v"))
                    except sqlkv.KeyExistsError as exc:
                        refused.append(exc.actual)
                    except sqlkv.StoreBusyError:
                        busy.append(1)
            finally:
                creators_left -= 1
                if not creators_left:
                    finished.set()

        async def marker(kv: sqlkv.AsyncBucket, purge: bool) -> None:
            while not finished.is_set():
                await (kv.purge("k") if purge else kv.delete("k"))

        async with anyio.create_task_group() as group:
            group.start_soon(creator, stores[0], buckets[0])
            group.start_soon(creator, stores[1], buckets[1])
            group.start_soon(marker, buckets[2], False)
            group.start_soon(marker, buckets[3], True)
        await stores[0].delete_bucket(bucket)
    return RaceOutcome(2 * rounds, len(created), len(busy), [actual for actual in refused if actual not in created])
