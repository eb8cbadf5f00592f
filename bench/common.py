"""Shared helpers for the benchmarks: workload, timing, medians and report tables."""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "support"))  # nats_server

KEYS = [f"k.{i // 100:04d}.{i:06d}" for i in range(10_000)]
VALUE = os.urandom(100)

T = TypeVar("T")


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


def _rotated(names: list[str], turn: int) -> list[str]:
    """``names`` starting at ``turn`` (modulo their count): who goes first changes every round."""
    first = turn % len(names)
    return names[first:] + names[:first]


def take_turns(
    ops: Mapping[str, Callable[[T], object]],
    items: Sequence[T],
    rounds: int,
    share: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """Items per second of each system, the systems taking turns over ``rounds`` chunks of ``items``.

    The machine drifts by tens of percent within seconds: in each round every system does one chunk of the
    items, in a rotating order, and its figure is its total items over its total time, so every system is
    measured across the same stretch of time. ``share`` gives a slow system a fraction of each chunk.
    """
    names = list(ops)
    spent = dict.fromkeys(names, 0.0)
    done = dict.fromkeys(names, 0)
    step = max(1, len(items) // rounds)
    for turn in range(rounds):
        chunk = items[turn * step : (turn + 1) * step]
        for name in _rotated(names, turn):
            op = ops[name]
            part = chunk[: max(1, int(len(chunk) * share.get(name, 1.0)))] if share else chunk
            start = time.perf_counter()
            for item in part:
                op(item)
            spent[name] += time.perf_counter() - start
            done[name] += len(part)
    return {name: done[name] / spent[name] for name in names}


async def take_turns_async(
    awaited: Mapping[str, Callable[[T], Awaitable[object]]],
    plain: Mapping[str, Callable[[T], object]],
    items: Sequence[T],
    rounds: int,
) -> dict[str, float]:
    """:func:`take_turns` on the running event loop: ``awaited`` ops are awaited one after another, ``plain``
    ops (a raw floor in the same loop) are called the same way, without awaits."""
    names = [*awaited, *plain]
    spent = dict.fromkeys(names, 0.0)
    done = dict.fromkeys(names, 0)
    step = max(1, len(items) // rounds)
    for turn in range(rounds):
        chunk = items[turn * step : (turn + 1) * step]
        for name in _rotated(names, turn):
            start = time.perf_counter()
            if name in awaited:
                coro_op = awaited[name]
                for item in chunk:
                    await coro_op(item)
            else:
                op = plain[name]
                for item in chunk:
                    op(item)
            spent[name] += time.perf_counter() - start
            done[name] += len(chunk)
    return {name: done[name] / spent[name] for name in names}


QUANTILES = 200


def quantiles(samples: list[float]) -> list[float]:
    """``QUANTILES`` evenly spaced quantiles of ``samples`` (seconds) in µs, then the max (what latency charts draw)."""
    ordered = sorted(samples)
    return [ordered[min(len(ordered) - 1, i * len(ordered) // QUANTILES)] * 1e6 for i in range(QUANTILES)] + [
        ordered[-1] * 1e6
    ]


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    """p50, p99 and max of ``samples`` (seconds), in µs."""
    ordered = sorted(samples)
    return (
        ordered[len(ordered) // 2] * 1e6,
        ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e6,
        ordered[-1] * 1e6,
    )


def print_table(title: str, rows: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, float]]:
    """Print median ops/s (with min..max) per system and measurement; return the medians."""
    seen = list(dict.fromkeys(m for per in rows.values() for m in per))  # first seen first
    measures = sorted(seen, key=lambda m: (list(_ORDER).index(m), 0) if m in _ORDER else (99, seen.index(m)))
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
_ORDER += ("get", "get_many(100)", "entries() of 1,000")  # bench_reads


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
