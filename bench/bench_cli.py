"""How long one `sqlkv` command takes from start to exit, against the interpreter starting with sqlite3 and argparse.

A CLI command's time is mostly the interpreter starting and importing: the baseline is
``python -c "import sqlite3, argparse"`` on the same interpreter, the least any Python CLI on SQLite pays.
Measured: ``sqlkv kv get BUCKET KEY`` and ``sqlkv kv put BUCKET KEY VALUE`` on a small store (one bucket,
100 keys, history 1, so the store does not grow). Each process is timed from spawn to exit.

Honest and repeatable: one interpreter for everything (this one, ``sys.executable``, running the ``sqlkv``
script beside it, else ``python -m sqlkv.cli``), bytecode compiled first (``compileall``: a user's install has
it); warm-up runs so that files are in the page cache; then ``--runs`` paired runs: each command run right
after (or, every other round, right before) a run of the baseline, and the ratio taken within the pair, so
that drift of a shared machine falls on both sides of each ratio. Figures are medians (min..max) in
milliseconds and the median of the paired ratios; the goal is a median ratio at most 2.5x.

    python bench/bench_cli.py [--runs 15] [--warmup 3]
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
    parser.add_argument("--runs", type=int, default=15, help="paired runs of each command with the baseline")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs of each command first")
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
        import compileall

        compileall.compile_dir(str(Path(sqlkv.__file__).parent), quiet=1)
        for _ in range(options.warmup):
            for name in names:
                time_once(commands[name])
        baseline_name = names[0]
        times: dict[str, list[float]] = {name: [] for name in names}
        ratios: dict[str, list[float]] = {name: [] for name in names[1:]}
        for round_ in range(options.runs):
            for name in names[1:]:
                pair = [baseline_name, name] if round_ % 2 == 0 else [name, baseline_name]
                measured = {one: time_once(commands[one]) for one in pair}
                for one, seconds in measured.items():
                    times[one].append(seconds)
                ratios[name].append(measured[name] / measured[baseline_name])

    print(f"\n## One CLI command, start to exit ({options.runs} paired runs, medians)\n")
    print(f"interpreter: {sys.executable} (Python {sys.version.split()[0]}); sqlkv: {' '.join(cli_command())}")
    print(f"cpus: {os.cpu_count()}\n")
    print("| command | median ms (min..max) | median of paired ratios |")
    print("|---|---:|---:|")
    for name in names:
        values = times[name]
        cells = f"{statistics.median(values) * 1e3:.1f} ({min(values) * 1e3:.1f}..{max(values) * 1e3:.1f})"
        ratio = statistics.median(ratios[name]) if name in ratios else 1.0
        print(f"| {name} | {cells} | {ratio:.2f}x |")
    print()
    for name in names[1:]:
        ratio = statistics.median(ratios[name])
        verdict = "ok" if ratio <= GOAL else "ABOVE GOAL"
        print(f"- {name}: {ratio:.2f}x the baseline (goal <= {GOAL}x) {verdict}")


if __name__ == "__main__":
    main()
