"""Two-way replicas (``mode="sync"``): the edge writes (also offline), its writes go up as CAS writes, hub
writes come down, and every conflict is settled by the policy and recorded."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

import sqlkv
from tests.support.nats_server import NatsServer, free_port
from tests.test_replica import name
from tests.test_replica_proof import retrying, until

pytestmark = [pytest.mark.anyio, pytest.mark.nats]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def latest(kv: sqlkv.AsyncBucket) -> dict[str, bytes]:
    return {key: (await kv.get(key)).value for key in await kv.keys()}


async def test_offline_edge_writes_converge_after_the_server_returns(tmp_path: Path) -> None:
    port = free_port()
    store_dir = tempfile.mkdtemp(prefix="sqlkv-nats-", dir=tmp_path)
    server = NatsServer(store_dir, extra_args=["-p", str(port)])
    bucket = name()
    try:
        async with sqlkv.AsyncStore(server.url) as hub:
            remote = await hub.create_bucket(bucket, history=5)
            await remote.put("shared", b"hub 1")
            await remote.put("gone", b"hub 2")
        async with (
            sqlkv.AsyncStore(tmp_path / "edge.db") as edge,
            edge.replicate(bucket, server.url, mode="sync") as rep,
        ):
            await rep.synced()
            local = await edge.bucket(bucket)
            assert await latest(local) == {"shared": b"hub 1", "gone": b"hub 2"}
            server.stop()
            await until(lambda: not rep.status().connected)
            await local.put("edge.a", b"edge 1")  # accepted offline, queued durably
            await local.put("shared", b"edge 2")
            await local.delete("gone")
            await until(lambda: rep.status().pending == 3)
            server = NatsServer(store_dir, extra_args=["-p", str(port)])
            await rep.synced()
            assert rep.status().pending == 0 and rep.status().conflicts == 0
            async with sqlkv.AsyncStore(server.url) as hub:
                remote = await retrying(lambda: hub.bucket(bucket))
                assert await latest(remote) == await latest(local) == {"shared": b"edge 2", "edge.a": b"edge 1"}
                await remote.put("later", b"hub 3")  # and the hub's writes still come down
                await rep.synced()
                assert (await local.get("later")).value == b"hub 3"
    finally:
        server.stop()
        shutil.rmtree(store_dir, ignore_errors=True)


async def conflict_setup(hub: sqlkv.AsyncStore, edge: sqlkv.AsyncStore, policy: object) -> tuple[str, object]:
    """A key written on the hub and, while the edge's replica was not running, on the edge too."""
    bucket = name()
    remote = await hub.create_bucket(bucket, history=5)
    await remote.put("k", b"base")
    async with edge.replicate(bucket, hub.path, mode="sync", conflict=policy) as rep:  # type: ignore[arg-type]
        await rep.synced()
    local = await edge.bucket(bucket)
    await local.put("k", b"edge value")  # the replica is not running: queued for later
    await remote.put("k", b"hub value")
    return bucket, remote


@pytest.fixture
async def stores(nats_server: NatsServer, tmp_path: Path):  # type: ignore[no-untyped-def]
    async with sqlkv.AsyncStore(nats_server.url) as hub, sqlkv.AsyncStore(tmp_path / "edge.db") as edge:
        yield hub, edge


@pytest.mark.parametrize("policy", ["remote", "local", "callable"])
async def test_a_conflict_is_settled_by_the_policy_and_recorded(
    stores: tuple[sqlkv.AsyncStore, sqlkv.AsyncStore], policy: str
) -> None:
    hub, edge = stores
    decide = (
        (lambda key, mine, theirs: "local" if len(mine.value) > len(theirs.value) else "remote")
        if policy == "callable"
        else policy
    )
    bucket, remote = await conflict_setup(hub, edge, decide)
    async with edge.replicate(bucket, hub.path, mode="sync", conflict=decide) as rep:  # type: ignore[arg-type]
        await rep.synced()
        local = await edge.bucket(bucket)
        winner = b"hub value" if policy == "remote" else b"edge value"
        assert (await local.get("k")).value == winner
        assert (await remote.get("k")).value == winner  # type: ignore[attr-defined]
        (conflict,) = await rep.conflicts()
        assert (conflict.bucket, conflict.key, conflict.local_value, conflict.remote_value) == (
            bucket,
            "k",
            b"edge value",
            b"hub value",
        )
        assert conflict.decision == ("remote" if policy == "remote" else "local")
        assert conflict.remote_revision == 2 and conflict.local_revision == 2
        assert rep.status().conflicts == 1 and rep.status().pending == 0


