"""Transactions, counters and scans (issue 15): sqlkv against raw sqlite3 and against doing it op by op, in one run.

- transactions of 2, 10 and 100 compare-and-set updates, from 1 task and from 100 tasks, against raw sqlite3
  doing the same checks and inserts in one transaction, and against the same changes as separate ``update``s;
- ``incr`` from 100 tasks against a get/update compare-and-set loop from 100 tasks (10 counters);
- ``get_many`` of 100 keys against 100 ``get``s;
- a full ``entries()`` scan of a 1M-key bucket (100-byte values) against a raw sqlite3 cursor over the same table,
  each in a fresh process that reports its peak memory growth.

Every figure is the median of ``--reps`` repetitions (min..max beside it).

    python bench/bench_txn.py [--reps 3] [--scan-keys 1000000] [--no-scan]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from common import KEYS, VALUE, check, median

import sqlkv

Figures = dict[str, list[float]]


def _cell(values: list[float]) -> str:
    return f"{median(values):,.0f} ({min(values):,.0f}..{max(values):,.0f})"


async def _filled(store: sqlkv.AsyncStore) -> tuple[sqlkv.AsyncBucket, dict[str, int]]:
    kv = await store.create_bucket("bench")
    revisions = {}
    for start in range(0, len(KEYS), 1000):
        async with store.atomic() as tx:
            for key in KEYS[start : start + 1000]:
                tx.put(kv, key, VALUE)
        revisions.update(zip(KEYS[start : start + 1000], tx.revisions))
    return kv, revisions


async def bench_transactions(path: Path, size: int, tasks: int, count: int, figures: Figures) -> None:
    """Mutations per second: transactions of ``size`` CAS updates, and the same updates one by one."""
    async with sqlkv.AsyncStore(path) as store:
        kv, revisions = await _filled(store)
        partitions = [KEYS[n::tasks] for n in range(tasks)]  # each task its own keys: no conflicts

        async def in_transactions(keys: list[str], rounds: int) -> None:
            rng = random.Random(len(keys))
            for _ in range(rounds):
                chosen = rng.sample(keys, size)
                async with store.atomic() as tx:
                    for key in chosen:
                        tx.update(kv, key, VALUE, last=revisions[key])
                revisions.update(zip(chosen, tx.revisions))

        async def one_by_one(keys: list[str], rounds: int) -> None:
            rng = random.Random(len(keys))
            for _ in range(rounds):
                for key in rng.sample(keys, size):
                    revisions[key] = await kv.update(key, VALUE, last=revisions[key])

        rounds = max(1, count // (size * tasks))
        for label, run in (("transaction", in_transactions), ("separate updates", one_by_one)):
            start = time.perf_counter()
            await asyncio.gather(*(run(keys, rounds) for keys in partitions))
            elapsed = time.perf_counter() - start
            figures.setdefault(f"{label}, {size} per tx, {tasks} task(s)", []).append(rounds * size * tasks / elapsed)


def bench_raw_transactions(path: Path, size: int, count: int, figures: Figures) -> None:
    """The floor: the same compare-and-set checks and inserts, ``size`` per transaction, on plain sqlite3."""
    with sqlkv.Store(path) as store:
        kv = store.create_bucket("bench")
        for key in KEYS:
            kv.put(key, VALUE)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    table = f'"kv_{conn.execute("SELECT id FROM sqlkv_buckets WHERE name = ?", ("bench",)).fetchone()[0]}"'
    latest = f"SELECT revision FROM {table} WHERE key = ? ORDER BY revision DESC LIMIT 1"
    insert = f"INSERT INTO {table} (key, op, value, created) VALUES (?, 1, ?, ?)"
    rng = random.Random(size)
    revisions = {key: conn.execute(latest, (key,)).fetchone()[0] for key in KEYS}
    rounds = max(1, count // size)
    start = time.perf_counter()
    for _ in range(rounds):
        conn.execute("BEGIN IMMEDIATE")
        chosen = rng.sample(KEYS, size)
        for key in chosen:
            assert conn.execute(latest, (key,)).fetchone()[0] == revisions[key]
            revisions[key] = conn.execute(insert, (key, VALUE, time.time_ns())).lastrowid  # type: ignore[assignment]
        conn.execute("COMMIT")
    figures.setdefault(f"raw sqlite3, {size} per tx", []).append(rounds * size / (time.perf_counter() - start))
    conn.close()


async def bench_counters(path: Path, count: int, figures: Figures) -> None:
    """100 tasks bumping 10 counters: ``incr`` against a get/update compare-and-set loop."""
    counters = [f"c.{n}" for n in range(10)]
    async with sqlkv.AsyncStore(path) as store:
        kv = await store.create_bucket("counters")
        per_task = max(1, count // 100)

        async def incr(n: int) -> None:
            for i in range(per_task):
                await kv.incr(counters[(n + i) % 10])

        async def cas_loop(n: int) -> None:
            for i in range(per_task):
                key = counters[(n + i) % 10]
                while True:
                    try:
                        entry = await kv.get(key)
                        await kv.update(key, str(int(entry.value) + 1), last=entry.revision)
                        break
                    except sqlkv.KeyNotFoundError:
                        try:
                            await kv.create(key, b"1")
                            break
                        except sqlkv.KeyExistsError:
                            continue
                    except sqlkv.WrongLastRevisionError:
                        continue

        for label, run in (("incr, 100 tasks", incr), ("get/update CAS loop, 100 tasks", cas_loop)):
            await kv.purge_deletes(older_than=0)
            start = time.perf_counter()
            await asyncio.gather(*(run(n) for n in range(100)))
            figures.setdefault(label, []).append(per_task * 100 / (time.perf_counter() - start))


async def bench_get_many(path: Path, rounds: int, figures: Figures) -> None:
    """Reading 100 keys: one ``get_many`` against 100 ``get``s (keys per second)."""
    async with sqlkv.AsyncStore(path) as store:
        kv, _ = await _filled(store)
        rng = random.Random(5)
        batches = [rng.sample(KEYS, 100) for _ in range(rounds)]
        start = time.perf_counter()
        for batch in batches:
            assert len(await kv.get_many(batch)) == 100
        figures.setdefault("get_many(100)", []).append(rounds * 100 / (time.perf_counter() - start))
        start = time.perf_counter()
        for batch in batches:
            for key in batch:
                await kv.get(key)
        figures.setdefault("100 x get", []).append(rounds * 100 / (time.perf_counter() - start))


SCANNER = textwrap.dedent(
    """
    import json, sqlite3, sys, time
    import sqlkv

    def rss(field):
        with open("/proc/self/status") as status:
            return next(int(l.split()[1]) for l in status if l.startswith(field)) * 1024

    path, how = sys.argv[1], sys.argv[2]
    if how == "raw":
        conn = sqlite3.connect(path)
        table = '"kv_%d"' % conn.execute("SELECT id FROM sqlkv_buckets WHERE name = 'big'").fetchone()[0]
        before = rss("VmRSS:")
        start = time.perf_counter()
        count = 0
        for row in conn.execute(f"SELECT key, revision, op, value, created, expires FROM {table} ORDER BY key"):
            count += 1
    else:
        store = sqlkv.Store(path).open()
        kv = store.bucket("big")
        before = rss("VmRSS:")
        start = time.perf_counter()
        count = 0
        for entry in kv.entries():
            count += 1
    elapsed = time.perf_counter() - start
    print(json.dumps({"rate": count / elapsed, "count": count, "peak_growth": rss("VmHWM:") - before}))
    """
)


def make_big_bucket(path: Path, keys: int) -> None:
    """A bucket of ``keys`` keys with 100-byte values, written in transactions of 1,000."""
    with sqlkv.Store(path) as store:
        kv = store.create_bucket("big")
        for start in range(0, keys, 1000):
            with store.atomic() as tx:
                for n in range(start, min(start + 1000, keys)):
                    tx.put(kv, f"key.{n:08d}", VALUE)


def bench_scan(path: Path, figures: Figures, memory: dict[str, list[float]]) -> None:
    for how in ("entries()", "raw"):
        result = subprocess.run(
            [sys.executable, "-c", SCANNER, str(path), "raw" if how == "raw" else "sqlkv"],
            capture_output=True,
            text=True,
            check=True,
        )
        report = json.loads(result.stdout)
        label = "raw sqlite3 cursor" if how == "raw" else "sqlkv entries() (sync)"
        figures.setdefault(label, []).append(report["rate"])
        memory.setdefault(label, []).append(report["peak_growth"] / 2**20)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--count", type=int, default=4000, help="mutations per transaction measurement")
    parser.add_argument("--scan-keys", type=int, default=1_000_000)
    parser.add_argument("--no-scan", action="store_true")
    args = parser.parse_args()
    figures: Figures = {}
    memory: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for rep in range(args.reps):
            for size in (2, 10, 100):
                for tasks in (1, 100):
                    await bench_transactions(root / f"t-{rep}-{size}-{tasks}.db", size, tasks, args.count, figures)
                bench_raw_transactions(root / f"raw-{rep}-{size}.db", size, args.count, figures)
            await bench_counters(root / f"c-{rep}.db", 5000, figures)
            await bench_get_many(root / f"g-{rep}.db", 50, figures)
        if not args.no_scan:
            big = root / "big.db"
            start = time.perf_counter()
            make_big_bucket(big, args.scan_keys)
            print(f"(made a bucket of {args.scan_keys:,} keys in {time.perf_counter() - start:.1f} s)")
            for _ in range(args.reps):
                bench_scan(big, figures, memory)

    print("\n## Transactions, counters, get_many and scans (per second, median (min..max))\n")
    print("| measure | per second |")
    print("|---|---:|")
    for label, values in figures.items():
        print(f"| {label} | {_cell(values)} |")
    for label, values in memory.items():
        print(f"| peak memory growth, {label} (MiB) | {median(values):.1f} |")
    m = {label: median(values) for label, values in figures.items()}
    print("\n## Ratios (targets from issue 15)\n")
    for size in (2, 10, 100):
        for tasks in (1, 100):
            tx = m[f"transaction, {size} per tx, {tasks} task(s)"]
            print(
                f"- {size} per tx, {tasks} task(s): {tx / m[f'raw sqlite3, {size} per tx']:.2f}x raw sqlite3, "
                f"{tx / m[f'separate updates, {size} per tx, {tasks} task(s)']:.2f}x separate updates"
            )
    check(
        "incr from 100 tasks / CAS loop from 100 tasks", m["incr, 100 tasks"] / m["get/update CAS loop, 100 tasks"], 5
    )
    print(f"- get_many(100) / 100 gets: {m['get_many(100)'] / m['100 x get']:.2f}x")
    if not args.no_scan:
        check("1M-key entries() scan / raw cursor", m["sqlkv entries() (sync)"] / m["raw sqlite3 cursor"], 0.5)
        growth = median(memory["sqlkv entries() (sync)"])
        print(f"- peak memory growth of the scan: {growth:.1f} MiB (target < 50 MiB) {'ok' if growth < 50 else 'OVER'}")


if __name__ == "__main__":
    asyncio.run(main())
