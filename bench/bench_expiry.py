"""How late expiry is, on the real clock: from a deadline passing to the EXPIRE entry a watcher receives.

Three cases: the first value of a fresh store's TTL bucket (before session 4: up to 60 s late, the sweeper
knew no deadline), per-key TTLs written by this store, and a per-key TTL written by another process that has
exited (the sweeper learns of it from the file). Prints the median and max lateness in ms of each.

    python bench/bench_expiry.py [--keys 20] [--ttl 0.3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import anyio

import sqlkv


async def lateness(store: sqlkv.AsyncStore, bucket: str, keys: int, ttl: float, writer: str) -> list[float]:
    """ms between each key's deadline and its EXPIRE entry's time (the sweep's commit)."""
    kv = await store.create_bucket(bucket, ttl=ttl if writer == "bucket" else None)
    written: dict[str, float] = {}
    late: list[float] = []
    async with kv.watch(updates_only=True) as watcher:
        if writer == "other process":
            script = (
                "import sqlkv, sys\nwith sqlkv.Store(sys.argv[1], auto_sweep=False) as s:\n"
                f"    kv = s.bucket({bucket!r})\n"
                f"    for i in range({keys}): kv.put(f'k.{{i}}', b'v', ttl={ttl})\n"
            )
            await anyio.run_process([sys.executable, "-c", script, store.path])
        else:
            for i in range(keys):
                await kv.put(f"k.{i}", b"v", ttl=ttl if writer == "per-key" else None)
        with anyio.fail_after(120):
            async for entry in watcher:
                if entry.operation is sqlkv.Operation.PUT:
                    written[entry.key] = entry.created.timestamp()
                elif entry.operation is sqlkv.Operation.EXPIRE:
                    late.append((entry.created.timestamp() - written[entry.key] - ttl) * 1000)
                    if len(late) == keys:
                        break
    return late


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keys", type=int, default=20)
    parser.add_argument("--ttl", type=float, default=0.3)
    args = parser.parse_args()
    print("\n## Expiry lateness on the real clock, ms after the deadline (median, max)\n")
    print("| case | median | max |")
    print("|---|---:|---:|")
    for case in ("bucket", "per-key", "other process"):
        with tempfile.TemporaryDirectory() as folder:
            async with sqlkv.AsyncStore(Path(folder) / "e.db") as store:
                late = await lateness(store, "b", args.keys, args.ttl, case)
        label = {
            "bucket": "bucket TTL, fresh store",
            "per-key": "per-key TTL",
            "other process": "per-key TTL, set by another process",
        }[case]
        print(f"| {label} | {statistics.median(late):.0f} | {max(late):.0f} |")


if __name__ == "__main__":
    anyio.run(main)
