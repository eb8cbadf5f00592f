"""Mirror replicas: a local bucket following a NATS KV bucket on a real nats-server.

The hub side is written through sqlkv's own NATS store; "equal" compares every stored entry of both sides
(``watch(include_history=True)``'s initial entries: key, value, revision, operation, time).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import sqlkv
from tests.support.nats_server import NatsServer, free_port

pytestmark = [pytest.mark.anyio, pytest.mark.nats]
_names = itertools.count()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # nats-py runs on asyncio only


@pytest.fixture
async def hub(nats_server: NatsServer) -> AsyncIterator[sqlkv.AsyncStore]:
    async with sqlkv.AsyncStore(nats_server.url) as store:
        yield store


@pytest.fixture
async def edge(tmp_path: Path) -> AsyncIterator[sqlkv.AsyncStore]:
    async with sqlkv.AsyncStore(tmp_path / "edge.db") as store:
        yield store


def name() -> str:
    return f"rep{next(_names)}"


async def stored(kv: sqlkv.AsyncBucket) -> list[tuple[str, bytes, int, str, int]]:
    """Every stored entry of a bucket: (key, value, revision, operation, created µs)."""
    async with kv.watch(include_history=True) as watcher:
        entries = await watcher.initial()
    return [(e.key, e.value, e.revision, e.operation.name, int(e.created.timestamp() * 1e6 + 0.5)) for e in entries]


async def assert_equal(local: sqlkv.AsyncBucket, remote: sqlkv.AsyncBucket) -> None:
    mine, theirs = await stored(local), await stored(remote)
    assert [e[:4] for e in mine] == [e[:4] for e in theirs]
    # Times: the edge keeps the server's nanoseconds; the NATS store reads them through floats (±3 µs).
    # test_created_times_are_the_servers_nanoseconds checks them exactly.
    assert all(abs(a[4] - b[4]) <= 3 for a, b in zip(mine, theirs))
    mine_status, their_status = await local.status(), await remote.status()
    assert (mine_status.last_revision, mine_status.values, mine_status.keys, mine_status.history) == (
        their_status.last_revision,
        their_status.values,
        their_status.keys,
        their_status.history,
    )


async def put_many(kv: sqlkv.AsyncBucket, items: list[tuple[str, bytes]]) -> None:
    for start in range(0, len(items), 200):
        await asyncio.gather(*(kv.put(k, v) for k, v in items[start : start + 200]))


async def test_a_mirror_copies_entries_exactly_and_follows(hub: sqlkv.AsyncStore, edge: sqlkv.AsyncStore) -> None:
    bucket = name()
    remote = await hub.create_bucket(bucket, history=3)
    await remote.put("a", b"1")
    await remote.put("b", b"2")
    await remote.put("a", b"3")
    await remote.delete("b")
    await remote.put("c", b"4")
    await remote.purge("c")
    async with edge.replicate(bucket, hub.path, mode="mirror") as rep:
        await rep.synced()
        local = await edge.bucket(bucket)
        await assert_equal(local, remote)
        assert (await local.get("a")).value == b"3"
        status = rep.status()
        assert status.connected and status.lag == 0 and status.mode == "mirror" and status.revision == 6
        async with local.watch(updates_only=True) as watcher:
            revision = await remote.put("d", b"5")
            entry = await watcher.__anext__()
            assert (entry.key, entry.value, entry.revision) == ("d", b"5", revision)
        await rep.synced()
        await assert_equal(local, remote)


async def test_local_writes_to_a_mirror_are_refused(hub: sqlkv.AsyncStore, edge: sqlkv.AsyncStore) -> None:
    bucket = name()
    remote = await hub.create_bucket(bucket)
    await remote.put("a", b"1")
    async with edge.replicate(bucket, hub.path) as rep:
        await rep.synced()
        local = await edge.bucket(bucket)
        writes = (local.put("a", b"x"), local.delete("a"), local.create("new", b"x"), local.purge("a"),
                  local.incr("n"), local.touch("a", 60), local.update("a", b"y", last=1))  # fmt: skip
        for write in writes:
            with pytest.raises(sqlkv.ReplicaReadOnlyError) as caught:
                await write
            assert f"bucket {bucket!r} is a read-only mirror of bucket {bucket!r} at {hub.path}" in str(caught.value)
        with pytest.raises(sqlkv.ReplicaReadOnlyError):
            async with edge.atomic() as tx:
                tx.put(bucket, "a", b"y")
    with pytest.raises(sqlkv.ReplicaReadOnlyError):  # also when the replica does not run
        await local.put("a", b"x")
    assert (await local.get("a")).value == b"1"


async def test_removals_without_a_message_are_reconciled(hub: sqlkv.AsyncStore, edge: sqlkv.AsyncStore) -> None:
    bucket = name()
    remote = await hub.create_bucket(bucket, history=5)
    await remote.put("gone", b"1")
    await remote.delete("gone")
    await remote.put("kept", b"2")
    async with edge.replicate(bucket, hub.path) as rep:
        await rep.synced()
        local = await edge.bucket(bucket)
        await assert_equal(local, remote)
        await remote.purge_deletes(older_than=0)  # no message: the stream just loses them
        await rep.synced()
        await assert_equal(local, remote)
        assert [e[0] for e in await stored(local)] == ["kept"]


async def test_a_replica_resumes_from_its_cursor(hub: sqlkv.AsyncStore, tmp_path: Path) -> None:
    bucket = name()
    remote = await hub.create_bucket(bucket, history=2)
    await put_many(remote, [(f"k{i % 7}", str(i).encode()) for i in range(50)])
    async with sqlkv.AsyncStore(tmp_path / "e.db") as edge, edge.replicate(bucket, hub.path) as rep:
        await rep.synced()
    await put_many(remote, [(f"k{i % 9}", str(i).encode()) for i in range(50)])
    await remote.delete("k1")
    async with sqlkv.AsyncStore(tmp_path / "e.db") as edge:
        local = await edge.bucket(bucket)
        status = await edge.replica_status(bucket)
        assert status is not None and status.revision == 50 and not status.connected
        async with local.watch(from_revision=51) as watcher, edge.replicate(bucket, hub.path) as rep:
            await rep.synced()
            assert rep.status().revision == 101
            await assert_equal(local, remote)
            expected = sorted(e[2] for e in await stored(remote) if e[2] > 50)  # the rest was trimmed on the hub
            seen = [(await watcher.__anext__()).revision for _ in expected]
            assert seen == expected  # every applied revision once, in order


async def test_starting_offline_serves_the_local_copy(edge: sqlkv.AsyncStore) -> None:
    url = f"nats://127.0.0.1:{free_port()}"  # nobody listens there
    # attach_offline: a replica at once (by default a bucket becomes one only once a session succeeded)
    async with edge.replicate("cfg", url, attach_offline=True) as rep:
        status = rep.status()
        assert not status.connected and status.revision == 0
        local = await edge.bucket("cfg")
        assert await local.keys() == []
    assert (await edge.replica_status("cfg")) is not None


async def test_a_nats_store_cannot_replicate(hub: sqlkv.AsyncStore) -> None:
    with pytest.raises(sqlkv.UnsupportedError):
        hub.replicate("x", "nats://127.0.0.1:4222")


def test_the_sync_store_replicates_on_a_thread(nats_server: NatsServer, tmp_path: Path) -> None:
    bucket = name()
    with sqlkv.Store(tmp_path / "s.db") as edge:

        async def fill() -> None:
            async with sqlkv.AsyncStore(nats_server.url) as hub:
                kv = await hub.create_bucket(bucket, history=2)
                await put_many(kv, [(f"k{i}", b"v") for i in range(20)])

        asyncio.run(fill())
        with edge.replicate(bucket, nats_server.url) as rep:
            rep.synced(timeout=30)
            assert rep.status().revision == 20
            assert len(edge.bucket(bucket).keys()) == 20


async def test_created_times_are_the_servers_nanoseconds(
    hub: sqlkv.AsyncStore, edge: sqlkv.AsyncStore, nats_server: NatsServer
) -> None:
    import json
    import sqlite3
    from datetime import datetime, timezone

    import nats

    bucket = name()
    remote = await hub.create_bucket(bucket)
    for key in ("a", "b", "c"):
        await remote.put(key, b"v")
    async with edge.replicate(bucket, hub.path) as rep:
        await rep.synced()
    nc = await nats.connect(nats_server.url)
    try:
        server: dict[int, int] = {}
        for seq in (1, 2, 3):
            reply = await nc.request(f"$JS.API.STREAM.MSG.GET.KV_{bucket}", json.dumps({"seq": seq}).encode())
            stamp = json.loads(reply.data)["message"]["time"]  # RFC 3339 with nanoseconds
            whole, _, fraction = stamp.rstrip("Z").partition(".")
            seconds = datetime.fromisoformat(whole).replace(tzinfo=timezone.utc).timestamp()
            server[seq] = int(seconds) * 10**9 + int(fraction.ljust(9, "0"))
    finally:
        await nc.close()
    bucket_id = (await edge.bucket(bucket))._sql.bucket_id  # type: ignore[attr-defined]
    conn = sqlite3.connect(edge.path)
    try:
        local = dict(conn.execute(f"SELECT revision, created FROM kv_{bucket_id} WHERE op != 0").fetchall())
    finally:
        conn.close()
    assert local == server


async def test_hub_expiry_is_reflected(hub: sqlkv.AsyncStore, edge: sqlkv.AsyncStore) -> None:
    import anyio

    bucket = name()
    remote = await hub.create_bucket(bucket, ttl=1)
    await remote.put("short", b"lived")
    async with edge.replicate(bucket, hub.path) as rep:
        await rep.synced()
        local = await edge.bucket(bucket)
        assert await local.keys() == ["short"]
        assert (await local.status()).ttl is None  # the hub expires; the edge follows
        with anyio.fail_after(10):
            while await remote.keys():  # noqa: ASYNC110 - the hub's expiry has no event to wait on
                await anyio.sleep(0.05)
        await rep.synced()
        assert await local.keys() == [] and await stored(local) == await stored(remote) == []


def test_a_replica_needs_asyncio(tmp_path: Path) -> None:
    import trio

    async def main() -> None:
        async with sqlkv.AsyncStore(tmp_path / "t.db") as store:
            with pytest.raises(sqlkv.UnsupportedError, match="asyncio"):
                async with store.replicate("cfg", "nats://127.0.0.1:9"):
                    pass

    trio.run(main)


async def test_a_bucket_may_follow_one_of_another_name(hub: sqlkv.AsyncStore, edge: sqlkv.AsyncStore) -> None:
    remote_name = name()
    remote = await hub.create_bucket(remote_name, history=2)
    await remote.put("a", b"1")
    await remote.put("a", b"2")
    # NATS connection options pass through to nats.connect.
    async with edge.replicate("local-copy", hub.path, remote_bucket=remote_name, name="edge-7") as rep:
        await rep.synced()
        assert rep.status().remote_bucket == remote_name and rep.status().bucket == "local-copy"
        local = await edge.bucket("local-copy")
        assert [(e.revision, e.value) for e in await local.history("a")] == [(1, b"1"), (2, b"2")]
        assert local.config.history == 2


async def _until(condition: Any, seconds: float = 30) -> None:
    """Wait for a replica's status to change (polled: it has no event to wait on from outside)."""
    import anyio

    with anyio.fail_after(seconds):
        while not condition():  # noqa: ASYNC110 - a status read from outside: no event to wait on
            await anyio.sleep(0.01)


