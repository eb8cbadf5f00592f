"""Values over 1 MiB take the chunked path (zeroblob + blob I/O, read back chunk by chunk); every read returns them.

``_storage/large.py`` writes and reads a value over ``LARGE_VALUE`` bytes in
chunks so that no thread holds the GIL for the whole copy; statements return
NULL in its place and ``large.fill`` reads it. These tests check that every
way out of the store (get, get by revision, history, scans, get_many, watch
initial values and updates, another process's watcher, export/import, the sync
store) returns the value whole and equal, at and around the threshold, at the
64 MiB maximum, and with the chunked path off (Python 3.10's behaviour).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import anyio
import pytest

import sqlkv
from sqlkv._storage import large
from sqlkv._storage.statements import LARGE_VALUE
from tests.support.counters import recount

pytestmark = pytest.mark.anyio

SIZES = [LARGE_VALUE - 1, LARGE_VALUE, LARGE_VALUE + 1, 3 * large.CHUNK + 7]


@pytest.fixture(params=[True, False], ids=["chunked", "whole"])
def chunked(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Both paths: blob I/O in chunks (3.11+), and values bound and fetched whole (3.10, or forced here)."""
    if request.param and not large.CHUNKED:
        pytest.skip("this Python has no blob I/O (3.10)")
    monkeypatch.setattr(large, "CHUNKED", request.param)
    return bool(request.param)


def values() -> list[bytes]:
    return [os.urandom(size) for size in SIZES]


async def test_every_read_returns_large_values_whole(store: sqlkv.AsyncStore, chunked: bool) -> None:
    kv = await store.create_bucket("big", history=5)
    written = values()
    revisions = [await kv.put(f"v.{i}", value) for i, value in enumerate(written)]
    again = os.urandom(LARGE_VALUE + 5)
    revisions.append(await kv.put("v.0", again))
    for i, value in enumerate(written):
        entry = await kv.get(f"v.{i}")
        expected = again if i == 0 else value
        assert type(entry.value) is bytes and entry.value == expected
        by_revision = await kv.get(f"v.{i}", revision=revisions[i])
        assert by_revision.value == value
    assert [e.value for e in await kv.history("v.0")] == [written[0], again]
    scanned = {e.key: e.value for e in [e async for e in kv.entries()]}
    assert scanned == {"v.0": again, **{f"v.{i}": v for i, v in enumerate(written) if i}}
    many = await kv.get_many([f"v.{i}" for i in range(len(written))])
    assert {k: e.value for k, e in many.items()} == scanned
    async with kv.watch(include_history=True) as watcher:
        initial = [await watcher.__anext__() for _ in range(len(written) + 1)]
        assert [e.value for e in initial] == [*written, again]
        update = os.urandom(LARGE_VALUE * 2)
        await kv.put("v.9", update)
        assert (await watcher.__anext__()).value == update
    status = await kv.status()
    assert status.bytes == sum(3 + len(v) for v in [*written, again, update])  # every key is 3 bytes long


async def test_cas_markers_and_purge_around_large_values(store: sqlkv.AsyncStore, chunked: bool) -> None:
    kv = await store.create_bucket("big", history=3)
    first = os.urandom(LARGE_VALUE + 1)
    revision = await kv.create("k", first)
    with pytest.raises(sqlkv.KeyExistsError):
        await kv.create("k", first)
    second = os.urandom(2 * LARGE_VALUE)
    with pytest.raises(sqlkv.WrongLastRevisionError):
        await kv.update("k", second, last=revision + 1)
    revision = await kv.update("k", second, last=revision)
    assert (await kv.get("k")).value == second
    await kv.delete("k", last=revision)
    with pytest.raises(sqlkv.KeyDeletedError):
        await kv.get("k")
    assert [e.value for e in await kv.history("k")] == [first, second, b""]
    await kv.purge("k")
    assert [e.operation for e in await kv.history("k")] == [sqlkv.Operation.PURGE]
    assert (await kv.status()).bytes == len("k")  # the purge marker: its key, no value


