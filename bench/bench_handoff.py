"""A change crossing processes, end to end (issue 28): sqlkv against Redis pub/sub, at three cadences.

Process A, a child the bench starts, writes; process B, the bench itself, watches. The time is taken in A just
before ``put`` is called (``time.perf_counter``, CLOCK_MONOTONIC, the same clock in every process) and sent in
the value; B takes it again when the entry reaches its watcher (``async for entry in kv.watch(...)`` of an
``AsyncStore``, default options). Latency is B's time minus A's, in µs: p50, p99 and max.

Cadences, each measured with every system in the same run:

- **every 20 ms**: one put every 20 ms on a fixed schedule, every put measured (``--samples`` per run);
- **after 20 ms idle**: rounds of a burst of ``--burst`` puts back to back, then 20 ms with nothing written;
  only the first put of a round (the first after the idleness) is measured (``--samples`` per run);
- **after 1 s idle**: the same with 1 s of idleness, ``--idle-samples`` measured puts per run (default 15: each
  costs a second).

A starts with 3 unmeasured puts (its own warm-up); B ignores unmeasured entries. Systems:

- sqlkv, writer an ``AsyncStore`` (``await kv.put``) in A;
- sqlkv, writer a sync ``Store`` (``kv.put``) in A: a desktop application's writer;
- Redis: what applications build with it, a ``SET`` and a ``PUBLISH`` of the value in one pipeline (redis-py,
  sync, in A), received by a redis-py asyncio pub/sub subscriber (``async for`` over ``listen()``) in B; the
  server on a Unix socket with AOF fsynced every second (``peers.start_redis``).

Each run is one child process; in each repetition, for each cadence, the systems run one after another in an
order rotating with the repetition. p50/p99/max are over the samples of all ``--reps`` repetitions pooled
(per-repetition figures are in the JSON). Targets: sqlkv's p50 and p99 at or below Redis's, printed as
Redis / sqlkv (>= 1.0 met).

    python bench/bench_handoff.py [--samples 200] [--idle-samples 15] [--burst 5] [--reps 3] [--no-redis]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import Process
from common import Targets, percentiles, quantiles, save_results
from peers import RedisServer, start_redis

import sqlkv

WARM_UP = 3
UNMEASURED = "w"

# The schedule every child runs; {aw} is "await " in an async child. put(key, text) writes; sleep(seconds) waits.
# Measured puts go to keys of their own: in a bucket of history 1, a row replaced before the watcher read it is
# gone (the watcher sees the key's newest revision), so an unmeasured put must never replace a measured one.
SCHEDULE = """
{define} schedule(put, sleep):
    cadence, seconds, samples, burst = sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    for i in range({warm_up}):
        {aw}put(f"w.{{i}}", "{unmeasured}")
        {aw}sleep(0.02)
    if cadence == "steady":
        start = time.perf_counter()
        for i in range(samples):
            {aw}sleep(max(0.0, start + i * seconds - time.perf_counter()))
            {aw}put(f"x.{{i % 50}}", repr(time.perf_counter()))
    else:
        for i in range(samples):
            {aw}sleep(seconds)
            {aw}put(f"x.{{i % 50}}", repr(time.perf_counter()))
            for j in range(burst - 1):
                {aw}put(f"b.{{j}}", "{unmeasured}")
"""


def _schedule(is_async: bool) -> str:
    aw, define = ("await ", "async def") if is_async else ("", "def")
    return SCHEDULE.format(aw=aw, define=define, warm_up=WARM_UP, unmeasured=UNMEASURED)


ASYNC_CHILD = (
    "import sys, time, anyio, sqlkv\n"
    + _schedule(True)
    + """
async def main():
    async with sqlkv.AsyncStore(sys.argv[1]) as store:
        kv = await store.bucket("h")
        await schedule(kv.put, anyio.sleep)
anyio.run(main)
"""
)

SYNC_CHILD = (
    "import sys, time, sqlkv\n"
    + _schedule(False)
    + """