async def test_the_status_says_why_sessions_fail_and_the_bucket_attaches_only_once_they_succeed(
    hub: sqlkv.AsyncStore, edge: sqlkv.AsyncStore
) -> None:
    """Issue 24: a refused connection and a missing remote bucket are the status's last error (kind, message,
    since when, next retry); until a session succeeds the local bucket stays a plain bucket."""
    from datetime import datetime, timezone

    bucket = name()
    async with edge.replicate(bucket, f"nats://127.0.0.1:{free_port()}") as rep:  # nobody listens there
        await _until(lambda: rep.status().last_error is not None)
        problem = rep.status().last_error
        assert (
            problem is not None and problem.kind == "ConnectionRefusedError" and "Connect call failed" in str(problem)
        )
        assert problem.since <= datetime.now(timezone.utc) and 0 < problem.retry_in <= 2
        assert not rep.status().attached and await edge.replica_status(bucket) is None
    async with edge.replicate(bucket, hub.path) as rep:  # the hub answers, but has no such bucket
        await _until(lambda: (p := rep.status().last_error) is not None and p.kind == "RemoteBucketMissing")
        assert str(rep.status().last_error) == f"RemoteBucketMissing: no bucket {bucket!r} on the remote"
        assert await edge.replica_status(bucket) is None
        remote = await hub.create_bucket(bucket)
        await remote.put("a", b"1")
        await rep.synced()
        status = rep.status()
        assert status.last_error is None and status.attached and status.connected
        assert (await edge.replica_status(bucket)) is not None