async def test_both_sides_write_while_connected(stores: tuple[sqlkv.AsyncStore, sqlkv.AsyncStore]) -> None:
    hub, edge = stores
    bucket = name()
    remote = await hub.create_bucket(bucket, history=3)
    async with edge.replicate(bucket, hub.path, mode="sync") as rep:
        await rep.synced()
        local = await edge.bucket(bucket)
        for i in range(20):
            await local.put(f"edge.{i}", str(i).encode())
            await remote.put(f"hub.{i}", str(i).encode())
        await rep.synced()
        assert await latest(local) == await latest(remote)
        assert len(await local.keys()) == 40 and rep.status().conflicts == 0


def test_the_sync_store_sends_its_writes_up(nats_server: NatsServer, tmp_path: Path) -> None:
    import asyncio

    bucket = name()

    async def hub_values() -> dict[str, bytes]:
        async with sqlkv.AsyncStore(nats_server.url) as hub:
            try:
                return await latest(await hub.bucket(bucket))
            except sqlkv.BucketNotFoundError:
                await hub.create_bucket(bucket, history=2)
                return {}

    assert asyncio.run(hub_values()) == {}
    with sqlkv.Store(tmp_path / "s.db") as edge, edge.replicate(bucket, nats_server.url, mode="sync") as rep:
        rep.synced(timeout=30)
        kv = edge.bucket(bucket)
        kv.put("from.edge", b"1")
        kv.put("from.edge", b"2")
        rep.synced(timeout=30)
        assert rep.status().pending == 0 and rep.status().conflicts == 0  # the second write builds on the first
    assert asyncio.run(hub_values()) == {"from.edge": b"2"}


async def test_queued_writes_of_one_key_chain_without_conflicts(
    stores: tuple[sqlkv.AsyncStore, sqlkv.AsyncStore],
) -> None:
    hub, edge = stores
    bucket = name()
    remote = await hub.create_bucket(bucket, history=64)
    await remote.put("k", b"hub")
    async with edge.replicate(bucket, hub.path, mode="sync") as rep:
        await rep.synced()
    local = await edge.bucket(bucket)
    for i in range(30):  # offline: each builds on the one before
        await local.put("k", str(i).encode())
    await local.delete("k")
    await local.put("k", b"last")
    async with edge.replicate(bucket, hub.path, mode="sync") as rep:
        await rep.synced()
        assert rep.status().conflicts == 0
        values = [e.value for e in await remote.history("k")]
        assert values == [b"hub", *(str(i).encode() for i in range(30)), b"", b"last"]
        assert (await local.get("k")).value == b"last"