with sqlkv.Store(sys.argv[1]) as store:
    schedule(store.bucket("h").put, time.sleep)
"""
)

REDIS_CHILD = (
    "import sys, time, redis\n"
    + _schedule(False)
    + """
client = redis.Redis(unix_socket_path=sys.argv[1])
def put(key, value):
    pipe = client.pipeline(transaction=False)
    pipe.set(key, value)
    pipe.publish("h", value)
    pipe.execute()
schedule(put, time.sleep)
client.close()
"""
)

ASYNC_WRITER = "sqlkv, AsyncStore writer"
SYNC_WRITER = "sqlkv, sync Store writer (desktop)"
REDIS = "Redis SET+PUBLISH -> pub/sub subscriber"
SQLKV_ROWS = (ASYNC_WRITER, SYNC_WRITER)

Cadence = tuple[str, str, float, int]
"""(label, kind, seconds, samples): kind "steady" puts every ``seconds``; "idle" waits ``seconds`` first."""

Samples = dict[str, dict[str, list[list[float]]]]
"""cadence -> system -> one list of latencies (seconds) per repetition."""


async def watch_sqlkv(path: Path, child: str, args: list[str], samples: int, deadline: float) -> list[float]:
    """Latencies of ``samples`` measured puts by ``child`` (a writer of bucket "h"), seen by a watcher here."""
    got: list[float] = []
    async with sqlkv.AsyncStore(path) as store:
        kv = await store.bucket("h")
        async with kv.watch(updates_only=True) as watcher:
            process = await anyio.open_process(
                [sys.executable, "-c", child, str(path), *args], stdout=None, stderr=None
            )
            try:
                with anyio.fail_after(deadline):
                    async for entry in watcher:
                        seen = time.perf_counter()
                        if entry.value != UNMEASURED.encode():
                            got.append(seen - float(entry.value))
                            if len(got) == samples:
                                break
            except TimeoutError:
                raise RuntimeError(f"only {len(got)} of {samples} changes arrived before the deadline") from None
            finally:
                await _end(process, len(got) == samples)
    return got


async def watch_redis(server: RedisServer, args: list[str], samples: int, deadline: float) -> list[float]:
    """The same with Redis: the child's SET+PUBLISH pipelines, received by a pub/sub subscriber here."""
    client: Any = server.client()
    pubsub = client.pubsub()
    got: list[float] = []
    try:
        await pubsub.subscribe("h")
        messages = pubsub.listen()
        confirmed = await messages.__anext__()
        assert confirmed["type"] == "subscribe", confirmed
        process = await anyio.open_process(
            [sys.executable, "-c", REDIS_CHILD, server.socket, *args], stdout=None, stderr=None
        )
        try:
            with anyio.fail_after(deadline):
                async for message in messages:
                    seen = time.perf_counter()
                    if message["type"] == "message" and message["data"] != UNMEASURED.encode():
                        got.append(seen - float(message["data"]))
                        if len(got) == samples:
                            break
        except TimeoutError:
            raise RuntimeError(f"only {len(got)} of {samples} messages arrived before the deadline") from None
        finally:
            await _end(process, len(got) == samples)
            await messages.aclose()
    finally:
        await pubsub.aclose()
        await client.aclose()
    return got


async def _end(process: Process, complete: bool) -> None:
    """Wait for the writer to exit (it has nothing left to write once every sample arrived), or end it."""
    if not complete and process.returncode is None:
        process.kill()
    await process.wait()
    await process.aclose()
    if complete and process.returncode != 0:
        raise RuntimeError(f"the writer exited with {process.returncode}")