async def test_a_mistyped_url_leaves_a_plain_bucket(edge: sqlkv.AsyncStore) -> None:
    async with edge.replicate("typo", "nats://nosuchhost.invalid:4222") as rep:
        await _until(lambda: rep.status().last_error is not None)
    local = await edge.bucket("typo")
    assert await edge.replica_status("typo") is None
    assert await local.put("k", b"mine") == 1  # not a read-only mirror of nosuchhost.invalid


async def test_detaching_a_mirror_leaves_a_plain_bucket_with_its_data(
    hub: sqlkv.AsyncStore, edge: sqlkv.AsyncStore
) -> None:
    bucket = name()
    remote = await hub.create_bucket(bucket, history=2)
    await put_many(remote, [("a", b"1"), ("a", b"2"), ("b", b"3")])
    async with edge.replicate(bucket, hub.path) as rep:
        await rep.synced()
        assert await edge.detach_replica(bucket) == 0
        await remote.put("c", b"after")  # the running replica meets the detached bucket: it stops
        with pytest.raises(sqlkv.ReplicaError, match="detached"):
            await rep.synced()
    local = await edge.bucket(bucket)
    assert [(e.revision, e.value) for e in await local.history("a")] == [(1, b"1"), (2, b"2")]
    assert await edge.replica_status(bucket) is None
    assert await local.put("b", b"local") == 4
    assert await edge.detach_replica(bucket) == -1  # no replica: nothing to do
    with pytest.raises(sqlkv.UnsupportedError):
        await hub.detach_replica(bucket)


