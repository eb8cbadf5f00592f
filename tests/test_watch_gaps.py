"""Watchers that know what they missed: ``on_gap="skip" | "raise"`` and ``watcher.gaps``, on both backends.

A gap is a revision in the watcher's range that no longer exists for any key (trimmed by history, removed by a
purge, expired); a revision of another key that a filter leaves out is still stored and is not a gap.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import sqlkv

pytestmark = pytest.mark.anyio
_names = itertools.count()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # nats-py runs on asyncio only


@pytest.fixture(params=["sqlite", pytest.param("nats", marks=pytest.mark.nats)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[sqlkv.AsyncStore]:
    if request.param == "sqlite":
        location: Any = tmp_path / "gaps.db"
    else:
        location = request.getfixturevalue("nats_server").url
    async with sqlkv.AsyncStore(location) as store:
        yield store


async def new_bucket(store: sqlkv.AsyncStore, history: int) -> sqlkv.AsyncBucket:
    return await store.create_bucket(f"gaps{next(_names)}", history=history)


async def watch_all(
    kv: sqlkv.AsyncBucket, *filters: str, ends: bool = False, **options: Any
) -> tuple[list[tuple[str, int]], int, Any]:
    """Every initial entry of a from_revision watch, its gap count, and the error that ended it (or None).

    With ``ends`` the watcher is expected to end with the error in place of the entry after the initial ones.
    """
    seen: list[tuple[str, int]] = []
    async with kv.watch(*filters, **options) as watcher:
        try:
            while not watcher.initial_done:
                entry = await watcher.__anext__()
                seen.append((entry.key, entry.revision))
            if ends:
                await watcher.__anext__()
                raise AssertionError("the watcher should have ended with RevisionGapError")
        except sqlkv.RevisionGapError as exc:
            with pytest.raises(StopAsyncIteration):
                await watcher.__anext__()
            return seen, watcher.gaps, exc
        return seen, watcher.gaps, None


async def test_trimmed_revisions_are_gaps_and_skip_passes_over_them(backend: sqlkv.AsyncStore) -> None:
    kv = await new_bucket(backend, history=1)
    for key in ("a", "a", "b", "a"):  # revisions 1 and 2 (a's older values) are trimmed
        await kv.put(key, b"v")
    seen, gaps, error = await watch_all(kv, from_revision=1)
    assert seen == [("b", 3), ("a", 4)] and gaps == 2 and error is None
    seen, gaps, error = await watch_all(kv, from_revision=3)
    assert seen == [("b", 3), ("a", 4)] and gaps == 0 and error is None


async def test_raise_delivers_what_precedes_the_gap_then_ends(backend: sqlkv.AsyncStore) -> None:
    kv = await new_bucket(backend, history=1)
    for key in ("x", "a", "a", "b"):  # revision 2 is trimmed
        await kv.put(key, b"v")
    seen, gaps, error = await watch_all(kv, from_revision=1, on_gap="raise", ends=True)
    assert seen == [("x", 1)] and gaps == 1
    assert isinstance(error, sqlkv.RevisionGapError)
    assert (error.first_missing, error.first_available, error.missing) == (2, 3, 1)
    seen, gaps, error = await watch_all(kv, from_revision=error.first_available, on_gap="raise")
    assert seen == [("a", 3), ("b", 4)] and gaps == 0 and error is None


async def test_a_filter_skipping_other_keys_is_not_a_gap(backend: sqlkv.AsyncStore) -> None:
    kv = await new_bucket(backend, history=5)
    for key in ("a", "b", "a", "b", "a"):
        await kv.put(key, b"v")
    seen, gaps, error = await watch_all(kv, "a", from_revision=1, on_gap="raise")
    assert seen == [("a", 1), ("a", 3), ("a", 5)] and gaps == 0 and error is None


async def test_a_purge_leaves_a_gap_where_the_purged_rows_were(backend: sqlkv.AsyncStore) -> None:
    kv = await new_bucket(backend, history=5)
    await kv.put("a", b"1")  # 1: removed by the purge
    await kv.put("b", b"2")  # 2
    await kv.purge("a")  # 3
    seen, gaps, error = await watch_all(kv, from_revision=1, on_gap="raise", ends=True)
    assert seen == [] and gaps == 1 and error is not None and error.first_available == 2
    seen, gaps, error = await watch_all(kv, from_revision=2)
    assert seen == [("b", 2), ("a", 3)] and gaps == 0


async def test_gaps_at_the_end_of_the_range(backend: sqlkv.AsyncStore) -> None:
    kv = await new_bucket(backend, history=5)
    await kv.put("a", b"1")  # 1
    await kv.put("b", b"2")  # 2
    await kv.put("b", b"3")  # 3
    await kv.purge("a")  # 4: removes 1
    seen, gaps, _ = await watch_all(kv, "a", from_revision=1)
    assert seen == [("a", 4)] and gaps == 1


async def test_on_gap_is_checked() -> None:
    from sqlkv._model.watch_options import WatchOptions

    with pytest.raises(sqlkv.InvalidArgumentError):
        WatchOptions.make((), on_gap="ignore")


def test_the_sync_watcher_raises_too(tmp_path: Path) -> None:
    with sqlkv.Store(tmp_path / "s.db") as store:
        kv = store.create_bucket("g", history=1)
        for key in ("x", "a", "a", "b"):
            kv.put(key, b"v")
        with kv.watch(from_revision=1, on_gap="raise", timeout=5) as watcher:
            assert watcher.next(5).revision == 1  # type: ignore[union-attr]
            with pytest.raises(sqlkv.RevisionGapError) as caught:
                watcher.next(5)
            assert caught.value.first_available == 3 and watcher.gaps == 1
            assert watcher.next(0) is None  # the watcher ended
        with kv.watch(from_revision=1, timeout=5) as watcher:
            assert [e.revision for e in watcher.poll()] == [1, 3, 4] and watcher.gaps == 1


async def test_a_lagging_watcher_counts_what_was_trimmed_before_it_caught_up(tmp_path: Path) -> None:
    async with sqlkv.AsyncStore(tmp_path / "lag.db") as store:
        kv = await store.create_bucket("lag", history=1)
        async with kv.watch(updates_only=True, buffer_size=1) as watcher:
            for index in range(5):  # the first fills the buffer; 2-4 are trimmed before it catches up
                await kv.put("a", str(index).encode())
            assert [(await watcher.__anext__()).revision for _ in range(2)] == [1, 5]
            assert watcher.gaps == 3
