"""The proofs of issue 16 for mirrors: exact catch-up, a server stopped mid-stream, the replicating process
SIGKILLed at random moments, a re-created hub bucket, and a 3-node cluster losing its stream leader.

``SQLKV_STRESS=1`` kills the replicating process many more times.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

import sqlkv
from tests.support.nats_server import NatsCluster, NatsServer, free_port
from tests.test_replica import assert_equal, name, put_many, stored

pytestmark = [pytest.mark.anyio, pytest.mark.nats]
STRESS = os.environ.get("SQLKV_STRESS") == "1"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def until(condition: Callable[[], bool], seconds: float = 30) -> None:
    """Wait for a replica's state to change (it has no event to wait on from outside: its status is polled)."""
    with anyio.fail_after(seconds):
        while not condition():  # noqa: ASYNC110 - a status read from outside: no event to wait on
            await anyio.sleep(0.01)


async def retrying(call: Callable[[], Awaitable[Any]], attempts: int = 100) -> Any:
    """A hub electing a leader answers 'no responders' or times out for a moment: try again."""
    for attempt in range(attempts):
        try:
            return await call()
        except sqlkv.StorageError:
            if attempt == attempts - 1:
                raise
            await anyio.sleep(0.2)


async def test_a_mirror_catches_up_10k_entries_with_history_5_exactly(nats_server: NatsServer, tmp_path: Path) -> None:
    bucket = name()
    async with sqlkv.AsyncStore(nats_server.url) as hub:
        remote = await hub.create_bucket(bucket, history=5)
        items = [(f"key.{i % 2000}", f"value {i}".encode()) for i in range(10_000)]
        await put_many(remote, items)
        for i in range(0, 2000, 97):  # some deletes and purges too (they trim and drop history like writes)
            await (remote.delete if i % 2 else remote.purge)(f"key.{i}")
        async with sqlkv.AsyncStore(tmp_path / "edge.db") as edge, edge.replicate(bucket, nats_server.url) as rep:
            await rep.synced()
            local = await edge.bucket(bucket)
            assert len(await stored(local)) >= 9_900
            await assert_equal(local, remote)
            for key in ("key.1", "key.96", "key.1999"):
                mine = [(e.revision, e.operation, e.value) for e in await local.history(key)]
                assert mine == [(e.revision, e.operation, e.value) for e in await remote.history(key)]
            assert rep.status().lag == 0


async def test_the_server_stopped_mid_stream_and_restarted(tmp_path: Path) -> None:
    port = free_port()
    store_dir = tempfile.mkdtemp(prefix="sqlkv-nats-", dir=tmp_path)
    server = NatsServer(store_dir, extra_args=["-p", str(port)])
    url = server.url
    bucket = name()
    try:
        async with sqlkv.AsyncStore(url) as hub:
            remote = await hub.create_bucket(bucket, history=5)
            await put_many(remote, [(f"k{i}", b"before") for i in range(3000)])
        async with sqlkv.AsyncStore(tmp_path / "edge.db") as edge, edge.replicate(bucket, url) as rep:
            local = await edge.bucket(bucket)
            async with local.watch(updates_only=True) as watcher:
                await until(lambda: rep.status().revision > 0)
                server.stop()  # mid-stream (or just after): the edge goes on alone
                await until(lambda: not rep.status().connected)
                applied = rep.status().revision
                assert len(await local.keys()) == len(
                    {e[0] for e in await stored(local) if e[3] == "PUT"}
                )  # reads work offline
                assert (await local.status()).last_revision == applied
                server = NatsServer(store_dir, extra_args=["-p", str(port)])
                async with sqlkv.AsyncStore(url) as hub:
                    remote = await retrying(lambda: hub.bucket(bucket))
                    await retrying(lambda: put_many(remote, [(f"after{i}", b"after") for i in range(100)]))
                    await rep.synced()
                    await assert_equal(local, remote)
                # The watcher saw every revision applied after it started, once, in order.
                seen = [entry.revision for entry in await watcher_entries(watcher, 3100)]
                assert seen == list(range(seen[0], 3101))  # nothing missed, nothing twice
    finally:
        server.stop()
        import shutil

        shutil.rmtree(store_dir, ignore_errors=True)


async def watcher_entries(watcher: sqlkv.AsyncWatcher, until_revision: int) -> list[sqlkv.Entry]:
    got: list[sqlkv.Entry] = []
    with anyio.fail_after(30):
        async for entry in watcher:
            got.append(entry)
            if entry.revision >= until_revision:
                break
    return got


_REPLICATE = "import sys; from sqlkv.cli import main; sys.exit(main(sys.argv[1:]))"