async def test_created_times_read_through_the_nats_backend_equal_the_mirrors(
    hub: sqlkv.AsyncStore, edge: sqlkv.AsyncStore
) -> None:
    """Issue 24: the NATS backend turned the server's times into nanoseconds through floats (1-2 µs off for
    about half of them); it now keeps integers, so both sides give the same ``created``."""
    bucket = name()
    remote = await hub.create_bucket(bucket, history=1)
    await put_many(remote, [(f"k{i}", b"v") for i in range(300)])
    async with edge.replicate(bucket, hub.path) as rep:
        await rep.synced()
    local = await edge.bucket(bucket)

    async def created(kv: sqlkv.AsyncBucket) -> list[tuple[int, object]]:
        async with kv.watch(include_history=True) as watcher:
            return [(e.revision, e.created) for e in await watcher.initial()]

    assert await created(local) == await created(remote)
    for key in ("k0", "k150", "k299"):
        assert (await local.get(key)).created == (await remote.get(key)).created


_RESTARTED = """
import sys, sqlkv
from tests.support.nats_server import NatsServer
store_dir, port, db, bucket = sys.argv[1:]
server = NatsServer(store_dir, extra_args=["-p", port])
with sqlkv.Store(db) as edge, edge.replicate(bucket, server.url) as rep:
    rep.synced(timeout=30)
    server.stop()
    while rep.status().connected:
        pass
    server = NatsServer(store_dir, extra_args=["-p", port])
    rep.synced(timeout=30)
server.stop()
print("done")
"""


def test_a_sync_replica_ends_every_task_it_started(tmp_path: Path) -> None:
    """Issue 24: a sync Store's replica, the hub stopped and restarted, then the program exits: no task of the
    replica's loop is left pending (nats-py's consumer heartbeat check was: "Task was destroyed but it is
    pending")."""
    import subprocess
    import sys
    import tempfile

    store_dir = tempfile.mkdtemp(prefix="sqlkv-nats-", dir=tmp_path)
    port = str(free_port())
    bucket = name()

    async def fill() -> None:
        async with sqlkv.AsyncStore(f"nats://127.0.0.1:{port}") as hub:
            await put_many(await hub.create_bucket(bucket), [("a", b"1")])

    with NatsServer(store_dir, extra_args=["-p", port]):
        asyncio.run(fill())
    done = subprocess.run(
        [sys.executable, "-c", _RESTARTED, store_dir, port, str(tmp_path / "e.db"), bucket],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parent.parent,
    )
    assert done.returncode == 0 and done.stdout.strip() == "done", done.stderr
    assert "Task was destroyed" not in done.stderr and "never retrieved" not in done.stderr, done.stderr


def test_a_mirror_reads_a_message_as_the_nats_store_does() -> None:
    """One reading of a KV message's headers for the NATS store, its watchers and a replica: an expiry's limit
    marker (``Nats-Marker-Reason: MaxAge``) is an EXPIRE entry on all three, not a PURGE in a mirror."""
    from types import SimpleNamespace

    from sqlkv._backends.nats.watcher import operation_of
    from sqlkv._replica.remote import message_row

    cases = {
        None: sqlkv.Operation.PUT,
        "DEL": sqlkv.Operation.DEL,
        "PURGE": sqlkv.Operation.PURGE,
        "MaxAge": sqlkv.Operation.EXPIRE,
        "Remove": sqlkv.Operation.DEL,
    }
    for kind, operation in cases.items():
        if kind in (None, "DEL", "PURGE"):
            headers = None if kind is None else {"KV-Operation": kind}
        else:
            headers = {"Nats-Marker-Reason": kind}
        assert operation_of(headers) is operation, kind
        msg = SimpleNamespace(
            reply="$JS.ACK.KV_b.c.1.7.7.1700000000000000001.0", subject="$KV.b.k", headers=headers, data=b""
        )
        (revision, key, op, _, created), _, _ = message_row(msg, len("$KV.b."))  # type: ignore[arg-type]
        assert (revision, key, op, created) == (7, "k", int(operation), 1700000000000000001), kind
