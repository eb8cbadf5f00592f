"""The same API on a NATS server: ``AsyncStore("nats://...")`` against the SQLite store, scenario by scenario."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

import sqlkv
from tests.support.nats_server import NatsServer
from tests.support.parity import SqlkvAdapter, run_steps
from tests.test_parity import SCENARIOS

pytestmark = [pytest.mark.anyio, pytest.mark.nats]
_counter = itertools.count()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # nats-py runs on asyncio only


@pytest.fixture
async def nats_store(nats_server: NatsServer) -> AsyncIterator[sqlkv.AsyncStore]:
    async with sqlkv.AsyncStore(nats_server.url) as store:
        yield store


async def test_a_nats_url_gives_the_nats_store(nats_store: sqlkv.AsyncStore) -> None:
    from sqlkv._backends.nats.store import NatsStore

    assert isinstance(nats_store, NatsStore) and isinstance(nats_store, sqlkv.AsyncStore)
    assert nats_store.durability == "nats"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_scenario_gives_the_same_log(name: str, nats_store: sqlkv.AsyncStore, tmp_path: Path) -> None:
    history, steps = SCENARIOS[name]
    bucket = f"N{next(_counter)}"
    async with sqlkv.AsyncStore(tmp_path / "s.db") as sqlite_store:
        expected = await run_steps(SqlkvAdapter(await sqlite_store.create_bucket(bucket, history=history)), steps)
    try:
        got = await run_steps(SqlkvAdapter(await nats_store.create_bucket(bucket, history=history)), steps)
    finally:
        await nats_store.delete_bucket(bucket)
    assert got == expected


async def test_buckets_on_nats(nats_store: sqlkv.AsyncStore) -> None:
    name = f"N{next(_counter)}"
    kv = await nats_store.create_bucket(name, history=3, max_value_size=100, description="on nats")
    assert (await nats_store.create_bucket(name, history=3, max_value_size=100, description="on nats")).name == name
    with pytest.raises(sqlkv.BucketExistsError):
        await nats_store.create_bucket(name, history=4)
    assert name in await nats_store.bucket_names()
    same = await nats_store.bucket(name)
    assert (same.config.history, same.config.max_value_size, same.config.description) == (3, 100, "on nats")
    await kv.put("a", b"1")
    await kv.put("a", b"2")
    await kv.put("a", b"3")
    with pytest.raises(sqlkv.ValueTooLargeError):
        await kv.put("a", b"x" * 101)
    status = await kv.status()
    assert (status.values, status.keys, status.history, status.last_revision) == (3, 1, 3, 3)
    await nats_store.update_bucket(name, history=1)
    assert [e.value for e in await kv.history("a")] == [b"3"]
    with pytest.raises(sqlkv.InvalidArgumentError, match="TTL"):
        await kv.put("a", b"v", ttl=5)
    await nats_store.delete_bucket(name)
    with pytest.raises(sqlkv.BucketNotFoundError):
        await nats_store.bucket(name)


async def test_watch_on_nats(nats_store: sqlkv.AsyncStore) -> None:
    name = f"N{next(_counter)}"
    kv = await nats_store.create_bucket(name, history=5)
    try:
        await kv.put("x.1", b"1")
        await kv.put("x.2", b"2")
        await kv.delete("x.1")
        async with kv.watch() as watcher:
            assert [(e.key, e.operation.name, e.delta) for e in await watcher.initial()] == [
                ("x.2", "PUT", 1),
                ("x.1", "DEL", 0),
            ]
            assert watcher.initial_done
            await kv.put("x.3", b"3")
            with anyio.fail_after(5):
                live = await watcher.__anext__()
            assert (live.key, live.value, live.revision) == ("x.3", b"3", 4)
        async with kv.watch("nothing.>") as empty:
            assert empty.initial_done and await empty.initial() == []
        async with kv.watch(from_revision=2) as resumed:
            assert [e.revision for e in await resumed.initial()] == [2, 3, 4]
        async with kv.watch("x.*", updates_only=True) as updates:
            assert await updates.initial() == []
            await kv.put("x.9", b"9")
            with anyio.fail_after(5):
                assert (await updates.__anext__()).key == "x.9"
        assert await kv.keys("x.*") == ["x.2", "x.3", "x.9"]
    finally:
        await nats_store.delete_bucket(name)


async def _quiet(error: Exception) -> None:
    return None


async def test_connection_failure_is_a_storage_error() -> None:
    with pytest.raises(sqlkv.StorageError, match="cannot connect"):
        async with sqlkv.AsyncStore(
            "nats://127.0.0.1:1", max_reconnect_attempts=0, connect_timeout=1, allow_reconnect=False
        ):
            pass


async def test_an_unreachable_server_is_one_clear_error(capfd: pytest.CaptureFixture[str]) -> None:
    """Issue 14: the error says why (it said "cannot connect to …: " and nats-py printed a traceback)."""
    from tests.support.nats_server import free_port

    url = f"nats://127.0.0.1:{free_port()}"
    with pytest.raises(sqlkv.StorageError) as failure:
        async with sqlkv.AsyncStore(url, open_timeout=2):
            pass
    message = str(failure.value)
    assert message.startswith(f"cannot connect to {url}: ") and len(message) > len(f"cannot connect to {url}: ") + 3
    assert "Traceback" not in capfd.readouterr().err


async def _fill(store: sqlkv.AsyncStore, name: str) -> None:
    kv = await store.create_bucket(name, history=4, description="moved")
    for i in range(30):
        await kv.put(f"k.{i % 7}", f"v{i}".encode())
    await kv.delete("k.3")
    await kv.purge("k.4")
    await kv.put("bin", bytes(range(256)))


async def _contents(store: sqlkv.AsyncStore, name: str, history: bool) -> dict[str, Any]:
    kv = await store.bucket(name)
    if not history:
        return {key: (await kv.get(key)).value for key in await kv.keys()}
    return {
        key: [(e.value, e.operation.name) for e in await kv.history(key)] for key in [*await kv.keys(), "k.3", "k.4"]
    }


@pytest.mark.parametrize("history", [False, True])
async def test_migrate_round_trip_sqlite_nats_sqlite(
    history: bool, nats_store: sqlkv.AsyncStore, tmp_path: Path
) -> None:
    from sqlkv.migrate import migrate

    name = f"M{next(_counter)}"
    async with sqlkv.AsyncStore(tmp_path / "a.db") as first, sqlkv.AsyncStore(tmp_path / "b.db") as back:
        await _fill(first, name)
        try:
            there = await migrate(first, nats_store, [name], history=history)
            again = await migrate(back, nats_store, [], history=history)  # nothing named: nothing to do
            home = await migrate(nats_store, back, [name], history=history)
            assert await _contents(back, name, history) == await _contents(first, name, history)
            assert there[0].checksum == home[0].checksum and there[0].keys == 6 and again == []
            assert (await back.bucket(name)).config.description == "moved"
            if not history:  # a copy of latest values can run again: everything is already there
                rerun = await migrate(first, nats_store, [name])
                assert (rerun[0].copied, rerun[0].skipped) == (0, 6)
        finally:
            await nats_store.delete_bucket(name)


def test_migrate_on_the_command_line(nats_server: NatsServer, tmp_path: Path) -> None:
    import subprocess
    import sys

    source = tmp_path / "src.db"
    with sqlkv.Store(source) as store:
        kv = store.create_bucket("cli-moved")
        kv.put("a", b"1")
        kv.put("b", b"2")
    command = [sys.executable, "-m", "sqlkv.cli", "migrate"]
    result = subprocess.run([*command, str(source), nats_server.url], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("cli-moved: 2 copied, 0 already there; 2 keys, sha256 ")
    back = tmp_path / "back.db"
    result = subprocess.run(
        [*command, nats_server.url, str(back), "--bucket", "cli-moved"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    with sqlkv.Store(back) as store:
        assert store.bucket("cli-moved").get("b").value == b"2"


@pytest.mark.slow
async def test_three_node_cluster_survives_a_node_stopped_during_writes() -> None:
    from tests.support.nats_server import NatsCluster

    with NatsCluster(3) as cluster:
        async with sqlkv.AsyncStore(cluster.urls, replicas=3, open_timeout=20) as store:
            kv = await _with_retries(lambda: store.create_bucket("replicated", history=2))
            written = {}
            for i in range(60):
                if i == 30:
                    cluster.servers[2].stop()  # one node of three goes away mid-way
                written[f"k.{i}"] = await _with_retries(lambda i=i: kv.put(f"k.{i}", f"v{i}"))
            assert sorted(written.values()) == list(range(1, 61))
            # A cluster's reads may lag its writes for a moment (direct gets and consumers can be served by any
            # replica, as in NATS itself): wait until every write is visible, then check each one.
            with anyio.fail_after(30):
                while True:  # polling a remote system: there is no event to wait on
                    if await _with_retries(kv.keys) == sorted(written):
                        break
                    await anyio.sleep(0.2)
            for key, revision in written.items():
                entry = await _with_retries(lambda key=key: kv.get(key))
                assert (entry.revision, entry.value) == (revision, f"v{key[2:]}".encode())
            rev = await _with_retries(lambda: kv.create("lock", b"me"))
            with pytest.raises(sqlkv.KeyExistsError):
                await kv.create("lock", b"you")
            newer = await kv.update("lock", b"me again", last=rev)
            assert newer > rev
            # A replicated stream reports a CAS conflict as 10164 ("wrong last sequence" without a number), not
            # 10071: both are a WrongLastRevisionError (issue 14), for delete and purge as for update.
            for marker in (kv.delete, kv.purge):
                with pytest.raises(sqlkv.WrongLastRevisionError) as conflict:
                    await marker("lock", last=rev)
                assert conflict.value.key == "lock" and conflict.value.expected == rev
            assert (await kv.get("lock")).revision == newer
            # Racing CAS writes on one key: the leader refuses those that find another in flight with 10164.
            for marker in (kv.delete, kv.purge):
                latest = await kv.put("race", b"x")
                outcomes = await asyncio.gather(
                    *(marker("race", last=latest) for _ in range(30)), return_exceptions=True
                )
                assert sum(isinstance(o, int) for o in outcomes) == 1, outcomes  # exactly one won
                assert all(isinstance(o, (int, sqlkv.WrongLastRevisionError)) for o in outcomes), outcomes


async def _with_retries(call: Any, attempts: int = 40) -> Any:
    """A cluster electing a leader answers 'no responders' or times out for a moment: try again."""
    import nats.errors

    for attempt in range(attempts):
        try:
            return await call()
        except (sqlkv.StorageError, nats.errors.TimeoutError, nats.errors.NoRespondersError):
            if attempt == attempts - 1:
                raise
            await anyio.sleep(0.25)
    raise AssertionError("unreachable")


async def test_create_is_refused_only_for_a_live_value(nats_server: NatsServer) -> None:
    """Issue 24: creates racing deletes and purges of one key. Only creates write values, so each refusal must
    name a successful create's revision; a create that read a marker used to be refused when a new marker
    landed before its compare-and-set, naming that marker."""
    from tests.support.create_race import create_race

    outcome = await create_race(nats_server.url, f"N{next(_counter)}", 150)
    assert outcome.unexplained == []
    assert outcome.busy < outcome.tried and outcome.created > 0


async def test_migrate_takes_a_typed_bucket_to_a_nats_server(nats_store: sqlkv.AsyncStore, tmp_path: Path) -> None:
    """A NATS server keeps no bucket metadata: the codec's record (sqlkv's own) stays behind, the values go."""
    from sqlkv.codecs import Json
    from sqlkv.migrate import migrate

    name = f"M{next(_counter)}"
    async with sqlkv.AsyncStore(tmp_path / "typed.db") as source:
        kv = await source.create_bucket(name, history=2, codec=Json())
        await kv.put("k", {"a": 1})
        try:
            (report,) = await migrate(source, nats_store, [name])
            assert report.keys == 1
            moved = await nats_store.bucket(name, codec=Json())
            assert (await moved.get("k")).value == {"a": 1}
        finally:
            await nats_store.delete_bucket(name)
