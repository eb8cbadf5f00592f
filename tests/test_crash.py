"""Crash safety: a writer killed with SIGKILL at random moments, again and again.

The victim runs a mixed workload (puts, CAS updates, deletes, purges, through
group commit) and prints each write only after it was acknowledged. After every
kill the store is reopened and checked: every acknowledged write is there,
nothing is half-applied, revisions only grow and are never reused, counters
equal a recount, SQLite's integrity check passes, and a watcher resumed from
the last revision seen continues consistently. CI runs 50 kills;
``SQLKV_STRESS=1`` runs 1,000.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

import sqlkv
from tests.support.counters import recount

KILLS = 1000 if os.environ.get("SQLKV_STRESS") else 50

VICTIM = textwrap.dedent(
    """
    import random, sys, anyio, sqlkv

    async def main(path, seed):
        rng = random.Random(seed)
        async with sqlkv.AsyncStore(path, durability=sys.argv[3]) as store:
            kv = await store.bucket("crash")
            print("ready", flush=True)

            async def worker(n):
                while True:
                    key = f"k.{n}.{rng.randrange(8)}"
                    action = rng.random()
                    try:
                        if action < 0.55:
                            rev = await kv.put(key, f"{seed}:{n}:{rng.random()}")
                            print("put", key, rev, flush=True)
                        elif action < 0.8:
                            latest = await kv.history(key)
                            rev = await kv.update(key, b"cas", last=latest[-1].revision)
                            print("put", key, rev, flush=True)
                        elif action < 0.92:
                            rev = await kv.delete(key)
                            print("del", key, rev, flush=True)
                        else:
                            rev = await kv.purge(key)
                            print("purge", key, rev, flush=True)
                    except (sqlkv.KeyNotFoundError, sqlkv.WrongLastRevisionError):
                        pass

            async with anyio.create_task_group() as tg:
                for n in range(8):
                    tg.start_soon(worker, n)

    anyio.run(main, sys.argv[1], int(sys.argv[2]))
    """
)


def check_store(path: Path, acknowledged: dict[int, tuple[str, str]], last_seen: int) -> int:
    """Every invariant after a crash; returns the highest revision stored."""
    import sqlite3

    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    with sqlkv.Store(path) as store:
        kv = store.bucket("crash")
        status = kv.status()
        assert recount(kv) == (status.values, status.bytes, status.keys)
        top = status.last_revision
        assert top >= max(acknowledged, default=0)
        for revision, (action, key) in acknowledged.items():
            entries = {e.revision: e for e in kv.history(key)} if key in kv.keys() or _has_history(kv, key) else {}
            newest = max(entries) if entries else 0
            # the acknowledged write is there, or a later write of the same key replaced it
            assert revision in entries or newest > revision, (action, key, revision)
            if revision in entries:
                expected = {"put": sqlkv.Operation.PUT, "del": sqlkv.Operation.DEL, "purge": sqlkv.Operation.PURGE}
                assert entries[revision].operation is expected[action]
        with kv.watch(from_revision=last_seen + 1) as watcher:
            resumed = [e.revision for e in watcher.initial()]
        assert resumed == sorted(set(resumed)) and all(r > last_seen for r in resumed)
        return top


def _collect(stream: Any, lines: list[str]) -> None:
    lines.extend(iter(stream.readline, ""))


def _has_history(kv: sqlkv.Bucket, key: str) -> bool:
    try:
        kv.history(key)
    except sqlkv.KeyNotFoundError:
        return False
    return True


@pytest.mark.timeout(120 + 2 * KILLS)  # each round starts a Python process: SQLKV_STRESS=1 runs ~15 min
@pytest.mark.parametrize("durability", ["normal", "full"])
def test_killed_writer_loses_no_acknowledged_write(tmp_path: Path, durability: str) -> None:
    path = tmp_path / "crash.db"
    with sqlkv.Store(path) as store:
        store.create_bucket("crash", history=64)
    rng = random.Random(4242)
    top = 0
    kills = KILLS if durability == "normal" else max(KILLS // 5, 10)
    total_acknowledged = 0
    for round_number in range(kills):
        victim = subprocess.Popen(
            [sys.executable, "-c", VICTIM, str(path), str(round_number), durability],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert victim.stdout is not None
        assert victim.stdout.readline().strip() == "ready"
        lines: list[str] = []
        reader = threading.Thread(target=_collect, args=(victim.stdout, lines))
        reader.start()
        threading.Event().wait(rng.uniform(0.01, 0.25))  # let it work, then kill it mid-flight
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        reader.join()
        victim.stdout.close()
        acknowledged: dict[int, tuple[str, str]] = {}
        for line in lines:
            if line.endswith("\n"):  # a line the victim finished printing: the write was acknowledged
                action, key, revision = line.split()
                acknowledged[int(revision)] = (action, key)
        total_acknowledged += len(acknowledged)
        new_top = check_store(path, acknowledged, top)
        assert new_top >= top
        top = new_top
    with sqlkv.Store(path) as store:
        assert store.bucket("crash").put("after", b"x") > top  # never reused
    assert total_acknowledged > kills  # the victims did real work between kills


TRANSACTION_VICTIM = textwrap.dedent(
    """
    import sys, anyio, sqlkv

    async def main(path):
        async with sqlkv.AsyncStore(path) as store:
            left, right = await store.bucket("left"), await store.bucket("right")
            print("ready", flush=True)

            async def worker(n):
                while True:
                    count = (await right.get_many([f"c.{n}"])).get(f"c.{n}")
                    done = int(count.value) if count else 0
                    tag = f"{n}:{done}"
                    async with store.atomic() as tx:
                        tx.check(right, f"c.{n}", last=count.revision if count else 0)
                        for k in range(4):
                            tx.put(left, f"a.{n}.{k}", tag)
                            tx.put(right, f"b.{n}.{k}", tag)
                        tx.incr(right, f"c.{n}")
                    print("tx", n, done + 1, flush=True)

            async with anyio.create_task_group() as tg:
                for n in range(4):
                    tg.start_soon(worker, n)

    anyio.run(main, sys.argv[1])
    """
)


@pytest.mark.timeout(120 + 2 * KILLS)
def test_a_killed_transaction_is_all_there_or_not_at_all(tmp_path: Path) -> None:
    """SIGKILL amid transactions across two buckets: after each reopen every transaction is whole or absent."""
    path = tmp_path / "tx.db"
    with sqlkv.Store(path) as store:
        store.create_bucket("left")
        store.create_bucket("right")
    rng = random.Random(2026)
    acknowledged_total = 0
    for _ in range(max(KILLS // 2, 10)):
        victim = subprocess.Popen(
            [sys.executable, "-c", TRANSACTION_VICTIM, str(path)], stdout=subprocess.PIPE, text=True
        )
        assert victim.stdout is not None
        assert victim.stdout.readline().strip() == "ready"
        lines: list[str] = []
        reader = threading.Thread(target=_collect, args=(victim.stdout, lines))
        reader.start()
        threading.Event().wait(rng.uniform(0.01, 0.2))
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        reader.join()
        victim.stdout.close()
        acknowledged: dict[int, int] = {}
        for line in lines:
            if line.endswith("\n"):
                _, worker, count = line.split()
                acknowledged[int(worker)] = max(acknowledged.get(int(worker), 0), int(count))
        acknowledged_total += len(lines)
        with sqlkv.Store(path) as store:
            left, right = store.bucket("left"), store.bucket("right")
            for n in range(4):
                counter = right.get_many([f"c.{n}"]).get(f"c.{n}")
                committed = int(counter.value) if counter else 0
                assert committed >= acknowledged.get(n, 0)  # every acknowledged transaction is there
                tags = {e.value for e in left.get_many([f"a.{n}.{k}" for k in range(4)]).values()}
                tags |= {e.value for e in right.get_many([f"b.{n}.{k}" for k in range(4)]).values()}
                expected = {f"{n}:{committed - 1}".encode()} if committed else set()
                assert tags == expected, (n, committed, tags)  # the last one whole, nothing of a later one
                assert len(left.keys(f"a.{n}.*")) == (4 if committed else 0)
            for kv in (left, right):
                status = kv.status()
                assert recount(kv) == (status.values, status.bytes, status.keys)
    assert acknowledged_total > 10
