"""Watch latency and the cost of watchers to writers: sqlkv in-process, sqlkv across processes, NATS KV.

Latency is measured from the start of ``put()`` until the watching task holds the entry, over ``--puts``
sequential puts (p50 / p99 / max, in µs). Across processes, a child process puts (pacing its writes) and
sends its start time in the value; ``time.perf_counter`` is CLOCK_MONOTONIC, shared by all processes.
Put throughput (100 concurrent tasks) is measured with no watcher and with 1,000 idle watchers.

    python bench/bench_watch.py [--puts 1000] [--reps 3] [--no-nats]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import VALUE, check, random_keys, time_concurrent

import sqlkv

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


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    return (
        ordered[len(ordered) // 2] * 1e6,
        ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e6,
        ordered[-1] * 1e6,
    )


async def latency_in_process(path: Path, puts: int) -> list[float]:
    async with sqlkv.AsyncStore(path) as store:
        kv = await store.create_bucket("w")
        samples: list[float] = []
        async with kv.watch(updates_only=True) as watcher:
            for i in range(puts):
                start = time.perf_counter()
                await kv.put(f"x.{i % 50}", VALUE)
                await watcher.__anext__()
                samples.append(time.perf_counter() - start)
        await store.delete_bucket("w")
    return samples


async def latency_in_process_watcher_task(path: Path, puts: int, inline: bool = True) -> list[float]:
    """The watcher in its own task (as an application would have it), the writer in another."""
    import anyio

    async with sqlkv.AsyncStore(path, inline=inline) as store:
        kv = await store.create_bucket("w")
        samples: list[float] = []
        arrived = anyio.Event()
        async with kv.watch(updates_only=True) as watcher, anyio.create_task_group() as tg:

            async def consume() -> None:
                nonlocal arrived
                async for _ in watcher:
                    samples.append(time.perf_counter() - start)
                    arrived.set()

            tg.start_soon(consume)
            for i in range(puts):
                arrived = anyio.Event()
                start = time.perf_counter()
                await kv.put(f"x.{i % 50}", VALUE)
                await arrived.wait()
            tg.cancel_scope.cancel()
        await store.delete_bucket("w")
    return samples


async def latency_cross_process(path: Path, puts: int, poll_interval: float) -> list[float]:
    import anyio

    async with sqlkv.AsyncStore(path, poll_interval=poll_interval) as store:
        kv = await store.create_bucket("w")
        samples: list[float] = []
        async with kv.watch(updates_only=True) as watcher:
            process = await anyio.open_process([sys.executable, "-c", CHILD, str(path), str(puts)])
            async for entry in watcher:
                samples.append(time.perf_counter() - float(entry.value))
                if len(samples) == puts:
                    break
            await process.wait()
            await process.aclose()
        await store.delete_bucket("w")
    return samples


async def latency_nats(url: str, puts: int, rep: int) -> list[float]:
    import nats

    nc = await nats.connect(url)
    js = nc.jetstream()
    name = f"watch{rep}"
    kv = await js.create_key_value(bucket=name, history=1, direct=True)
    watcher = await kv.watch(">")
    assert await watcher.updates(timeout=5) is None
    samples: list[float] = []
    for i in range(puts):
        start = time.perf_counter()
        await kv.put(f"x.{i % 50}", VALUE)
        await watcher.updates(timeout=5)
        samples.append(time.perf_counter() - start)
    await watcher.stop()
    await js.delete_key_value(name)
    await nc.close()
    return samples


async def put_throughput(path: Path, watchers: int, ops: int) -> float:
    async with sqlkv.AsyncStore(path) as store:
        kv = await store.create_bucket("t")
        idle = [kv.watch(f"idle.{i}") for i in range(watchers)]
        for watcher in idle:
            await watcher.start()
        try:
            return await time_concurrent(lambda k: kv.put(k, VALUE), random_keys(ops, 5))
        finally:
            for watcher in idle:
                watcher.close()
            await store.delete_bucket("t")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--puts", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--ops", type=int, default=15000, help="puts per throughput measurement")
    parser.add_argument("--poll-interval", type=float, default=0.01)
    parser.add_argument("--no-nats", action="store_true")
    args = parser.parse_args()

    server = None
    if not args.no_nats:
        from nats_server import NatsServer

        server = NatsServer()
    latency: dict[str, list[tuple[float, float, float]]] = {}
    throughput: dict[str, list[float]] = {}
    try:
        with tempfile.TemporaryDirectory() as folder:
            for rep in range(args.reps):
                path = Path(folder) / f"w{rep}.db"
                latency.setdefault("sqlkv in-process (awaiting put, then the watcher)", []).append(
                    percentiles(await latency_in_process(path, args.puts))
                )
                latency.setdefault("sqlkv in-process (watcher in its own task)", []).append(
                    percentiles(await latency_in_process_watcher_task(path, args.puts))
                )
                latency.setdefault("sqlkv in-process, inline=False (the put through the writer thread)", []).append(
                    percentiles(await latency_in_process_watcher_task(path, args.puts, inline=False))
                )
                latency.setdefault(f"sqlkv across processes (poll {args.poll_interval * 1000:g} ms)", []).append(
                    percentiles(await latency_cross_process(path, args.puts, args.poll_interval))
                )
                if server is not None:
                    latency.setdefault("NATS KV watch (nats-py, loopback)", []).append(
                        percentiles(await latency_nats(server.url, args.puts, rep))
                    )
                throughput.setdefault("0 watchers", []).append(await put_throughput(path, 0, args.ops))
                throughput.setdefault("1,000 idle watchers", []).append(await put_throughput(path, 1000, args.ops))
    finally:
        if server is not None:
            server.stop()

    print(f"\n## Watch latency, put() start -> watcher holds the entry (µs; median of {args.reps} runs)\n")
    print("| system | p50 | p99 | max |")
    print("|---|---:|---:|---:|")
    med: dict[str, tuple[float, float, float]] = {}
    for name, runs in latency.items():
        med[name] = (
            statistics.median(r[0] for r in runs),
            statistics.median(r[1] for r in runs),
            max(r[2] for r in runs),
        )
        p50, p99, worst = med[name]
        print(f"| {name} | {p50:,.0f} | {p99:,.0f} | {worst:,.0f} |")
    print(f"\n## Put throughput, 100 tasks (ops/s, median of {args.reps})\n")
    for name, values in throughput.items():
        print(f"- {name}: {statistics.median(values):,.0f} ({min(values):,.0f}..{max(values):,.0f})")
    print("\n## Targets\n")
    ours = med["sqlkv in-process (watcher in its own task)"]
    if "NATS KV watch (nats-py, loopback)" in med:
        nats_p50, nats_p99, _ = med["NATS KV watch (nats-py, loopback)"]
        check("in-process p50, NATS / sqlkv", nats_p50 / ours[0], 2.0)
        check("in-process p99, NATS / sqlkv", nats_p99 / ours[1], 2.0)
    cross = next(v for k, v in med.items() if k.startswith("sqlkv across"))
    limit = args.poll_interval * 1e6 + 2000
    print(
        f"- cross-process p99: {cross[1]:,.0f} µs (target <= poll interval + 2 ms = {limit:,.0f} µs) "
        f"{'ok' if cross[1] <= limit else 'ABOVE TARGET'}"
    )
    check(
        "put throughput with 1,000 idle watchers / with none",
        statistics.median(throughput["1,000 idle watchers"]) / statistics.median(throughput["0 watchers"]),
        0.8,
    )


if __name__ == "__main__":
    asyncio.run(main())
