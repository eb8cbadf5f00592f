"""``sqlkv replicate`` (long-running, one line per applied batch and state change, exit 0 on SIGTERM / Ctrl-C)
and ``sqlkv kv info`` of a replica bucket ("Mirror Information")."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import sqlkv
from tests.support.nats_server import NatsServer, free_port

pytestmark = pytest.mark.nats


def sqlkv_cli(*args: str) -> list[str]:
    return [sys.executable, "-c", _MAIN, *args]


_MAIN = "import sys; from sqlkv.cli import main; sys.exit(main(sys.argv[1:]))"


def hub_put(url: str, bucket: str, items: list[tuple[str, bytes]], history: int = 1) -> None:
    async def run() -> None:
        async with sqlkv.AsyncStore(url) as hub:
            try:
                kv = await hub.bucket(bucket)
            except sqlkv.BucketNotFoundError:
                kv = await hub.create_bucket(bucket, history=history)
            for key, value in items:
                await kv.put(key, value)

    asyncio.run(run())


def lines_of(process: subprocess.Popen[str]) -> Iterator[str]:
    assert process.stdout is not None
    for line in iter(process.stdout.readline, ""):
        yield line.rstrip("\n")


def test_replicate_prints_batches_and_ends_cleanly_on_sigterm(nats_server: NatsServer, tmp_path: Path) -> None:
    db = tmp_path / "edge.db"
    with sqlkv.Store(db) as store:
        store.create_bucket("clirep")  # the store must exist (`sqlkv add clirep`); an empty bucket may become a replica
    hub_put(nats_server.url, "clirep", [("a", b"1"), ("b", b"2")])
    process = subprocess.Popen(
        sqlkv_cli("--db", str(db), "replicate", "clirep", nats_server.url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        lines = lines_of(process)
        assert "following nats://127.0.0.1" in next(lines)
        seen = []
        for line in lines:
            seen.append(line)
            if "applied revisions" in line and "revision 2," in line:
                break
        assert any("connected" in line for line in seen), seen
        hub_put(nats_server.url, "clirep", [("c", b"3")])
        for line in lines:
            if "applied revisions 3..3" in line:
                break
        info = subprocess.run(
            sqlkv_cli("--db", str(db), "kv", "info", "clirep"), capture_output=True, text=True, timeout=30
        )
        assert info.returncode == 0, info.stderr
        assert "Mirror Information:" in info.stdout and f"{nats_server.url} bucket clirep" in info.stdout
        assert "Last Applied Revision: 3" in info.stdout
        put = subprocess.run(
            sqlkv_cli("--db", str(db), "kv", "put", "clirep", "x", "y"), capture_output=True, text=True, timeout=30
        )
        assert put.returncode == 1 and "read-only mirror" in put.stderr
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()
        process.stderr.close()
    with sqlkv.Store(db) as store:
        assert store.bucket("clirep").get("c").value == b"3"


def _make_conflict(url: str, db: Path, bucket: str = "clisync") -> None:
    """A sync replica of ``bucket`` that recorded one conflict on key ``k`` (the hub's value kept)."""

    async def make_conflict() -> None:
        async with sqlkv.AsyncStore(url) as hub, sqlkv.AsyncStore(db) as edge:
            remote = await hub.create_bucket(bucket, history=3)
            await remote.put("k", b"base")
            async with edge.replicate(bucket, url, mode="sync") as rep:
                await rep.synced()
            await (await edge.bucket(bucket)).put("k", b"edge value")  # queued: the replica is not running
            await remote.put("k", b"hub value")
            async with edge.replicate(bucket, url, mode="sync") as rep:
                await rep.synced()
                assert rep.status().conflicts == 1

    asyncio.run(make_conflict())


def test_replicate_conflicts_lists_what_a_sync_replica_recorded(nats_server: NatsServer, tmp_path: Path) -> None:
    db = tmp_path / "edge.db"
    _make_conflict(nats_server.url, db)
    listed = subprocess.run(
        sqlkv_cli("--db", str(db), "replicate", "clisync", nats_server.url, "--mode", "sync", "--conflicts"),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert listed.returncode == 0, listed.stderr
    (line,) = listed.stdout.splitlines()
    assert "clisync k: local revision 2 (edge value) vs remote revision 2 (hub value): remote kept" in line
    info = subprocess.run(
        sqlkv_cli("--db", str(db), "kv", "info", "clisync"), capture_output=True, text=True, timeout=30
    )
    assert "Replica Information:" in info.stdout and "Conflicts Recorded: 1" in info.stdout, info.stdout


def test_replicate_conflicts_needs_no_mode(nats_server: NatsServer, tmp_path: Path) -> None:
    """Issue 24: listing a sync replica's conflicts failed unless ``--mode sync`` was repeated."""
    db = tmp_path / "edge.db"
    _make_conflict(nats_server.url, db, "clisync2")
    listed = subprocess.run(
        sqlkv_cli("--db", str(db), "replicate", "clisync2", nats_server.url, "--conflicts"),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert listed.returncode == 0, listed.stderr
    (line,) = listed.stdout.splitlines()
    assert "clisync2 k: local revision 2 (edge value) vs remote revision 2 (hub value): remote kept" in line


def test_replicate_prints_each_new_reason_once_and_a_typo_changes_nothing(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    """Issue 24: a missing hub bucket is said once on standard error, with the back-off; the local bucket stays a
    plain bucket until a session succeeds; then ``kv ls`` and ``kv info`` mark it."""
    db = tmp_path / "edge.db"
    with sqlkv.Store(db):
        pass
    process = subprocess.Popen(
        sqlkv_cli("--db", str(db), "replicate", "clilate", nats_server.url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stderr is not None
        reason = process.stderr.readline()
        assert "cannot follow" in reason and "RemoteBucketMissing: no bucket 'clilate' on the remote" in reason
        assert "retrying in" in reason
        for command in (("kv", "ls"), ("info",)):
            listing = subprocess.run(sqlkv_cli("--db", str(db), *command), capture_output=True, text=True, timeout=30)
            assert listing.returncode == 0 and "clilate" in listing.stdout and "mirror of" not in listing.stdout
        hub_put(nats_server.url, "clilate", [("a", b"1")])
        lines = lines_of(process)
        assert "following" in next(lines)
        for line in lines:
            if "applied revisions 1..1" in line:
                break
        for command in (("kv", "ls"), ("info",)):
            listing = subprocess.run(sqlkv_cli("--db", str(db), *command), capture_output=True, text=True, timeout=30)
            assert f"mirror of {nats_server.url} bucket clilate" in listing.stdout, listing.stdout
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
        rest = process.stderr.read()
        assert "RemoteBucketMissing" not in rest  # said once
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()
        process.stderr.close()


def test_kv_detach_makes_a_replica_a_plain_bucket(nats_server: NatsServer, tmp_path: Path) -> None:
    db = tmp_path / "edge.db"
    hub_put(nats_server.url, "clidetach", [("a", b"1")])
    with sqlkv.Store(db) as store, store.replicate("clidetach", nats_server.url) as rep:
        rep.synced(timeout=30)
    put = subprocess.run(sqlkv_cli("--db", str(db), "kv", "put", "clidetach", "b", "2"), capture_output=True, text=True)
    assert put.returncode == 1 and "read-only mirror" in put.stderr
    listed = subprocess.run(sqlkv_cli("--db", str(db), "kv", "ls", "--json"), capture_output=True, text=True)
    assert '"mode": "mirror"' in listed.stdout
    detached = subprocess.run(sqlkv_cli("--db", str(db), "kv", "detach", "clidetach"), capture_output=True, text=True)
    assert detached.returncode == 0 and "plain local bucket" in detached.stdout, detached.stderr
    put = subprocess.run(sqlkv_cli("--db", str(db), "kv", "put", "clidetach", "b", "2"), capture_output=True, text=True)
    assert put.returncode == 0, put.stderr
    listed = subprocess.run(sqlkv_cli("--db", str(db), "kv", "ls", "--json"), capture_output=True, text=True)
    assert '"replica": null' in listed.stdout
    again = subprocess.run(sqlkv_cli("--db", str(db), "kv", "detach", "clidetach"), capture_output=True, text=True)
    assert again.returncode == 0 and "not a replica: nothing to do" in again.stdout
    url = f"nats://127.0.0.1:{free_port()}"
    with sqlkv.Store(db) as store, store.replicate("queued", url, mode="sync", attach_offline=True):
        store.bucket("queued").put("k", b"v")
    refused = subprocess.run(sqlkv_cli("--db", str(db), "kv", "detach", "queued"), capture_output=True, text=True)
    assert refused.returncode != 0 and "1 local write not yet sent" in refused.stderr
    forced = subprocess.run(sqlkv_cli("--db", str(db), "detach", "queued", "-f"), capture_output=True, text=True)
    assert forced.returncode == 0 and "1 queued local write dropped" in forced.stdout, forced.stderr


def test_listing_conflicts_of_a_plain_bucket_never_makes_it_a_replica(nats_server: NatsServer, tmp_path: Path) -> None:
    """``--conflicts`` only lists: on a plain (or missing) bucket it says so and opens no session with the hub."""
    db = tmp_path / "edge.db"
    with sqlkv.Store(db) as store:
        store.create_bucket("plain").put("k", b"mine")
    hub_put(nats_server.url, "plain", [("k", b"hub")])
    for bucket in ("plain", "absent"):
        listed = subprocess.run(
            sqlkv_cli("--db", str(db), "replicate", bucket, nats_server.url, "--conflicts"),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.strip() == f"Bucket {bucket} is not a replica: no conflicts"
    with sqlkv.Store(db) as store:
        assert store.bucket_names() == ["plain"] and store.replica_status("plain") is None
        kv = store.bucket("plain")
        assert kv.get("k").value == b"mine"
        kv.put("k", b"still writable")
