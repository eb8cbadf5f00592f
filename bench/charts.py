"""Draw the benchmark charts from the JSON runs in bench/results/ (never by hand): the newest run of each bench.

    python bench/charts.py            # writes bench/charts/*.png

Needs matplotlib (``pip install -e '.[bench]'``). Each chart names the run it
came from (date, commit, machine) below its title.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
CHARTS = HERE / "charts"

COLOURS = {
    "sqlkv": "#1f77b4",
    "raw sqlite3": "#7f7f7f",
    "aiosqlite": "#bcbd22",
    "NATS": "#2ca02c",
    "Redis": "#d62728",
    "diskcache": "#ff7f0e",
    "py-lmdb": "#8c564b",
}


def newest(bench: str) -> dict[str, Any] | None:
    runs = sorted(RESULTS.glob(f"{bench}-*.json"))
    return json.loads(runs[-1].read_text()) if runs else None


def provenance(run: dict[str, Any]) -> str:
    meta = run["meta"]
    where = f"{meta['machine']}, Python {meta['python']}, SQLite {meta['sqlite']}"
    return f"run {meta['date']}, commit {meta['commit']}, {where}"


def colour(system: str) -> str:
    return next((c for prefix, c in COLOURS.items() if system.startswith(prefix)), "#9467bd")


def finish(fig: Any, ax: Any, title: str, run: dict[str, Any], name: str) -> Path:
    ax.set_title(f"{title}\n{provenance(run)}", fontsize=10)
    fig.tight_layout()
    CHARTS.mkdir(exist_ok=True)
    path = CHARTS / name
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path.relative_to(HERE.parent)}")
    return path


def throughput(run: dict[str, Any]) -> Path:
    systems = [
        "sqlkv",
        "raw sqlite3 (floor)",
        "aiosqlite (1 hop/stmt)",
        "NATS KV (nats-py, loopback)",
        next((s for s in run["rows"] if s.startswith("Redis")), ""),
    ]
    systems = [s for s in systems if s in run["rows"]]
    measures = ["seq put", "100-task put", "1000-task put", "seq get", "100-task get"]
    fig, ax = plt.subplots(figsize=(10, 4.8))
    width = 0.8 / len(systems)
    for i, system in enumerate(systems):
        row = run["rows"][system]
        heights = [statistics.median(row[m]) / 1000 if m in row else 0 for m in measures]
        bars = ax.bar([x + i * width for x in range(len(measures))], heights, width, label=system, color=colour(system))
        ax.bar_label(bars, labels=[f"{h:.0f}" if h else "" for h in heights], fontsize=7, padding=1)
    ax.set_xticks([x + width * (len(systems) - 1) / 2 for x in range(len(measures))], measures)
    ax.set_ylabel("thousand ops/s (median)")
    ax.legend(fontsize=8)
    note = " (raw sqlite3: the same SQL on the calling thread; its task rows are batched transactions)"
    return finish(fig, ax, "Throughput, 10k keys, 100-byte values" + note, run, "throughput.png")


def watch_latency(run: dict[str, Any]) -> Path:
    fig, ax = plt.subplots(figsize=(10, 4.8))
    for system, quantiles in run["quantiles_us"].items():
        if "awaiting put" in system or "inline=False" in system:
            continue
        ys = [i / (len(quantiles) - 1) for i in range(len(quantiles))]
        style = ":" if "hints off" in system else "--" if "across" in system else "-"
        tint = "#6baed6" if "hints off" in system else colour(system.replace("NATS KV", "NATS"))
        ax.plot(quantiles, ys, style, label=system, color=tint)
    ax.set_xscale("log")
    ax.set_xlabel("µs from the start of the write until the watcher holds it (log scale)")
    ax.set_ylabel("fraction of changes")
    ax.axhline(0.99, color="#cccccc", linewidth=0.8)
    ax.legend(fontsize=7, loc="lower right")
    title = "Watch latency distribution (solid: same process; dashed: across processes)"
    return finish(fig, ax, title, run, "watch.png")


def bucket_size(run: dict[str, Any]) -> Path:
    fig, ax = plt.subplots(figsize=(10, 4.8))
    for history, style in ((1, "-"), (5, "--")):
        for measure, col in (("seq get/s", "#1f77b4"), ("100-task get/s", "#17becf"), ("100-task put/s", "#ff7f0e")):
            xs, ys = [], []
            for size in run["sizes"]:
                row = run["rows"].get(f"history {history}, {size:,} keys")
                if row:
                    xs.append(size)
                    ys.append(statistics.median(row[measure]) / 1000)
            ax.plot(xs, ys, style, marker="o", color=col, label=f"{measure[:-2]}, history {history}")
    ax.set_xscale("log")
    ax.set_xlabel("keys in the bucket (log scale)")
    ax.set_ylabel("thousand ops/s (median)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    return finish(fig, ax, "Throughput against bucket size (100-byte values)", run, "bucket_size.png")


def loop_lag(run: dict[str, Any]) -> Path:
    sizes = list(run["rows"])
    ops = [name[: -len(" max")] for name in run["rows"][sizes[0]] if name.endswith(" max")]
    fig, ax = plt.subplots(figsize=(10, 4.8))
    width = 0.8 / len(sizes)
    for i, size in enumerate(sizes):
        heights = [statistics.median(run["rows"][size][f"{op} max"]) for op in ops]
        ax.bar([x + i * width for x in range(len(ops))], heights, width, label=f"{size} value")
    ax.axhline(5, color="#d62728", linewidth=1, linestyle="--", label="target: 5 ms")
    ax.set_xticks([x + width * (len(sizes) - 1) / 2 for x in range(len(ops))], ops)
    ax.set_ylabel("worst event-loop stall, ms (median of runs)")
    ax.legend(fontsize=8)
    return finish(fig, ax, "Event-loop stalls while large values move", run, "loop_lag.png")


def reads(run: dict[str, Any]) -> Path:
    """Keys read per second, per measure: sqlkv (sync and async) beside raw sqlite3, diskcache and py-lmdb."""
    medians: dict[str, dict[str, dict[str, float]]] = run["medians"]
    measures = list(dict.fromkeys(m for side in medians.values() for per in side.values() for m in per))
    fig, axes = plt.subplots(len(measures), 1, figsize=(11, 2.2 + 1.6 * len(measures)), squeeze=False)
    for ax, measure in zip(axes[:, 0], measures):
        bars = [
            (system + (" (on the loop)" if side == "async" and not system.startswith("sqlkv") else ""), value, side)
            for side, per_system in medians.items()
            for system, per in per_system.items()
            if (value := per.get(measure))
        ]
        labels = [label for label, _, _ in bars]
        heights = [value / 1000 for _, value, _ in bars]
        drawn = ax.barh(labels, heights, color=[colour(label) for label in labels])
        for bar, (_, _, side) in zip(drawn, bars):
            if side == "async":
                bar.set_hatch("//")
        ax.bar_label(drawn, labels=[f"{h:,.0f}" for h in heights], fontsize=7, padding=2)
        ax.invert_yaxis()
        ax.tick_params(axis="y", labelsize=7)
        ax.set_xlabel(
            f"{measure}: thousand keys read per second (median)" + (", log scale" if measure == "get" else "")
        )
        if measure == "get":
            ax.set_xscale("log")
            thousands = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}")
            ax.xaxis.set_major_formatter(thousands)
            ax.xaxis.set_minor_formatter(thousands)
            ax.tick_params(axis="x", which="both", labelsize=7)
    title = f"Reads against their floors, {run['keys']:,} keys, {run['value_bytes']}-byte values (hatched: async)"
    return finish(fig, axes[0, 0], title, run, "reads.png")


HANDOFF_COLOURS = {"sqlkv, AsyncStore": "#1f77b4", "sqlkv, sync Store": "#17becf", "Redis": "#d62728"}


def handoff(run: dict[str, Any]) -> Path:
    """p50 (solid) and p99 (hatched) of a change crossing processes, per cadence and system."""
    latency: dict[str, dict[str, dict[str, Any]]] = run["latency_us"]
    cadences = list(latency)
    systems = list(dict.fromkeys(s for per in latency.values() for s in per))
    fig, ax = plt.subplots(figsize=(10, 4.8))
    width = 0.8 / (2 * len(systems))
    for i, system in enumerate(systems):
        tint = next((c for prefix, c in HANDOFF_COLOURS.items() if system.startswith(prefix)), "#9467bd")
        for j, quantile in enumerate(("p50", "p99")):
            heights = [latency[c][system][quantile] if system in latency[c] else 0 for c in cadences]
            xs = [x + (2 * i + j) * width for x in range(len(cadences))]
            label = f"{system} {quantile}"
            bars = ax.bar(xs, heights, width, label=label, color=tint, alpha=1 if j == 0 else 0.55)
            if j:
                for bar in bars:
                    bar.set_hatch("//")
            ax.bar_label(bars, labels=[f"{h:,.0f}" if h else "" for h in heights], fontsize=6, padding=1)
    samples = [max(f["n"] for f in latency[c].values()) for c in cadences]
    ticks = [f"{c}\n(n = {n})" for c, n in zip(cadences, samples)]
    ax.set_xticks([x + width * (2 * len(systems) - 1) / 2 for x in range(len(cadences))], ticks)
    ax.set_yscale("log")
    ax.set_ylabel("µs from put() called in A to B's watcher holding it (log)")
    ax.legend(fontsize=7)
    return finish(
        fig, ax, "A change crossing processes: sqlkv against Redis SET+PUBLISH to pub/sub", run, "handoff.png"
    )


def main() -> None:
    charts = {
        "core": throughput,
        "watch": watch_latency,
        "million": bucket_size,
        "loop_lag": loop_lag,
        "reads": reads,
        "handoff": handoff,
    }
    for bench, draw in charts.items():
        run = newest(bench)
        if run is None:
            print(f"no {bench} run in bench/results/: run bench/bench_{bench}.py first")
        else:
            draw(run)


if __name__ == "__main__":
    main()
