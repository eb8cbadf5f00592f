"""Event-loop stalls while large values move: a probe task measures how late its ``sleep(0.001)`` wakes.

For values of 1, 16 and 64 MiB (the maximum), each operation runs ``--reps``
times while the probe runs on the same loop: put, get, history (two large
revisions), a watcher in this process receiving the value, and a watcher
receiving a value another process wrote (that process started beforehand: its
start-up is not measured). The figure is the probe's worst
lateness over the operation (and its p99): any time the loop could not run
because a thread held the GIL, or the loop itself copied or freed a value.
Target: no stall over 5 ms. JSON goes to bench/results/.

    python bench/bench_loop_lag.py [--reps 3] [--sizes 1,16,64]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
from common import Targets, save_results

import sqlkv

MiB = 1 << 20

CHILD = """
import sys, os, anyio, sqlkv
async def main():
    async with sqlkv.AsyncStore(sys.argv[1]) as store:
        kv = await store.bucket("lag")
        value = os.urandom(int(sys.argv[2]))
        print("ready", flush=True)
        sys.stdin.readline()
        await kv.put("remote", value)
anyio.run(main)
"""


async def with_probe(operation: Callable[[], Awaitable[Any]]) -> list[float]:
    """Run ``operation`` while a probe records, in ms, how late each of its 1 ms sleeps wakes."""
    lateness: list[float] = []
    done = anyio.Event()

    async def probe() -> None:
        while not done.is_set():
            start = time.perf_counter()
            await anyio.sleep(0.001)
            lateness.append((time.perf_counter() - start - 0.001) * 1e3)

    async with anyio.create_task_group() as tg:
        tg.start_soon(probe)
        await anyio.sleep(0.005)  # the probe is running
        await operation()
        await anyio.sleep(0.005)  # and whatever the operation left (a freed value) is measured too
        done.set()
    return lateness


async def measure(folder: Path, size: int, reps: int) -> dict[str, list[float]]:
    path = folder / f"lag-{size}.db"
    stalls: dict[str, list[float]] = {}
    async with sqlkv.AsyncStore(path) as store:
        kv = await store.create_bucket("lag", history=2)
        await kv.put("big", os.urandom(size))  # history() reads two large revisions from the first run on
        for _ in range(reps):
            value = os.urandom(size)

            async def put(value: bytes = value) -> None:
                await kv.put("big", value)

            async def get() -> None:
                assert len((await kv.get("big")).value) == size

            async def history() -> None:
                assert len(await kv.history("big")) == 2

            async def watch_local(value: bytes = value) -> None:
                async with kv.watch("big", updates_only=True) as watcher:
                    await kv.put("big", value)
                    async for entry in watcher:
                        assert len(entry.value) == size
                        break

            # The other process is started, has opened the store and made its value before the probe runs:
            # what is measured is its put reaching this process's watcher, not the spawn of a Python process.
            process = await anyio.open_process([sys.executable, "-c", CHILD, str(path), str(size)])
            assert process.stdout is not None and process.stdin is not None
            assert (await process.stdout.receive()).strip() == b"ready"

            async def watch_remote(process: Any = process) -> None:
                async with kv.watch("remote", updates_only=True) as watcher:
                    await process.stdin.send(b"go\n")
                    async for entry in watcher:
                        assert len(entry.value) == size
                        break

            del value
            for name, op in (
                ("put", put),
                ("get", get),
                ("history", history),
                ("watch (this process)", watch_local),
                ("watch (another process)", watch_remote),
            ):
                lateness = await with_probe(op)
                stalls.setdefault(f"{name} max", []).append(max(lateness))
                stalls.setdefault(f"{name} p99", []).append(sorted(lateness)[int(len(lateness) * 0.99)])
            await process.wait()
            await process.aclose()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return stalls


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--sizes", default="1,16,64", help="value sizes in MiB")
    args = parser.parse_args()
    sizes = [int(s) * MiB for s in args.sizes.split(",")]
    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            results[f"{size // MiB} MiB"] = await measure(Path(folder), size, args.reps)
    ops = [name[: -len(" max")] for name in next(iter(results.values())) if name.endswith(" max")]
    print(f"\n## Worst event-loop stall per operation (ms; median of {args.reps} runs' worst, p99 in brackets)\n")
    print("| value | " + " | ".join(ops) + " |")
    print("|---|" + "---:|" * len(ops))
    worst = 0.0
    for size, row in results.items():
        cells = []
        for op in ops:
            stall = statistics.median(row[f"{op} max"])
            worst = max(worst, max(row[f"{op} max"]))
            cells.append(f"{stall:.2f} ({statistics.median(row[f'{op} p99']):.2f})")
        print(f"| {size} | " + " | ".join(cells) + " |")
    targets = Targets()
    print()
    targets.at_most("worst event-loop stall over every run", worst, 5, " ms")
    save_results("loop_lag", {"reps": args.reps, "rows": results, "worst_ms": worst, "targets": targets.items})


if __name__ == "__main__":
    anyio.run(main)
