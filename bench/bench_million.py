"""A million keys: point reads and writes, filtered listing, open time and file sizes against bucket size.

Buckets of 10k, 100k and 1M keys (``--max-keys``), 100-byte values, with
history 1 and with history 5 (where every tenth key holds five revisions).
Keys are ``k.GGGGG.NNNNNNN`` with 100 keys per group, so the filter
``k.GGGGG.*`` matches exactly 100 keys at every size. Each bucket is filled by
plain SQL through sqlkv's own statements and triggers (counters and history
trimming included) for speed, then measured through the public API:

- open: ``AsyncStore(path)`` opened, the bucket looked up, one get done;
- get latency p50 / p99 over ``--ops`` sequential gets of random keys, and
  put / get throughput from 100 tasks;
- ``keys("k.GGGGG.*")`` (100 matches) and ``keys("*.GGGGG.*")`` (100 matches
  with no literal prefix, which must look at every key);
- the store file and its WAL after the puts (before close);
- at the largest size, a sweep of 10,000 expired keys (per-key deadlines
  spread over the bucket), as ``bench_sweep.py`` measures it.

Figures are medians of ``--reps`` repetitions; the JSON goes to bench/results/.

    python bench/bench_million.py [--max-keys 1000000] [--ops 5000] [--reps 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from common import Targets, save_results, time_concurrent

import sqlkv

VALUE = os.urandom(100)


def key_of(i: int) -> str:
    return f"k.{i // 100:05d}.{i:07d}"


async def build(path: Path, keys: int, history: int) -> None:
    from sqlkv._storage.statements import BucketSQL

    async with sqlkv.AsyncStore(path) as store:
        await store.create_bucket("m", history=history)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    bucket_id = conn.execute("SELECT id FROM sqlkv_buckets WHERE name = 'm'").fetchone()[0]
    insert = BucketSQL.for_bucket("m", bucket_id).insert
    now = time.time_ns()
    conn.execute("BEGIN")
    batch: list[tuple[Any, ...]] = []
    for i in range(keys):
        for _ in range(5 if history > 1 and i % 10 == 0 else 1):
            batch.append((key_of(i), 1, VALUE, now, None))
        if len(batch) >= 10_000:
            conn.executemany(insert, batch)
            batch.clear()
    conn.executemany(insert, batch)
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def sizes(path: Path) -> tuple[int, int]:
    wal = Path(f"{path}-wal")
    return path.stat().st_size, wal.stat().st_size if wal.exists() else 0


async def timed_keys(kv: sqlkv.AsyncBucket, pattern: str, times: int) -> tuple[list[str], float]:
    """The keys matching ``pattern``, and the median time of ``times`` listings."""
    durations = []
    for _ in range(times):
        start = time.perf_counter()
        found = await kv.keys(pattern)
        durations.append(time.perf_counter() - start)
    return found, statistics.median(durations)


async def measure(path: Path, keys: int, ops: int, seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    sample = [key_of(rng.randrange(keys)) for _ in range(ops)]
    group = rng.randrange(keys // 100)
    start = time.perf_counter()
    store = await sqlkv.AsyncStore(path).open()
    try:
        kv = await store.bucket("m")
        await kv.get(sample[0])
        opened = time.perf_counter() - start
        latencies = []
        for key in sample:
            t = time.perf_counter()
            await kv.get(key)
            latencies.append(time.perf_counter() - t)
        latencies.sort()
        prefixed, keys_prefix = await timed_keys(kv, f"k.{group:05d}.*", 21)
        unprefixed, keys_scan = await timed_keys(kv, f"*.{group:05d}.*", 3)
        assert len(prefixed) == len(unprefixed) == 100, (len(prefixed), len(unprefixed))
        puts = await time_concurrent(lambda k: kv.put(k, VALUE), [key_of(rng.randrange(keys)) for _ in range(ops)])
        gets = await time_concurrent(kv.get, sample)
        file_size, wal_size = sizes(path)
    finally:
        await store.aclose()
    return {
        "open ms": opened * 1e3,
        "get p50 us": latencies[len(latencies) // 2] * 1e6,
        "get p99 us": latencies[int(len(latencies) * 0.99)] * 1e6,
        "seq get/s": len(sample) / sum(latencies),
        "100-task put/s": puts,
        "100-task get/s": gets,
        "keys prefix ms": keys_prefix * 1e3,
        "keys no-prefix ms": keys_scan * 1e3,
        "file MiB": file_size / 2**20,
        "wal MiB": wal_size / 2**20,
    }


async def sweep_large(folder: Path, rows: int) -> float:
    import bench_sweep

    path = folder / "sweep.db"
    await bench_sweep.build(path, rows, "per-key")
    elapsed, expired, _, _ = await bench_sweep.measure(path)
    assert expired == bench_sweep.EXPIRED
    path.unlink()
    return elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-keys", type=int, default=1_000_000)
    parser.add_argument("--ops", type=int, default=5000)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    sizes_list = [n for n in (10_000, 100_000, 1_000_000) if n <= args.max_keys] or [args.max_keys]
    results: dict[str, dict[str, list[float]]] = {}
    sweeps: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for history in (1, 5):
            for keys in sizes_list:
                path = folder / f"h{history}-{keys}.db"
                started = time.perf_counter()
                await build(path, keys, history)
                print(f"built {keys:,} keys, history {history}, in {time.perf_counter() - started:.1f} s", flush=True)
                row = results.setdefault(f"history {history}, {keys:,} keys", {})
                for rep in range(args.reps):
                    for name, value in (await measure(path, keys, args.ops, rep)).items():
                        row.setdefault(name, []).append(value)
                path.unlink()
        for _ in range(args.reps):
            sweeps.append(await sweep_large(folder, sizes_list[-1]))

    names = list(next(iter(results.values())))
    print(f"\n## Bucket size (medians of {args.reps}; latencies in µs, times in ms)\n")
    print("| bucket | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    med = {bucket: {n: statistics.median(v) for n, v in row.items()} for bucket, row in results.items()}
    for bucket, row in med.items():
        print(f"| {bucket} | " + " | ".join(f"{row[n]:,.1f}" for n in names) + " |")
    sweep_ms = statistics.median(sweeps) * 1e3
    print(f"\nSweep of 10,000 expired keys in a {sizes_list[-1]:,}-key bucket: {sweep_ms:,.0f} ms (median)")

    small, large = f"{sizes_list[0]:,} keys", f"{sizes_list[-1]:,} keys"
    targets = Targets()
    print("\n## Targets\n")
    for history in (1, 5):
        a, b = med[f"history {history}, {small}"], med[f"history {history}, {large}"]
        # issue 28 asks 1.3x (issue 17 asked 1.5x)
        targets.at_most(f"history {history}: get p50, {large} / {small}", b["get p50 us"] / a["get p50 us"], 1.3)
        targets.at_most(
            f"history {history}: keys() matching 100 keys, time at {large} / at {small}",
            b["keys prefix ms"] / a["keys prefix ms"],
            2.0,
        )
    print(f"- sweep of 10,000 expired keys in a {large} bucket: {sweep_ms:,.0f} ms (232-355 ms before this session)")
    save_results(
        "million",
        {"sizes": sizes_list, "ops": args.ops, "reps": args.reps, "rows": results, "sweep_ms": sweeps}
        | {"targets": targets.items},
    )


if __name__ == "__main__":
    asyncio.run(main())
