"""What a sweep costs: time and rows touched when 1% of a large bucket expires.

Builds buckets of ``--rows`` distinct keys (default 1,000,000) and of a tenth of
that, where 10,000 entries have expired — by per-key TTL (deadlines spread over
the whole bucket) or by bucket TTL (the oldest rows) — and times
``store.sweep()``. A sweep should cost O(rows expired), not O(bucket): both
sizes should take about the same time.

    python bench/bench_sweep.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import tempfile
import time
from pathlib import Path

import sqlkv
from sqlkv._storage import ops

EXPIRED = 10_000
NOW = 2_000_000_000 * 10**9


def clock() -> int:
    return NOW


async def build(path: Path, rows: int, mode: str) -> None:
    async with sqlkv.AsyncStore(path, clock=clock, auto_sweep=False) as store:
        await store.create_bucket("s", ttl=3600 if mode == "bucket-ttl" else None)
    rng = random.Random(1)
    expiring = set(rng.sample(range(rows), EXPIRED)) if mode == "per-key" else set()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("BEGIN")
    value = b"v" * 100
    batch = []
    for i in range(rows):
        if mode == "bucket-ttl":  # the first EXPIRED rows are two hours old, the rest fresh
            created, expires = (NOW - 7200 * 10**9 if i < EXPIRED else NOW - 60 * 10**9), None
        else:
            created, expires = NOW - 60 * 10**9, (NOW - 1 if i in expiring else None)
        batch.append((f"k.{i // 1000:04d}.{i:07d}", value, created, expires))
        if len(batch) == 10_000:
            conn.executemany('INSERT INTO "kv_1" (key, op, value, created, expires) VALUES (?, 1, ?, ?, ?)', batch)
            batch.clear()
    conn.executemany('INSERT INTO "kv_1" (key, op, value, created, expires) VALUES (?, 1, ?, ?, ?)', batch)
    conn.execute("COMMIT")
    conn.close()


async def measure(path: Path) -> tuple[float, int, int, int]:
    async with sqlkv.AsyncStore(path, clock=clock, auto_sweep=False) as store:
        kv = await store.bucket("s")
        before = await kv.status()
        start = time.perf_counter()
        expired = await store.sweep()
        elapsed = time.perf_counter() - start
        after = await kv.status()
        recounted = await kv._engine.read(ops.recount, kv._sql)  # type: ignore[attr-defined]  # (a bench looks inside)
        assert recounted == (after.values, after.bytes, after.keys)
    return elapsed, expired, before.values - after.values + expired, after.last_revision - before.last_revision


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    print(f"\n## Sweep of {EXPIRED:,} expired entries\n")
    print("| expiry | bucket rows | sweep time | keys expired | rows deleted | EXPIRE markers | per expired key |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        for mode in ("per-key", "bucket-ttl"):
            for rows in (args.rows // 10, args.rows):
                path = Path(folder) / f"{mode}-{rows}.db"
                await build(path, rows, mode)
                elapsed, expired, deleted, markers = await measure(path)
                print(
                    f"| {mode} | {rows:,} | {elapsed * 1000:,.0f} ms | {expired:,} | {deleted:,} | {markers:,} "
                    f"| {elapsed / max(expired, 1) * 1e6:,.0f} µs |"
                )


if __name__ == "__main__":
    asyncio.run(main())
