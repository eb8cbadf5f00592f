"""Shared helpers for the benchmarks: workload, timing, medians and report tables."""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "support"))  # nats_server

KEYS = [f"k.{i // 100:04d}.{i:06d}" for i in range(10_000)]
VALUE = os.urandom(100)


def random_keys(count: int, seed: int = 7) -> list[str]:
    """``count`` keys drawn uniformly (with repetition) from the 10k key set."""
    rng = random.Random(seed)
    return [rng.choice(KEYS) for _ in range(count)]


def median(values: list[float]) -> float:
    return statistics.median(values)


async def time_sequential(op: Callable[[str], Awaitable[Any]], keys: list[str]) -> float:
    """Ops per second of awaiting ``op`` once per key, one after another."""
    start = time.perf_counter()
    for key in keys:
        await op(key)
    return len(keys) / (time.perf_counter() - start)


async def time_concurrent(op: Callable[[str], Awaitable[Any]], keys: list[str], tasks: int = 100) -> float:
    """Ops per second with ``tasks`` tasks sharing the keys."""
    import anyio

    chunks = [keys[i::tasks] for i in range(tasks)]

    async def worker(chunk: list[str]) -> None:
        for key in chunk:
            await op(key)

    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for chunk in chunks:
            tg.start_soon(worker, chunk)
    return len(keys) / (time.perf_counter() - start)


def time_sync(op: Callable[[str], Any], keys: list[str]) -> float:
    start = time.perf_counter()
    for key in keys:
        op(key)
    return len(keys) / (time.perf_counter() - start)


def print_table(title: str, rows: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, float]]:
    """Print median ops/s (with min..max) per system and measurement; return the medians."""
    measures = sorted(
        {m for per in rows.values() for m in per}, key=lambda m: list(_ORDER).index(m) if m in _ORDER else 99
    )
    print(f"\n## {title}\n")
    print("| system | " + " | ".join(measures) + " |")
    print("|---|" + "---:|" * len(measures))
    medians: dict[str, dict[str, float]] = {}
    for system, per in rows.items():
        medians[system] = {m: median(v) for m, v in per.items()}
        cells = []
        for m in measures:
            if m in per:
                v = per[m]
                cells.append(f"{median(v):,.0f} ({min(v):,.0f}..{max(v):,.0f})")
            else:
                cells.append("-")
        print(f"| {system} | " + " | ".join(cells) + " |")
    return medians


_ORDER = ("seq put", "100-task put", "1000-task put", "seq get", "100-task get")


def check(label: str, ratio: float, target: float) -> bool:
    verdict = "ok" if ratio >= target else "BELOW TARGET"
    print(f"- {label}: {ratio:.2f}x (target >= {target}x) {verdict}")
    return ratio >= target


def save_results(bench: str, payload: dict[str, Any]) -> Path:
    """Write one run's figures as JSON in ``bench/results/`` (charts are drawn from these files only)."""
    import json
    import platform
    import sqlite3
    import subprocess
    from datetime import datetime, timezone

    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    now = datetime.now(timezone.utc)
    meta = {
        "bench": bench,
        "date": now.isoformat(timespec="seconds"),
        "commit": commit,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "argv": sys.argv[1:],
    }
    folder = here / "results"
    folder.mkdir(exist_ok=True)
    path = folder / f"{bench}-{now:%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps({"meta": meta, **payload}, indent=1) + "\n")
    print(f"\nresults: {path.relative_to(here.parent)}")
    return path


class Targets:
    """The goals a benchmark checks: each printed as it is measured, and saved with the run's JSON."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def at_least(self, label: str, measured: float, goal: float, unit: str = "x") -> bool:
        return self._add(label, measured, goal, unit, measured >= goal, ">=")

    def at_most(self, label: str, measured: float, goal: float, unit: str = "x") -> bool:
        return self._add(label, measured, goal, unit, measured <= goal, "<=")

    def _add(self, label: str, measured: float, goal: float, unit: str, met: bool, sense: str) -> bool:
        verdict = "ok" if met else "MISSED"
        print(f"- {label}: {measured:,.2f}{unit} (target {sense} {goal:g}{unit}) {verdict}")
        self.items.append(
            {"label": label, "measured": measured, "goal": goal, "unit": unit, "sense": sense, "met": met}
        )
        return met