async def test_queued_writes_survive_the_sender_killed_at_random_moments(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    import random
    import signal
    import subprocess
    import sys

    import anyio

    from tests.test_replica_proof import STRESS

    bucket = name()
    db = tmp_path / "edge.db"
    async with sqlkv.AsyncStore(nats_server.url) as hub, sqlkv.AsyncStore(db) as edge:
        remote = await hub.create_bucket(bucket, history=64)
        async with edge.replicate(bucket, nats_server.url, mode="sync") as rep:
            await rep.synced()
        local = await edge.bucket(bucket)
        for i in range(300):  # queued while no replica runs
            await local.put(f"k{i}", str(i).encode())
        for i in range(50):
            await local.put("chain", str(i).encode())
        rng = random.Random(1616)
        command = "import sys; from sqlkv.cli import main; sys.exit(main(sys.argv[1:]))"
        for _ in range(25 if STRESS else 4):
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    command,
                    "--db",
                    str(db),
                    "replicate",
                    bucket,
                    nats_server.url,
                    "--mode",
                    "sync",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            await anyio.sleep(rng.uniform(0.05, 0.8))  # a random moment: starting, sending, or done
            process.send_signal(signal.SIGKILL)
            await anyio.to_thread.run_sync(process.wait)
        async with edge.replicate(bucket, nats_server.url, mode="sync") as rep:
            await rep.synced()
            assert rep.status().pending == 0 and rep.status().conflicts == 0
        # Every queued write reached the hub exactly once, in order.
        assert [e.value for e in await remote.history("chain")] == [str(i).encode() for i in range(50)]
        for i in range(0, 300, 7):
            assert [e.value for e in await remote.history(f"k{i}")] == [str(i).encode()]
        assert await latest(remote) == await latest(local)


async def test_a_write_the_hub_cannot_take_is_recorded_not_lost(
    stores: tuple[sqlkv.AsyncStore, sqlkv.AsyncStore],
) -> None:
    hub, edge = stores
    bucket = name()
    remote = await hub.create_bucket(bucket)
    await remote.put("big", b"small")
    async with edge.replicate(bucket, hub.path, mode="sync") as rep:
        await rep.synced()
        local = await edge.bucket(bucket)
        with pytest.raises(sqlkv.ValueTooLargeError):  # a value the outbox could not copy whole: refused at once
            await local.put("big", b"x" * (1024 * 1024 + 1))
        await local.put("big", b"x" * (1024 * 1024))  # fits the file, but not the hub's 1 MiB payload with headers
        await local.put("after", b"still sent")
        await rep.synced()
        (conflict,) = await rep.conflicts()
        assert (conflict.key, conflict.decision, len(conflict.local_value)) == ("big", "refused", 1024 * 1024)
        assert (await local.get("big")).value == (await remote.get("big")).value == b"small"
        assert (await remote.get("after")).value == b"still sent" and rep.status().pending == 0


async def test_pending_is_the_stored_count_at_all_times(tmp_path: Path) -> None:
    """Issue 24: ``rep.status().pending`` lagged local writes (it was refreshed every 50 ms) while
    ``store.replica_status()`` was right at once; both read the outbox now."""
    bucket = name()
    url = f"nats://127.0.0.1:{free_port()}"  # nobody listens: every write stays queued
    async with (
        sqlkv.AsyncStore(tmp_path / "edge.db") as edge,
        edge.replicate(bucket, url, mode="sync", attach_offline=True) as rep,
    ):
        local = await edge.bucket(bucket)
        for count in range(1, 6):
            await local.put(f"k{count}", b"v")
            stored = await edge.replica_status(bucket)
            assert stored is not None and rep.status().pending == stored.pending == count
    with (
        sqlkv.Store(tmp_path / "sync.db") as sync_edge,
        sync_edge.replicate(bucket, url, mode="sync", attach_offline=True) as sync_rep,
    ):
        sync_local = sync_edge.bucket(bucket)
        for count in range(1, 4):
            sync_local.put(f"k{count}", b"v")
            sync_stored = sync_edge.replica_status(bucket)
            assert sync_stored is not None and sync_rep.status().pending == sync_stored.pending == count


async def test_detaching_a_sync_replica_with_queued_writes_refuses_unless_forced(tmp_path: Path) -> None:
    bucket = name()
    url = f"nats://127.0.0.1:{free_port()}"
    async with sqlkv.AsyncStore(tmp_path / "edge.db") as edge:
        async with edge.replicate(bucket, url, mode="sync", attach_offline=True):
            local = await edge.bucket(bucket)
            for key in ("a", "b", "c"):
                await local.put(key, b"queued")
        with pytest.raises(sqlkv.ReplicaError, match="has 3 local writes not yet sent"):
            await edge.detach_replica(bucket)
        assert (await edge.replica_status(bucket)) is not None  # refused: nothing changed
        assert await edge.detach_replica(bucket, force=True) == 3
        assert await edge.replica_status(bucket) is None
        assert await latest(local) == {"a": b"queued", "b": b"queued", "c": b"queued"}
        await local.put("d", b"plain")  # a plain bucket: nothing is queued any more
    with sqlkv.Store(tmp_path / "edge.db") as sync_edge:
        assert sync_edge.replica_status(bucket) is None
        other = name()
        with sync_edge.replicate(other, url, mode="sync", attach_offline=True):
            pass
        sync_edge.bucket(other).put("e", b"queued")
        with pytest.raises(sqlkv.ReplicaError, match="has 1 local write not yet sent"):
            sync_edge.detach_replica(other)
        assert sync_edge.detach_replica(other, force=True) == 1
        assert sync_edge.replica_status(other) is None and sync_edge.bucket(other).get("e").value == b"queued"


async def test_a_sync_replicas_late_answer_after_a_detach_writes_nothing(tmp_path: Path) -> None:
    """A follower whose write was in flight when the bucket was detached stops at its next write: neither the
    hub's answer ("sent") nor a conflict's decision ("resolved") touches the plain bucket it became."""
    from sqlkv._storage import replica as storage

    async with sqlkv.AsyncStore(tmp_path / "edge.db") as edge:
        kv = await edge.create_bucket("b")
        port = kv.replica_port()  # type: ignore[attr-defined]
        await port.attach("sync", "nats://127.0.0.1:4222", "b")
        await kv.put("k", b"local")
        [queued] = await port.outbox(10)
        assert await edge.detach_replica("b", force=True) == 1
        engine = port._engine
        with pytest.raises(sqlkv.ReplicaError, match="detached"):
            await engine.write(storage.sent, port._sql, queued, 7)
        with pytest.raises(sqlkv.ReplicaError, match="detached"):
            await engine.write(storage.resolved, port._sql, queued, (7, 1, b"hub", 1), "remote", 0, 1)
        assert (await kv.get("k")).value == b"local"
        assert [e.value for e in await kv.history("k")] == [b"local"]
