"""What to expect on macOS and Windows: the same figures in each platform mode (``SQLKV_PORTABLE``), one run each.

Each mode runs in a process of its own, started with its ``SQLKV_PORTABLE`` (the level is read once, at import):

- ``linux``: this machine's own facilities (eventfd inbox, abstract-socket hints, at-fork hooks);
- ``macos``: no eventfd, hints on Unix datagram sockets bound to paths in ``<store>-wake/``;
- ``windows``: ``SQLKV_PORTABLE=1``: no eventfd, no Unix sockets, no at-fork hooks, hints on loopback UDP;
- ``windows, polling``: the same with hints off (the feed polls every ``poll_interval``, 10 ms): the other choice
  for Windows, measured beside it.

Figures: a put in another process reaching a watcher here (p50 / p99 over ``--puts`` paced puts, in ms), the CPU
of an idle process holding a store with 10 watchers (% of one core over ``--idle`` s; the method's floor, a process
with no store, is printed once), and puts from 100 concurrent tasks (ops/s). One run of each: a comparison of modes
within one sitting, not a stable figure. The JSON goes to bench/results/.

    python bench/bench_platforms.py [--puts 300] [--idle 8] [--keys 5000]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from common import save_results

MODES = {"linux": "", "macos": "macos", "windows": "1", "windows, polling": "1"}

CHILD = """
import sys, time, anyio, sqlkv
async def main():
    async with sqlkv.AsyncStore(sys.argv[1]) as store:
        kv = await store.bucket("w")
        for i in range(int(sys.argv[2])):
            await kv.put(f"x.{i % 50}", repr(time.perf_counter()))
            await anyio.sleep(0.003)
anyio.run(main)
"""


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def cross_process(folder: Path, puts: int) -> tuple[float, float]:
    """A put in a child process until the watcher here holds it: p50, p99 in ms."""
    import sqlkv

    path = folder / "x.db"
    latencies: list[float] = []
    async with sqlkv.AsyncStore(path) as store:
        kv = await store.create_bucket("w")
        async with kv.watch(updates_only=True) as watcher, anyio.create_task_group() as tasks:
            tasks.start_soon(anyio.run_process, [sys.executable, "-c", CHILD, str(path), str(puts)])
            async for entry in watcher:
                latencies.append(time.perf_counter() - float(entry.value))
                if len(latencies) == puts:
                    break
    quantiles = statistics.quantiles(latencies, n=100)
    return statistics.median(latencies) * 1000, quantiles[98] * 1000


async def idle(folder: Path, seconds: float) -> float:
    """% of one core used by this process holding a store with 10 idle watchers."""
    import sqlkv

    async with sqlkv.AsyncStore(folder / "i.db") as store:
        kv = await store.create_bucket("b", ttl=3600)
        await kv.put("k", b"v")
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(10):
                await stack.enter_async_context(kv.watch())
            await anyio.sleep(0.5)
            start_cpu, start = cpu(), time.monotonic()
            await anyio.sleep(seconds)
            return (cpu() - start_cpu) / (time.monotonic() - start) * 100


async def floor(seconds: float) -> float:
    """The method's floor: no store at all, measured the same way."""
    await anyio.sleep(0.5)
    start_cpu, start = cpu(), time.monotonic()
    await anyio.sleep(seconds)
    return (cpu() - start_cpu) / (time.monotonic() - start) * 100


async def puts_100_tasks(folder: Path, keys: int) -> float:
    """Puts per second from 100 concurrent tasks (distinct keys)."""
    import sqlkv

    async with sqlkv.AsyncStore(folder / "p.db") as store:
        kv = await store.create_bucket("p")
        names = [f"k.{n}" for n in range(keys)]
        pending = iter(names)

        async def task() -> None:
            for key in pending:
                await kv.put(key, b"x" * 100)

        start = time.perf_counter()
        async with anyio.create_task_group() as tasks:
            for _ in range(100):
                tasks.start_soon(task)
        return keys / (time.perf_counter() - start)


async def one_mode(polling: bool, args: argparse.Namespace) -> dict[str, Any]:
    from sqlkv._engine import hints
    from sqlkv._runtime import platform

    if polling:
        hints.AVAILABLE = False
    with tempfile.TemporaryDirectory() as folder:
        p50, p99 = await cross_process(Path(folder), args.puts)
        share = await idle(Path(folder), args.idle)
        rate = await puts_100_tasks(Path(folder), args.keys)
    return {
        "level": platform.LEVEL,
        "eventfd": platform.EVENTFD,
        "at_fork": platform.AT_FORK,
        "wake": platform.WAKE if hints.AVAILABLE else "polling (10 ms)",
        "cross_p50_ms": p50,
        "cross_p99_ms": p99,
        "idle_cpu_pct": share,
        "put_100_tasks_per_s": rate,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--puts", type=int, default=300)
    parser.add_argument("--idle", type=float, default=8)
    parser.add_argument("--keys", type=int, default=5000)
    parser.add_argument("--one", choices=list(MODES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(anyio.run(one_mode, args.one.endswith("polling"), args)))
        return
    load = os.getloadavg()
    print(f"\n## Platform modes, one run each (load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})\n")
    print(f"idle floor (no store at all): {anyio.run(floor, args.idle):.2f} % of a core\n")
    print(
        "| mode | SQLKV_PORTABLE | loop wake-up | hints | cross-process p50 / p99 ms | idle CPU % | put, 100 tasks /s |"
    )
    print("|---|---|---|---|---:|---:|---:|")
    results: dict[str, Any] = {}
    for mode, level in MODES.items():
        argv = [sys.executable, __file__, "--one", mode, *_passed(args)]
        env = {**os.environ, "SQLKV_PORTABLE": level}
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, check=True)
        row = json.loads(done.stdout.strip().splitlines()[-1])
        results[mode] = row
        wake_up = "eventfd" if row["eventfd"] else "loop's own (call_soon_threadsafe)"
        print(
            f"| {mode} | {level or '(unset)'} | {wake_up} | {row['wake']} | "
            f"{row['cross_p50_ms']:.2f} / {row['cross_p99_ms']:.2f} | {row['idle_cpu_pct']:.2f} | "
            f"{row['put_100_tasks_per_s']:,.0f} |"
        )
    results["load_average"] = load
    save_results("platforms", results)


def _passed(args: argparse.Namespace) -> list[str]:
    return ["--puts", str(args.puts), "--idle", str(args.idle), "--keys", str(args.keys)]


if __name__ == "__main__":
    main()
