"""How long one `sqlkv` command takes from start to exit, against the interpreter starting with sqlite3 and argparse.

A CLI command's time is mostly the interpreter starting and importing: the baseline is
``python -c "import sqlite3, argparse"`` on the same interpreter, the least any Python CLI on SQLite pays.
Measured: ``sqlkv kv get BUCKET KEY`` and ``sqlkv kv put BUCKET KEY VALUE`` on a small store (one bucket,
100 keys, history 1, so the store does not grow). Each process is timed from spawn to exit.

Honest and repeatable: one interpreter for everything (this one, ``sys.executable``, running the ``sqlkv``
script beside it, else ``python -m sqlkv.cli``); warm-up runs first so that files and bytecode are in the page cache;
then ``--runs`` rounds in which every command runs once, in an order that rotates from round to round, so
drift of the machine falls on all of them alike. Figures are medians (min..max) in milliseconds; the goal is a
median at most 2.5x the baseline's.

    python bench/bench_cli.py [--runs 40] [--warmup 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlkv

GOAL = 2.5
"""The most a command's median may be, as a multiple of the baseline's."""


def cli_command() -> list[str]:
    """The ``sqlkv`` console script of this interpreter's environment, run by this interpreter (whatever its
    ``#!`` line says), else ``python -m sqlkv.cli``."""
    script = Path(sys.executable).parent / "sqlkv"
    return [sys.executable, str(script)] if script.exists() else [sys.executable, "-m", "sqlkv.cli"]


def make_store(path: Path) -> None:
    with sqlkv.Store(path) as store:
        kv = store.create_bucket("bench", history=1)
        for i in range(100):
            kv.put(f"key.{i}", f"value {i}")


def time_once(argv: list[str]) -> float:
    """Seconds from spawning ``argv`` to its exit; the command must succeed."""
    start = time.perf_counter()
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.decode(errors='replace')}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=40, help="timed rounds (each command once per round)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed runs of each command first")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sqlkv-bench-cli-") as folder:
        db = Path(folder) / "bench.db"
        make_store(db)
        cli = [*cli_command(), "--db", str(db)]
        commands = {
            'python -c "import sqlite3, argparse"': [sys.executable, "-c", "import sqlite3, argparse"],
            "sqlkv kv get bench key.7": [*cli, "kv", "get", "bench", "key.7"],
            "sqlkv kv put bench key.7 value": [*cli, "kv", "put", "bench", "key.7", "value"],
        }
        names = list(commands)
        for _ in range(options.warmup):
            for name in names:
                time_once(commands[name])
        times: dict[str, list[float]] = {name: [] for name in names}
        for round_ in range(options.runs):
            shift = round_ % len(names)
            for name in names[shift:] + names[:shift]:
                times[name].append(time_once(commands[name]))

    baseline = statistics.median(times[names[0]])
    print(f"\n## One CLI command, start to exit ({options.runs} interleaved rounds, medians)\n")
    print(f"interpreter: {sys.executable} (Python {sys.version.split()[0]}); sqlkv: {' '.join(cli_command())}")
    print(f"cpus: {os.cpu_count()}\n")
    print("| command | median ms (min..max) | x baseline |")
    print("|---|---:|---:|")
    for name in names:
        values = times[name]
        middle = statistics.median(values)
        cells = f"{middle * 1e3:.1f} ({min(values) * 1e3:.1f}..{max(values) * 1e3:.1f})"
        print(f"| {name} | {cells} | {middle / baseline:.2f}x |")
    print()
    for name in names[1:]:
        ratio = statistics.median(times[name]) / baseline
        verdict = "ok" if ratio <= GOAL else "ABOVE GOAL"
        print(f"- {name}: {ratio:.2f}x the baseline (goal <= {GOAL}x) {verdict}")


if __name__ == "__main__":
    main()
