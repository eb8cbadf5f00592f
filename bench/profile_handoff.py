"""Where a change crossing processes spends its time: put() in process A until B's watcher holds the entry.

A child process (sync ``Store``) puts one key every ``--interval`` seconds, taking ``time.perf_counter()`` (the
shared CLOCK_MONOTONIC) just before ``put`` and after it returned; this process watches with an ``AsyncStore``
and marks each step of its wake-up path by wrapping the functions that take it (the poller's ``wait`` for a
hint, its read of the new rows, the hand-off to the loop). Medians in µs:

    python bench/profile_handoff.py [--puts 150] [--interval 0.02]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlkv
from sqlkv._engine import hints
from sqlkv._storage import changes
from sqlkv._watch import feed

CHILD = """
import sys, time, sqlkv
with sqlkv.Store(sys.argv[1]) as store:
    kv = store.bucket("w")
    for i in range(int(sys.argv[2])):
        time.sleep(float(sys.argv[3]))
        before = time.perf_counter()
        kv.put(f"x.{i}", repr(before))
        print(before, time.perf_counter(), flush=True)
"""

marks: dict[str, float] = {}


def instrument() -> None:
    """Wrap the steps of the wake-up path so that each notes when it happened."""
    wait, rows_after, fan_out = hints.HintListener.wait, changes.rows_after, feed._fan_out

    def woke(self: hints.HintListener, timeout: float) -> bool:
        hinted = wait(self, timeout)
        marks["woke"] = time.perf_counter()
        return hinted

    def read(*args: Any) -> Any:
        marks.setdefault("read", time.perf_counter())
        result = rows_after(*args)
        marks["read_done"] = time.perf_counter()
        return result

    def handed(*args: Any) -> None:
        marks["loop"] = time.perf_counter()
        fan_out(*args)

    hints.HintListener.wait = woke  # type: ignore[method-assign]
    changes.rows_after = read
    feed._fan_out = handed
    feed.changes.rows_after = read  # type: ignore[attr-defined]


async def watch(path: Path, puts: int, interval: float) -> tuple[list[dict[str, float]], list[tuple[float, float]]]:
    seen: list[dict[str, float]] = []
    async with sqlkv.AsyncStore(path) as store:
        kv = await store.create_bucket("w")
        async with kv.watch(updates_only=True) as watcher:
            child = subprocess.Popen(
                [sys.executable, "-c", CHILD, str(path), str(puts), str(interval)], stdout=subprocess.PIPE, text=True
            )
            async for entry in watcher:
                seen.append({**marks, "put": float(entry.value), "got": time.perf_counter()})
                marks.clear()
                if len(seen) == puts:
                    break
            out, _ = child.communicate()
    writer = [(float(a), float(b)) for a, b in (line.split() for line in out.splitlines() if line.strip())]
    return seen, writer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--puts", type=int, default=150)
    parser.add_argument("--interval", type=float, default=0.02)
    args = parser.parse_args()
    instrument()
    with tempfile.TemporaryDirectory() as folder:
        seen, writer = asyncio.run(watch(Path(folder) / "h.db", args.puts, args.interval))
    seen, writer = seen[5:], writer[5:]  # (the first ones start the child's imports and connections)

    def median(values: list[float]) -> str:
        return f"{statistics.median(values) * 1e6:,.0f}"

    steps = [
        ("A: put() called -> put() returned (commit, hint sent before it returns)", [b - a for a, b in writer]),
        ("A: put() called -> B's poller woken by the hint", [s["woke"] - s["put"] for s in seen]),
        ("B: woken -> reading the new rows", [s["read"] - s["woke"] for s in seen]),
        ("B: reading the new rows (rows_after)", [s["read_done"] - s["read"] for s in seen]),
        ("B: rows read -> on the loop (posted to its inbox)", [s["loop"] - s["read_done"] for s in seen]),
        ("B: on the loop -> the watcher's `async for` has it", [s["got"] - s["loop"] for s in seen]),
        ("end to end", [s["got"] - s["put"] for s in seen]),
    ]
    print(
        f"\n## A change crossing processes, step by step (µs, medians of {len(seen)}; one put every "
        f"{args.interval * 1000:g} ms)\n"
    )
    print("| step | µs |")
    print("|---|---:|")
    for label, values in steps:
        print(f"| {label} | {median(values)} |")


if __name__ == "__main__":
    main()