async def run(path: Path, redis: RedisServer | None, cadences: list[Cadence], burst: int, reps: int) -> Samples:
    """Every (cadence, system) run of every repetition: the latencies of each, per repetition."""
    systems: dict[str, Callable[[list[str], int, float], Awaitable[list[float]]]] = {
        ASYNC_WRITER: lambda args, n, deadline: watch_sqlkv(path, ASYNC_CHILD, args, n, deadline),
        SYNC_WRITER: lambda args, n, deadline: watch_sqlkv(path, SYNC_CHILD, args, n, deadline),
    }
    if redis is not None:
        systems[REDIS] = lambda args, n, deadline: watch_redis(redis, args, n, deadline)
    names = list(systems)
    found: Samples = {}
    for rep in range(reps):
        for index, (label, kind, seconds, samples) in enumerate(cadences):
            args = [kind, str(seconds), str(samples), str(burst)]
            deadline = 10 + samples * (seconds + 0.01 * burst) + WARM_UP * 0.02  # start-up included
            first = (rep + index) % len(names)
            for name in names[first:] + names[:first]:
                latencies = await systems[name](args, samples, deadline)
                found.setdefault(label, {}).setdefault(name, []).append(latencies)
                print(f"  rep {rep + 1}, {label}, {name}: p50 {percentiles(latencies)[0]:,.0f} µs", flush=True)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=200, help="measured puts per run, 20 ms cadences")
    parser.add_argument("--idle-samples", type=int, default=15, help="measured puts per run after 1 s idle")
    parser.add_argument("--burst", type=int, default=5, help="puts per round of the idle cadences (first measured)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--no-redis", action="store_true")
    args = parser.parse_args()
    cadences: list[Cadence] = [
        ("every 20 ms", "steady", 0.02, args.samples),
        ("first put after 20 ms idle", "idle", 0.02, args.samples),
        ("first put after 1 s idle", "idle", 1.0, args.idle_samples),
    ]
    notes: list[str] = []
    redis = start_redis(not args.no_redis, notes)
    try:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "handoff.db"
            with sqlkv.Store(path) as store:
                store.create_bucket("h")
            found = anyio.run(run, path, redis, cadences, args.burst, args.reps)
    finally:
        if redis is not None:
            redis.stop()

    for note in notes:
        print(f"\n{note}")
    how = f"µs; {args.reps} repetition(s) pooled"
    print(f"\n## A change crossing processes: put() called in A -> B's watcher holds it ({how})\n")
    print("| cadence | system | samples | p50 | p99 | max |")
    print("|---|---|---:|---:|---:|---:|")
    figures: dict[str, dict[str, dict[str, Any]]] = {}
    for label, per_system in found.items():
        for name in (n for n in (ASYNC_WRITER, SYNC_WRITER, REDIS) if n in per_system):
            runs = per_system[name]
            pooled = [x for one in runs for x in one]
            p50, p99, worst = percentiles(pooled)
            figures.setdefault(label, {})[name] = {
                "p50": p50,
                "p99": p99,
                "max": worst,
                "n": len(pooled),
                "per_rep": [percentiles(one) for one in runs],
                "quantiles": quantiles(pooled),
            }
            print(f"| {label} | {name} | {len(pooled)} | {p50:,.0f} | {p99:,.0f} | {worst:,.0f} |")

    print("\n## Targets (Redis / sqlkv: at or above 1.0, sqlkv is at least as fast)\n")
    targets = Targets()
    for label, measured in figures.items():
        if REDIS not in measured:
            continue
        theirs = measured[REDIS]
        for name in SQLKV_ROWS:
            ours = measured[name]
            for quantile in ("p50", "p99"):
                targets.at_least(f"{label}, {quantile}, Redis / {name}", theirs[quantile] / ours[quantile], 1.0)
    if not targets.items:
        print("- none measured: no Redis row")
    per_rep_p50 = {
        label: {name: statistics.median(r[0] for r in f["per_rep"]) for name, f in measured.items()}
        for label, measured in figures.items()
    }
    save_results(
        "handoff",
        {
            "reps": args.reps,
            "burst": args.burst,
            "cadences": [{"label": c[0], "kind": c[1], "seconds": c[2], "samples_per_run": c[3]} for c in cadences],
            "latency_us": figures,
            "median_rep_p50_us": per_rep_p50,
            "targets": targets.items,
            "notes": notes,
        },
    )


if __name__ == "__main__":
    main()
