"""Run the issue-17 and issue-28 benchmarks one after another and print every target with what this run measured.

    python bench/targets.py [--reps 3] [--quick]

Runs ``bench_core``, ``bench_watch``, ``bench_idle``, ``bench_loop_lag``,
``bench_million`` (issue 17), then ``bench_reads`` and ``bench_handoff``
(issue 28) in turn (never two at once), each in its own process with the
peers it starts itself, then reads the JSON each wrote to bench/results/
and prints one table of every target: measured (median of ``--reps``; the
handoff latencies pool the samples of its ``--reps`` repetitions), goal,
met or not. ``--quick`` shrinks the workloads (a smoke run, not figures to
quote; the handoff bench then runs one repetition).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
QUICK_READS = ["--gets", "3000", "--batches", "30", "--scans", "6"]
QUICK_HANDOFF = ["--reps", "1", "--samples", "30", "--idle-samples", "2"]  # each 1 s-idle sample costs a second


def run(script: str, *args: str) -> Path:
    """Run one benchmark; return the JSON file it wrote."""
    started = time.time()
    print(f"\n# {script} {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, str(HERE / script), *args], check=True)
    name = script.removeprefix("bench_").removesuffix(".py")
    written = [p for p in (HERE / "results").glob(f"{name}-*.json") if p.stat().st_mtime >= started - 1]
    if not written:
        raise SystemExit(f"{script} wrote no results")
    return max(written)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    reps = str(args.reps)
    quick = args.quick
    files = [
        run("bench_core.py", "--reps", reps, *(["--ops", "1000"] if quick else [])),
        run("bench_watch.py", "--reps", reps, *(["--puts", "200", "--ops", "3000"] if quick else [])),
        run("bench_idle.py", "--seconds", "2" if quick else "20"),
        run("bench_loop_lag.py", "--reps", reps, *(["--sizes", "1,16"] if quick else [])),
        run("bench_million.py", "--reps", reps, *(["--max-keys", "100000", "--ops", "1000"] if quick else [])),
        run("bench_reads.py", "--reps", reps, *(QUICK_READS if quick else [])),
        run("bench_handoff.py", *(QUICK_HANDOFF if quick else ["--reps", reps])),
    ]
    print(f"\n## Every target of this run (medians of {reps})\n")
    print("| bench | target | measured | goal | |")
    print("|---|---|---:|---:|---|")
    missed = 0
    for path in files:
        data = json.loads(path.read_text())
        for t in data.get("targets", []):
            missed += not t["met"]
            verdict = "met" if t["met"] else "**missed**"
            measured, goal = f"{t['measured']:,.2f}{t['unit']}", f"{t['sense']} {t['goal']:g}{t['unit']}"
            print(f"| {data['meta']['bench']} | {t['label']} | {measured} | {goal} | {verdict} |")
    print(f"\n{missed} target(s) missed; results: " + ", ".join(p.name for p in files))


if __name__ == "__main__":
    main()
