"""What an idle store costs: CPU time of a process that holds a store open and does nothing, per second.

Cases: the process with no store at all (the floor of the method: on this VM the one wake-up at the end of the
measured sleep is charged ~20-30 ms), an AsyncStore with no watcher (its sweeper looks at the file every 5 s),
one with 10 idle watchers (the change feed waits for wake-up hints, with a safety look every 5 s, and the
sweeper relies on it), and the same with hints forced off (the feed polls ``PRAGMA data_version`` every
``poll_interval``: 10 ms, and 100 ms). Prints the percentage of one core each used over ``--seconds``; the JSON
goes to bench/results/.

    python bench/bench_idle.py [--seconds 20]
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import tempfile
import time
from pathlib import Path

import anyio
from common import Targets, save_results

import sqlkv


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def idle(path: Path, watchers: int, poll_interval: float, seconds: float) -> float:
    async with sqlkv.AsyncStore(path, poll_interval=poll_interval) as store:
        kv = await store.create_bucket("b", ttl=3600)  # a TTL bucket, so that the sweeper has a deadline to plan
        await kv.put("k", b"v")
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(watchers):
                await stack.enter_async_context(kv.watch())
            await anyio.sleep(0.5)  # settle
            start_cpu, start = cpu(), time.monotonic()
            await anyio.sleep(seconds)
            return (cpu() - start_cpu) / (time.monotonic() - start) * 100


async def bare(seconds: float) -> float:
    """The measurement's own floor: this process with no store, measured the same way (its last wake-up counts)."""
    await anyio.sleep(0.5)
    start_cpu, start = cpu(), time.monotonic()
    await anyio.sleep(seconds)
    return (cpu() - start_cpu) / (time.monotonic() - start) * 100


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    print(f"\n## An idle process holding a store, % of one core over {args.seconds:g} s\n")
    print("| case | CPU % |")
    print("|---|---:|")
    from sqlkv._engine import hints

    available = hints.AVAILABLE
    shares: dict[str, float] = {}
    floor = await bare(args.seconds)
    print(f"| no store at all (the measurement's floor: its own wake-up at the end) | {floor:.2f} |")
    shares["no store at all"] = floor
    for label, watchers, poll, use_hints in (
        ("no watcher", 0, 0.01, True),
        ("10 idle watchers, wake-up hints (default)", 10, 0.01, True),
        ("10 idle watchers, hints off, poll_interval 10 ms", 10, 0.01, False),
        ("10 idle watchers, hints off, poll_interval 100 ms", 10, 0.1, False),
    ):
        hints.AVAILABLE = available and use_hints
        with tempfile.TemporaryDirectory() as folder:
            share = await idle(Path(folder) / "i.db", watchers, poll, args.seconds)
        print(f"| {label} | {share:.2f} |")
        shares[label] = share
    hints.AVAILABLE = available
    default = shares["10 idle watchers, wake-up hints (default)"]
    targets = Targets()
    print()
    targets.at_most("an idle watching process, % of one core", default, 0.5, " %")
    save_results("idle", {"seconds": args.seconds, "cpu_percent": shares, "targets": targets.items})


if __name__ == "__main__":
    anyio.run(main)