async def test_a_refused_large_value_writes_nothing(store: sqlkv.AsyncStore, chunked: bool) -> None:
    kv = await store.create_bucket("limited", max_value_size=2 * LARGE_VALUE, max_bytes=5 * LARGE_VALUE)
    with pytest.raises(sqlkv.ValueTooLargeError):
        await kv.put("k", os.urandom(2 * LARGE_VALUE + 1))
    revision = await kv.put("k", os.urandom(2 * LARGE_VALUE))
    await kv.put("l", os.urandom(2 * LARGE_VALUE))
    with pytest.raises(sqlkv.BucketFullError):
        await kv.put("m", os.urandom(2 * LARGE_VALUE))
    with pytest.raises(sqlkv.BucketFullError):
        async with store.atomic() as txn:
            txn.put(kv, "n", b"small")
            txn.put(kv, "m", os.urandom(2 * LARGE_VALUE))
    assert await kv.keys() == ["k", "l"]
    assert (await kv.status()).last_revision == revision + 1  # nothing refused took a revision
    assert await recount(kv) == ((s := await kv.status()).values, s.bytes, s.keys)


async def test_the_largest_value_round_trips_and_one_byte_more_is_refused(store: sqlkv.AsyncStore) -> None:
    kv = await store.create_bucket("max")
    value = os.urandom(64 * 1024 * 1024)
    await kv.put("k", value)
    assert (await kv.get("k")).value == value
    with pytest.raises(sqlkv.ValueTooLargeError):
        await kv.put("k", value + b"x")
    assert (await kv.status()).values == 1


async def test_another_process_watcher_receives_a_large_value(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Read in chunks off the event loop (even where the loop takes the hints itself: it would stall)."""
    loaded_on: list[int] = []
    load = large.load

    def load_noting_the_thread(*args: Any) -> bytes:
        loaded_on.append(threading.get_ident())
        return load(*args)

    monkeypatch.setattr(large, "load", load_noting_the_thread)
    value = os.urandom(LARGE_VALUE + 12345)
    async with sqlkv.AsyncStore(db_path) as store:
        kv = await store.create_bucket("big")
        async with kv.watch(updates_only=True) as watcher:
            child = (
                "import sys, sqlkv\n"
                "with sqlkv.Store(sys.argv[1]) as store:\n"
                "    store.bucket('big').put('k', sys.stdin.buffer.read())\n"
            )
            await anyio.run_process([sys.executable, "-c", child, str(db_path)], input=value)
            with anyio.fail_after(10):
                entry = await watcher.__anext__()
    assert entry.key == "k" and entry.value == value
    assert loaded_on and threading.get_ident() not in loaded_on


async def test_export_and_import_keep_large_values(store: sqlkv.AsyncStore, tmp_path: Path, chunked: bool) -> None:
    kv = await store.create_bucket("big", history=2)
    written = values()
    for i, value in enumerate(written):
        await kv.put(f"v.{i}", value)
    await kv.put("v.0", b"second")
    exported = sorted([e for i in range(len(written)) for e in await kv.history(f"v.{i}")], key=lambda e: e.revision)
    async with sqlkv.AsyncStore(tmp_path / "copy.db") as copy:
        target = await copy.create_bucket("big", history=2)
        assert await target.import_entries(exported) == len(written) + 1
        assert [e.value for e in await target.history("v.0")] == [written[0], b"second"]
        assert [e.value for e in [e async for e in target.entries()]] == [b"second", *written[1:]]


def test_the_sync_store_reads_and_writes_large_values(db_path: Path, chunked: bool) -> None:
    with sqlkv.Store(db_path) as store:
        kv = store.create_bucket("big", history=2)
        written = values()
        for i, value in enumerate(written):
            kv.put(f"v.{i}", value)
        assert [kv.get(f"v.{i}").value for i in range(len(written))] == written
        kv.put("v.0", b"small")
        assert [e.value for e in kv.history("v.0")] == [written[0], b"small"]


def test_the_cli_exports_a_large_value(db_path: Path, tmp_path: Path) -> None:
    value = os.urandom(LARGE_VALUE + 1)
    with sqlkv.Store(db_path) as store:
        store.create_bucket("big").put("k", value)
    out = tmp_path / "dump.jsonl"
    subprocess.run([sys.executable, "-m", "sqlkv.cli", "--db", str(db_path), "export", "-o", str(out)], check=True)
    subprocess.run(
        [sys.executable, "-m", "sqlkv.cli", "--db", str(tmp_path / "new.db"), "import", str(out)], check=True
    )
    with sqlkv.Store(tmp_path / "new.db") as copy:
        assert copy.bucket("big").get("k").value == value
