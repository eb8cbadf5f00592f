"""Watch: initial phase, live phase, every option, across processes, bounded memory, ending."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import anyio
import pytest

import sqlkv
from sqlkv import Operation

pytestmark = pytest.mark.anyio


def summary(entries: list[sqlkv.Entry]) -> list[tuple[str, bytes, int, str]]:
    return [(e.key, e.value, e.revision, e.operation.name) for e in entries]


async def take(watcher: sqlkv.AsyncWatcher, count: int, timeout: float = 10) -> list[sqlkv.Entry]:
    got: list[sqlkv.Entry] = []
    with anyio.fail_after(timeout):
        async for entry in watcher:
            got.append(entry)
            if len(got) == count:
                break
    return got


async def fill(kv: sqlkv.AsyncBucket) -> None:
    await kv.put("a", b"1")  # 1
    await kv.put("b", b"2")  # 2
    await kv.put("a", b"3")  # 3
    await kv.delete("b")  # 4
    await kv.put("c.x", b"5")  # 5


async def test_initial_is_latest_per_key_in_revision_order(kv: sqlkv.AsyncBucket) -> None:
    await fill(kv)
    async with kv.watch() as watcher:
        assert not watcher.initial_done
        initial = await watcher.initial()
        assert watcher.initial_done
    assert summary(initial) == [("a", b"3", 3, "PUT"), ("b", b"", 4, "DEL"), ("c.x", b"5", 5, "PUT")]
    assert [e.delta for e in initial] == [2, 1, 0]


async def test_initial_done_by_iteration(kv: sqlkv.AsyncBucket) -> None:
    await fill(kv)
    async with kv.watch() as watcher:
        first = await take(watcher, 2)
        assert not watcher.initial_done and first[-1].delta == 1
        last = await take(watcher, 1)
        assert watcher.initial_done and last[0].delta == 0


async def test_empty_bucket_signals_initial_done_at_once(kv: sqlkv.AsyncBucket) -> None:
    async with kv.watch() as watcher:
        assert watcher.initial_done
        assert await watcher.initial() == []
        await kv.put("k", b"v")
        [entry] = await take(watcher, 1)
    assert (entry.key, entry.revision, entry.delta) == ("k", 1, 0)


async def test_filter_matching_nothing_signals_at_once(kv: sqlkv.AsyncBucket) -> None:
    await fill(kv)
    async with kv.watch("nothing.>") as watcher:
        assert watcher.initial_done and await watcher.initial() == []


async def test_include_history(kv: sqlkv.AsyncBucket) -> None:
    await fill(kv)
    async with kv.watch(include_history=True) as watcher:
        initial = await watcher.initial()
    assert [e.revision for e in initial] == [1, 2, 3, 4, 5]
    assert [e.delta for e in initial] == [4, 3, 2, 1, 0]


async def test_from_revision_is_inclusive_and_gives_all_revisions(kv: sqlkv.AsyncBucket) -> None:
    await fill(kv)
    async with kv.watch(from_revision=3) as watcher:
        assert [e.revision for e in await watcher.initial()] == [3, 4, 5]
        await kv.put("a", b"6")
        assert [e.revision for e in await take(watcher, 1)] == [6]


async def test_from_revision_below_oldest_retained_starts_at_oldest(store: sqlkv.AsyncStore) -> None:
    kv = await store.create_bucket("h1", history=1)
    for i in range(5):
        await kv.put("k", str(i))  # only revision 5 is retained
    async with kv.watch(from_revision=1) as watcher:
        assert [e.revision for e in await watcher.initial()] == [5]


async def test_from_revision_beyond_last_is_live_only(kv: sqlkv.AsyncBucket) -> None:
    await fill(kv)
    async with kv.watch(from_revision=100) as watcher:
        assert await watcher.initial() == []
        await kv.put("z", b"v")
        assert [e.revision for e in await take(watcher, 1)] == [6]


async def test_updates_only(kv: sqlkv.AsyncBucket) -> None:
    await fill(kv)
    async with kv.watch(updates_only=True) as watcher:
        assert watcher.initial_done and await watcher.initial() == []
        await kv.put("a", b"new")
        [entry] = await take(watcher, 1)
    assert (entry.key, entry.value, entry.revision) == ("a", b"new", 6)


async def test_updates_only_conflicts(kv: sqlkv.AsyncBucket) -> None:
    with pytest.raises(sqlkv.InvalidArgumentError):
        kv.watch(updates_only=True, include_history=True)
    with pytest.raises(sqlkv.InvalidArgumentError):
        kv.watch(updates_only=True, from_revision=3)


async def test_ignore_deletes(kv: sqlkv.AsyncBucket) -> None:
    await fill(kv)
    async with kv.watch(ignore_deletes=True) as watcher:
        assert [e.key for e in await watcher.initial()] == ["a", "c.x"]
        await kv.delete("a")
        await kv.purge("c.x")
        await kv.put("d", b"v")
        [entry] = await take(watcher, 1)
    assert entry.key == "d"


async def test_meta_only(kv: sqlkv.AsyncBucket) -> None:
    await fill(kv)
    async with kv.watch(meta_only=True) as watcher:
        initial = await watcher.initial()
        await kv.put("a", b"big value")
        [live] = await take(watcher, 1)
    assert all(e.value == b"" for e in [*initial, live])
    assert live.operation is Operation.PUT and live.revision == 6


async def test_filters(kv: sqlkv.AsyncBucket) -> None:
    for key in ["orders.1", "orders.2.x", "users.a", "users.a.b", "other"]:
        await kv.put(key, b"v")
    async with kv.watch("orders.*", "users.>") as watcher:
        assert [e.key for e in await watcher.initial()] == ["orders.1", "users.a", "users.a.b"]
        for key in ["other", "orders.3", "orders.3.y", "users.z"]:
            await kv.put(key, b"v")
        assert [e.key for e in await take(watcher, 2)] == ["orders.3", "users.z"]


async def test_invalid_filter_fails_at_call_time(kv: sqlkv.AsyncBucket) -> None:
    for bad in ["", "a..b", "a.>.b", "a*"]:
        with pytest.raises(sqlkv.InvalidKeyError):
            kv.watch(bad)


async def test_live_entries_delete_and_purge(kv: sqlkv.AsyncBucket) -> None:
    async with kv.watch() as watcher:
        await kv.put("k", b"1")
        await kv.delete("k")
        await kv.purge("k")
        got = await take(watcher, 3)
    assert summary(got) == [("k", b"1", 1, "PUT"), ("k", b"", 2, "DEL"), ("k", b"", 3, "PURGE")]


async def test_no_miss_no_duplicate_with_writes_during_initial_phase(kv: sqlkv.AsyncBucket) -> None:
    for i in range(200):
        await kv.put(f"k.{i}", b"v")
    seen: list[int] = []
    async with anyio.create_task_group() as tg:

        async def writer() -> None:
            for i in range(300):
                await kv.put(f"k.{i % 250}", str(i))

        tg.start_soon(writer)
        async with kv.watch(include_history=True) as watcher:
            with anyio.fail_after(20):
                async for entry in watcher:
                    seen.append(entry.revision)
                    if entry.revision == 500:
                        break
    assert seen == sorted(set(seen)), "revisions must be strictly increasing"
    # history=5 keeps everything here, so every revision must be seen exactly once
    assert seen == list(range(1, 501))


async def test_concurrent_writers_delivered_in_revision_order(kv: sqlkv.AsyncBucket) -> None:
    async with kv.watch(updates_only=True) as watcher:
        async with anyio.create_task_group() as tg:
            for n in range(10):
                tg.start_soon(lambda n=n: _put_many(kv, f"w.{n}", 30))
        got = await take(watcher, 300)
    assert [e.revision for e in got] == list(range(1, 301))


async def _put_many(kv: sqlkv.AsyncBucket, key: str, count: int) -> None:
    for i in range(count):
        await kv.put(key, str(i))


async def test_writes_from_another_store_object(db_path: Path, kv: sqlkv.AsyncBucket) -> None:
    async with sqlkv.AsyncStore(db_path, poll_interval=0.005) as other:
        remote = await other.bucket("test")
        async with kv.watch(updates_only=True) as watcher:
            await remote.put("from.other", b"hello")
            await kv.put("from.self", b"me")
            got = await take(watcher, 2)
    assert sorted(e.key for e in got) == ["from.other", "from.self"]
    assert [e.revision for e in got] == [1, 2]


WRITER = textwrap.dedent(
    """
    import sys, anyio, sqlkv
    async def main():
        async with sqlkv.AsyncStore(sys.argv[1]) as store:
            kv = await store.bucket("test")
            for i in range(int(sys.argv[2])):
                await kv.put(f"proc.{i}", str(i))
    anyio.run(main)
    """
)


async def test_writes_from_another_process(db_path: Path, kv: sqlkv.AsyncBucket) -> None:
    await kv.put("before", b"x")
    async with kv.watch(updates_only=True) as watcher:
        child = await anyio.open_process([sys.executable, "-c", WRITER, str(db_path), "50"])
        got = await take(watcher, 50, timeout=30)
        assert await child.wait() == 0
        await child.aclose()
    assert [e.revision for e in got] == list(range(2, 52))
    assert [e.value for e in got] == [str(i).encode() for i in range(50)]


async def test_a_thousand_watchers_each_get_every_event(store: sqlkv.AsyncStore) -> None:
    kv = await store.create_bucket("many")
    watchers = [kv.watch("k.>", updates_only=True) for _ in range(1000)]
    for watcher in watchers:
        await watcher.start()
    try:
        for i in range(20):
            await kv.put(f"k.{i}", str(i))
            await kv.put(f"other.{i}", str(i))
        for watcher in watchers:
            got = await take(watcher, 20)
            assert [e.key for e in got] == [f"k.{i}" for i in range(20)]
    finally:
        for watcher in watchers:
            watcher.close()


async def test_stalled_watcher_stays_bounded_and_catches_up(store: sqlkv.AsyncStore) -> None:
    kv = await store.create_bucket("flood", history=1)
    total = 100_000 if os.environ.get("SQLKV_STRESS") else 20_000
    async with kv.watch(updates_only=True, buffer_size=256) as watcher:
        async with anyio.create_task_group() as tg:
            for n in range(100):
                tg.start_soon(_put_range, kv, n, total // 100)
        assert len(watcher._buffer) <= 256  # memory stayed bounded while nobody consumed
        got = await take(watcher, total, timeout=60)
    assert [e.revision for e in got] == list(range(1, total + 1))


async def _put_range(kv: sqlkv.AsyncBucket, n: int, count: int) -> None:
    for i in range(count):
        await kv.put(f"k.{n}.{i}", b"v")


async def test_lagging_watcher_sees_only_rows_still_stored(store: sqlkv.AsyncStore) -> None:
    kv = await store.create_bucket("trim", history=1)
    async with kv.watch(updates_only=True, buffer_size=4) as watcher:
        for i in range(50):
            await kv.put("same", str(i))  # history 1 trims every older revision
        got = await take(watcher, 5)
    assert [e.value for e in got[:4]] == [b"0", b"1", b"2", b"3"]  # buffered before it overflowed
    assert got[4].value == b"49" and got[4].revision == 50  # the rest was trimmed: the latest only


async def test_close_store_ends_watchers(db_path: Path) -> None:
    store = await sqlkv.AsyncStore(db_path).open()
    kv = await store.create_bucket("b")
    ended = anyio.Event()

    async def consume(watcher: sqlkv.AsyncWatcher) -> None:
        async for _ in watcher:
            pass
        ended.set()

    async with kv.watch() as watcher, anyio.create_task_group() as tg:
        tg.start_soon(consume, watcher)
        await anyio.wait_all_tasks_blocked()
        await store.aclose()
        with anyio.fail_after(5):
            await ended.wait()


async def test_cancelled_consumer_and_exit_in_initial_phase(kv: sqlkv.AsyncBucket) -> None:
    await fill(kv)
    async with kv.watch() as watcher:
        await take(watcher, 1)  # leave inside the initial phase
    with anyio.move_on_after(0.05):
        async with kv.watch(updates_only=True) as watcher:
            async for _ in watcher:
                pass
    assert kv._store._engine.observer is not None and not kv._store._engine.observer.active
    await kv.put("still", b"works")


async def test_bucket_deleted_while_watching_ends_iteration(store: sqlkv.AsyncStore) -> None:
    kv = await store.create_bucket("doomed")
    async with kv.watch(updates_only=True) as watcher:
        await kv.put("k", b"v")
        await take(watcher, 1)
        await store.delete_bucket("doomed")
        with anyio.fail_after(5):
            async for _ in watcher:
                pytest.fail("no entry expected")


async def test_watch_resumes_from_last_revision(kv: sqlkv.AsyncBucket) -> None:
    async with kv.watch() as watcher:
        await kv.put("a", b"1")
        await kv.put("b", b"2")
        await take(watcher, 2)
        resume_at = watcher.last_revision + 1
    await kv.put("c", b"3")
    async with kv.watch(from_revision=resume_at) as watcher:
        assert [e.key for e in await watcher.initial()] == ["c"]


def test_cross_process_poll_interval_is_validated(tmp_path: Path) -> None:
    with pytest.raises(sqlkv.InvalidArgumentError):
        sqlkv.AsyncStore(tmp_path / "x.db", poll_interval=0)
    assert subprocess is not None


async def test_several_tasks_can_iterate_one_watcher(kv: sqlkv.AsyncBucket) -> None:
    """Each entry goes to exactly one of them; none is stranded, also when another consumer was cancelled."""
    got: dict[str, list[int]] = {"a": [], "b": [], "cancelled": []}
    async with kv.watch(updates_only=True, buffer_size=10) as watcher:
        await watcher.initial()

        async def consume(name: str) -> None:
            async for entry in watcher:
                got[name].append(entry.revision)

        with anyio.fail_after(20):  # a stranded consumer would keep the task group open
            async with anyio.create_task_group() as tg:
                tg.start_soon(consume, "a")
                tg.start_soon(consume, "b")
                async with anyio.create_task_group() as short:  # a third consumer, cancelled while it waits
                    short.start_soon(consume, "cancelled")
                    await anyio.wait_all_tasks_blocked()
                    short.cancel_scope.cancel()
                for i in range(200):
                    await kv.put(f"k.{i % 7}", b"v")
                while len(got["a"]) + len(got["b"]) < 200:  # noqa: ASYNC110  (the consumers' progress)
                    await anyio.sleep(0.001)
                watcher.close()  # ends both consumers
    assert sorted(got["a"] + got["b"]) == list(range(1, 201))
    assert got["cancelled"] == []