async def test_the_replicating_process_killed_at_random_moments(nats_server: NatsServer, tmp_path: Path) -> None:
    bucket = name()
    db = tmp_path / "edge.db"
    with sqlkv.Store(db) as store:
        store.create_bucket(bucket)
    rounds = 25 if STRESS else 4
    rng = random.Random(16)
    async with sqlkv.AsyncStore(nats_server.url) as hub:
        remote = await hub.create_bucket(bucket, history=3)
        stop = asyncio.Event()

        async def write() -> None:
            i = 0
            while not stop.is_set():
                await put_many(remote, [(f"k{(i + j) % 300}", f"v{i + j}".encode()) for j in range(50)])
                if i % 500 == 0:
                    await remote.delete(f"k{i % 300}")
                i += 50

        writer = asyncio.ensure_future(write())
        try:
            for round_ in range(rounds):
                # The first round is killed only after it applied a batch (so the resumed run has a cursor to start
                # from however slow the machine is); the others at a random moment: loading, catching up, following.
                watched = round_ == 0
                process = subprocess.Popen(
                    [sys.executable, "-c", _REPLICATE, "--db", str(db), "replicate", bucket, nats_server.url],
                    stdout=subprocess.PIPE if watched else subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                if watched:
                    assert process.stdout is not None
                    while b"applied revisions" not in await anyio.to_thread.run_sync(process.stdout.readline):
                        assert process.poll() is None, "the replicating process ended before it applied a batch"
                    await anyio.sleep(rng.uniform(0, 0.2))
                else:
                    await anyio.sleep(rng.uniform(0.05, 1.0))
                process.send_signal(signal.SIGKILL)
                await anyio.to_thread.run_sync(process.wait)
                if process.stdout is not None:
                    process.stdout.close()
        finally:
            stop.set()
            await writer
        async with sqlkv.AsyncStore(db) as edge:
            before = await edge.replica_status(bucket)
            assert before is not None and before.revision > 0
            async with edge.replicate(bucket, nats_server.url) as rep:
                await rep.synced()
                await assert_equal(await edge.bucket(bucket), remote)


async def test_a_recreated_hub_bucket_is_detected_or_resynced(nats_server: NatsServer, tmp_path: Path) -> None:
    bucket = name()
    async with sqlkv.AsyncStore(nats_server.url) as hub, sqlkv.AsyncStore(tmp_path / "edge.db") as edge:
        remote = await hub.create_bucket(bucket, history=2)
        await put_many(remote, [(f"k{i}", b"old") for i in range(20)])
        async with edge.replicate(bucket, nats_server.url) as rep:
            await rep.synced()
        await hub.delete_bucket(bucket)
        remote = await hub.create_bucket(bucket, history=2)
        await put_many(remote, [(f"n{i}", b"new") for i in range(5)])
        async with edge.replicate(bucket, nats_server.url) as rep:
            with pytest.raises(sqlkv.ReplicaError, match="re-created"):
                await rep.synced()
            assert rep.status().error is not None
        assert len(await (await edge.bucket(bucket)).keys()) == 20  # the local copy is left as it was
        async with edge.replicate(bucket, nats_server.url, resync=True) as rep:
            await rep.synced()
            await assert_equal(await edge.bucket(bucket), remote)


@pytest.mark.slow
async def test_a_cluster_losing_its_stream_leader_while_replicating(tmp_path: Path) -> None:
    import json

    with NatsCluster(3) as cluster:
        urls = ",".join(cluster.urls)
        async with sqlkv.AsyncStore(cluster.urls, replicas=3, open_timeout=20) as hub:
            remote = await retrying(lambda: hub.create_bucket("clustered", history=2))
            await retrying(lambda: put_many(remote, [(f"k{i}", b"one") for i in range(500)]))
            async with sqlkv.AsyncStore(tmp_path / "edge.db") as edge, edge.replicate("clustered", urls) as rep:
                await rep.synced()
                import nats

                nc = await nats.connect(cluster.urls)
                try:
                    reply = await nc.request("$JS.API.STREAM.INFO.KV_clustered", b"", timeout=5)
                    leader = json.loads(reply.data)["cluster"]["leader"]
                finally:
                    await nc.close()
                cluster.servers[int(leader.removeprefix("node"))].stop()
                for i in range(200):
                    await retrying(lambda i=i: remote.put(f"k{i % 50}", f"two {i}".encode()))
                await rep.synced()
                await assert_equal(await edge.bucket("clustered"), remote)


async def test_two_stores_replicating_one_bucket_apply_each_revision_once(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    """Two store objects on one file (as two processes would be), each running a replica of the same bucket."""
    bucket = name()
    db = tmp_path / "edge.db"
    async with sqlkv.AsyncStore(nats_server.url) as hub:
        remote = await hub.create_bucket(bucket, history=4)
        await put_many(remote, [(f"k{i % 40}", str(i).encode()) for i in range(400)])
        async with (
            sqlkv.AsyncStore(db) as one,
            sqlkv.AsyncStore(db) as two,
            one.replicate(bucket, nats_server.url) as a,
            two.replicate(bucket, nats_server.url) as b,
        ):
            await put_many(remote, [(f"k{i % 50}", str(i).encode()) for i in range(400)])
            await a.synced()
            await b.synced()
            await assert_equal(await one.bucket(bucket), remote)
