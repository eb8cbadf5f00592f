"""Watch parity with a real NATS server: initial entries, end of initial entries, live entries, every option.

The NATS side is the ordered JetStream consumer that the KV watchers of nats.go and nats-py
create: deliver the last message per subject (``include_history``: all; ``updates_only``:
new; ``from_revision``: by start sequence), headers only for ``meta_only``, deletes and
purges dropped by the client for ``ignore_deletes``. Its initial entries are the messages
the server counts for the consumer when it is made (delivered + pending, while nothing is
written): nats-py 2.16.0's ``watch`` also says where they end, but under load its marker can
come first, before entries that follow (it asks for consumer info once the server has pushed
every message, and sees nothing handled yet), and the comparison then fails by chance.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

import sqlkv

pytestmark = [pytest.mark.anyio, pytest.mark.nats]

Item = tuple[str, bytes, int, str]
_counter = itertools.count()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def prepare(kv: Any) -> None:
    """The same writes on both sides (nats-py and sqlkv buckets share put/delete/purge names)."""
    await kv.put("orders.1", b"a")  # 1
    await kv.put("orders.2", b"b")  # 2
    await kv.put("users.x.y", b"c")  # 3
    await kv.put("orders.1", b"d")  # 4
    await kv.delete("orders.2")  # 5
    await kv.put("top", b"e")  # 6
    await kv.purge("users.x.y")  # 7
    await kv.put("orders.3", b"f")  # 8


async def live_writes(kv: Any) -> None:
    await kv.put("orders.4", b"g")  # 9
    await kv.delete("orders.1")  # 10
    await kv.put("users.q", b"h")  # 11
    await kv.put("zzz", b"i")  # 12


def our_item(entry: sqlkv.Entry) -> Item:
    return (entry.key, entry.value, entry.revision, entry.operation.name)


async def nats_watch(
    js: Any, kv: Any, bucket: str, key: str, live: int, opts: dict[str, bool]
) -> tuple[list[Item], list[int], list[Item]]:
    """What a NATS KV watcher delivers: initial entries (with their deltas: ``num_pending``), then ``live`` ones."""
    from nats.js.api import DeliverPolicy

    prefix = f"$KV.{bucket}."
    sub = await js.subscribe(
        prefix + key,
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.ALL if opts.get("include_history") else DeliverPolicy.LAST_PER_SUBJECT,
        headers_only=opts.get("meta_only", False),
    )

    async def entries(count: int | None) -> AsyncIterator[tuple[Item, int]]:
        """The next ``count`` messages (None: until ``live`` entries), as entries; ignore_deletes drops markers."""
        taken = 0
        while (count is None and taken < live) or (count is not None and count > 0):
            msg = await sub.next_msg(timeout=5)
            count = None if count is None else count - 1
            op = (msg.headers or {}).get("KV-Operation", "PUT")
            if opts.get("ignore_deletes") and op != "PUT":
                continue
            taken += 1
            meta = msg.metadata
            yield (msg.subject[len(prefix) :], msg.data or b"", meta.sequence.stream, op), meta.num_pending

    info = await sub.consumer_info()  # nothing is written meanwhile: these are the initial messages
    initial = [pair async for pair in entries(info.delivered.consumer_seq + info.num_pending)]
    await live_writes(kv)
    got = [item async for item, _ in entries(None)]
    await sub.unsubscribe()
    return [item for item, _ in initial], [delta for _, delta in initial], got


async def our_watch(
    kv: sqlkv.AsyncBucket, key: str, live: int, opts: dict[str, bool]
) -> tuple[list[Item], list[int], list[Item]]:
    filters = () if key == ">" else (key,)
    async with kv.watch(*filters, **opts) as watcher:
        initial = await watcher.initial()
        await live_writes(kv)
        got: list[Item] = []
        with anyio.fail_after(5):
            while len(got) < live:
                got.append(our_item(await watcher.__anext__()))
    return [our_item(e) for e in initial], [e.delta for e in initial], got


CASES = [
    (">", {}, 4),
    (">", {"include_history": True}, 4),
    (">", {"ignore_deletes": True}, 3),
    (">", {"meta_only": True}, 4),
    (">", {"include_history": True, "ignore_deletes": True, "meta_only": True}, 3),
    ("orders.*", {}, 2),
    ("orders.*", {"include_history": True}, 2),
    ("orders.*", {"ignore_deletes": True}, 1),
    ("users.>", {}, 1),
    ("top", {"include_history": True}, 0),
    ("nothing.>", {}, 0),
]


@pytest.mark.parametrize(("key", "opts", "live"), CASES, ids=[f"{k}-{sorted(o)}" for k, o, _ in CASES])
async def test_watch_matches_nats(
    key: str, opts: dict[str, bool], live: int, store: sqlkv.AsyncStore, nats_js: Any
) -> None:
    name = f"W{next(_counter)}"
    theirs_kv = await nats_js.create_key_value(bucket=name, history=5)
    ours_kv = await store.create_bucket(name, history=5)
    try:
        await prepare(theirs_kv)
        await prepare(ours_kv)
        theirs = await nats_watch(nats_js, theirs_kv, name, key, live, opts)
        ours = await our_watch(ours_kv, key, live, opts)
    finally:
        await nats_js.delete_key_value(name)
    assert ours[0] == theirs[0], "initial entries"
    assert ours[2] == theirs[2], "live entries"
    if not opts.get("ignore_deletes") and key == ">":
        assert ours[1] == theirs[1], "deltas of the initial entries (NATS: num_pending)"


async def test_empty_bucket_end_of_initial_matches_nats(store: sqlkv.AsyncStore, nats_js: Any) -> None:
    name = f"W{next(_counter)}"
    theirs_kv = await nats_js.create_key_value(bucket=name)
    ours_kv = await store.create_bucket(name)
    try:
        watcher = await theirs_kv.watch(">")
        assert await watcher.updates(timeout=5) is None  # NATS: the marker comes at once
        await watcher.stop()
    finally:
        await nats_js.delete_key_value(name)
    async with ours_kv.watch() as ours:
        assert ours.initial_done  # sqlkv: the state is set at once


async def subscribe_ordered(js: Any, bucket: str, **config: Any) -> Any:
    """An ordered consumer on the bucket's subjects, as nats.go's watchers create them."""
    from nats.js.api import ConsumerConfig

    return await js.subscribe(f"$KV.{bucket}.>", ordered_consumer=True, config=ConsumerConfig(**config))


async def read_items(sub: Any, count: int) -> list[Item]:
    items: list[Item] = []
    for _ in range(count):
        msg = await sub.next_msg(timeout=5)
        op = (msg.headers or {}).get("KV-Operation", "PUT")
        items.append((msg.subject.split(".", 2)[2], msg.data, msg.metadata.sequence.stream, op))
    await sub.unsubscribe()
    return items


@pytest.mark.parametrize("start", [1, 4, 7])
async def test_from_revision_matches_nats_start_sequence(start: int, store: sqlkv.AsyncStore, nats_js: Any) -> None:
    from nats.js.api import DeliverPolicy

    name = f"W{next(_counter)}"
    theirs_kv = await nats_js.create_key_value(bucket=name, history=1)
    ours_kv = await store.create_bucket(name, history=1)
    try:
        await prepare(theirs_kv)
        await prepare(ours_kv)
        async with ours_kv.watch(from_revision=start) as watcher:
            ours = [our_item(e) for e in await watcher.initial()]
        sub = await subscribe_ordered(
            nats_js, name, deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start
        )
        theirs = await read_items(sub, len(ours))
        # and nothing more is pending on the NATS side
        info = await nats_js.stream_info(f"KV_{name}")
        assert info.state.last_seq == 8
    finally:
        await nats_js.delete_key_value(name)
    assert ours == theirs
    assert ours and ours[-1][2] == 8


async def test_updates_only_matches_nats_deliver_new(store: sqlkv.AsyncStore, nats_js: Any) -> None:
    from nats.js.api import DeliverPolicy

    name = f"W{next(_counter)}"
    theirs_kv = await nats_js.create_key_value(bucket=name, history=5)
    ours_kv = await store.create_bucket(name, history=5)
    try:
        await prepare(theirs_kv)
        await prepare(ours_kv)
        sub = await subscribe_ordered(nats_js, name, deliver_policy=DeliverPolicy.NEW)
        await live_writes(theirs_kv)
        theirs = await read_items(sub, 4)
        async with ours_kv.watch(updates_only=True) as watcher:
            assert await watcher.initial() == []
            await live_writes(ours_kv)
            ours = []
            with anyio.fail_after(5):
                async for entry in watcher:
                    ours.append(our_item(entry))
                    if len(ours) == 4:
                        break
    finally:
        await nats_js.delete_key_value(name)
    assert ours == theirs
