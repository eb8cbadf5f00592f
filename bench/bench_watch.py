"""Watch latency and the cost of watchers to writers: sqlkv in-process and across processes, NATS KV, Redis.

Latency is measured from the start of ``put()`` until the watching task holds the entry, over ``--puts``
sequential puts (p50 / p99 / max, in µs). Across processes, a child process puts (pacing its writes) and
sends its start time in the value; ``time.perf_counter`` is CLOCK_MONOTONIC, shared by all processes.
sqlkv across processes is measured with its wake-up hints (the default) and with them off (polling every
``--poll-interval``). NATS KV: a KV watch (nats-py). Redis has no watch: the peer is what applications build
with it, a SET and a PUBLISH of the value in one pipeline, received by a pub/sub subscriber (redis-py asyncio,
Unix socket). Put throughput (100 concurrent tasks) is measured with no watcher and with 1,000 idle watchers.
Figures, with each system's latency quantiles, are saved as JSON in bench/results/.

    python bench/bench_watch.py [--puts 1000] [--reps 3] [--no-nats] [--no-redis]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import VALUE, Targets, percentiles, quantiles, random_keys, save_results, time_concurrent
from peers import start_redis

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


NATS_CHILD = """
import sys, time, asyncio, nats
async def main():
    nc = await nats.connect(sys.argv[1])
    kv = await nc.jetstream().key_value(sys.argv[2])
    for i in range(int(sys.argv[3])):
        await kv.put(f"x.{i % 50}", repr(time.perf_counter()).encode())
        await asyncio.sleep(0.003)
    await nc.close()
asyncio.run(main())
"""

REDIS_CHILD = """
import sys, time, redis
client = redis.Redis(unix_socket_path=sys.argv[1])
for i in range(int(sys.argv[2])):
    value = repr(time.perf_counter())
    pipe = client.pipeline(transaction=False)
    pipe.set(f"x.{i % 50}", value)
    pipe.publish("w", value)
    pipe.execute()
    time.sleep(0.003)
"""

IN_PROCESS = "sqlkv in-process (watcher in its own task)"
CROSS = "sqlkv across processes (wake-up hints)"
NATS_IN = "NATS KV watch (nats-py, loopback)"
NATS_CROSS = "NATS KV watch across processes"
REDIS_IN = "Redis SET+PUBLISH to a subscriber (redis-py asyncio, unix socket)"
REDIS_CROSS = "Redis SET+PUBLISH across processes"


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


async def latency_nats_cross_process(url: str, puts: int, rep: int) -> list[float]:
    import anyio
    import nats

    nc = await nats.connect(url)
    js = nc.jetstream()
    name = f"xwatch{rep}"
    kv = await js.create_key_value(bucket=name, history=1, direct=True)
    watcher = await kv.watch(">")
    assert await watcher.updates(timeout=5) is None
    samples: list[float] = []
    process = await anyio.open_process([sys.executable, "-c", NATS_CHILD, url, name, str(puts)])
    while len(samples) < puts:
        entry = await watcher.updates(timeout=10)
        samples.append(time.perf_counter() - float(entry.value))
    await process.wait()
    await process.aclose()
    await watcher.stop()
    await js.delete_key_value(name)
    await nc.close()
    return samples


async def latency_redis(server: Any, puts: int) -> list[float]:
    """SET + PUBLISH in one pipeline, until a pub/sub subscriber on the same loop holds the message."""
    client: Any = server.client()
    pubsub = client.pubsub()
    await pubsub.subscribe("w")
    samples: list[float] = []
    for i in range(puts):
        start = time.perf_counter()
        async with client.pipeline(transaction=False) as pipe:
            await pipe.set(f"x.{i % 50}", VALUE).publish("w", VALUE).execute()
        while await pubsub.get_message(ignore_subscribe_messages=True, timeout=5) is None:
            pass
        samples.append(time.perf_counter() - start)
    await pubsub.aclose()
    await client.aclose()
    return samples


async def latency_redis_cross_process(server: Any, puts: int) -> list[float]:
    import anyio

    client: Any = server.client()
    pubsub = client.pubsub()
    await pubsub.subscribe("w")
    while await pubsub.get_message(timeout=1) is None:  # the subscription is confirmed
        pass
    samples: list[float] = []
    process = await anyio.open_process([sys.executable, "-c", REDIS_CHILD, server.socket, str(puts)])
    while len(samples) < puts:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=10)
        if message is not None:
            samples.append(time.perf_counter() - float(message["data"]))
    await process.wait()
    await process.aclose()
    await pubsub.aclose()
    await client.aclose()
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
    parser.add_argument("--no-redis", action="store_true")
    args = parser.parse_args()

    from sqlkv._engine import hints

    server = None
    notes: list[str] = []
    if not args.no_nats:
        from nats_server import NatsServer

        server = NatsServer()
    redis = start_redis(not args.no_redis, notes)
    latency: dict[str, list[tuple[float, float, float]]] = {}
    samples: dict[str, list[float]] = {}
    throughput: dict[str, list[float]] = {}

    def record(name: str, measured: list[float]) -> None:
        latency.setdefault(name, []).append(percentiles(measured))
        samples[name] = quantiles(measured)  # the last run's distribution

    try:
        with tempfile.TemporaryDirectory() as folder:
            for rep in range(args.reps):
                path = Path(folder) / f"w{rep}.db"
                record("sqlkv in-process (awaiting put, then the watcher)", await latency_in_process(path, args.puts))
                record(IN_PROCESS, await latency_in_process_watcher_task(path, args.puts))
                record(
                    "sqlkv in-process, inline=False (the put through the writer thread)",
                    await latency_in_process_watcher_task(path, args.puts, inline=False),
                )
                record(CROSS, await latency_cross_process(path, args.puts, args.poll_interval))
                available, hints.AVAILABLE = hints.AVAILABLE, False
                try:
                    record(
                        f"sqlkv across processes, hints off (poll {args.poll_interval * 1000:g} ms)",
                        await latency_cross_process(path, args.puts, args.poll_interval),
                    )
                finally:
                    hints.AVAILABLE = available
                if server is not None:
                    record(NATS_IN, await latency_nats(server.url, args.puts, rep))
                    record(NATS_CROSS, await latency_nats_cross_process(server.url, args.puts, rep))
                if redis is not None:
                    record(REDIS_IN, await latency_redis(redis, args.puts))
                    record(REDIS_CROSS, await latency_redis_cross_process(redis, args.puts))
                throughput.setdefault("0 watchers", []).append(await put_throughput(path, 0, args.ops))
                throughput.setdefault("1,000 idle watchers", []).append(await put_throughput(path, 1000, args.ops))
    finally:
        if server is not None:
            server.stop()
        if redis is not None:
            redis.stop()

    for note in notes:
        print(f"\n{note}")
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
    targets = Targets()
    target = targets.at_least

    ours, cross = med[IN_PROCESS], med[CROSS]
    if NATS_IN in med:
        target("in-process p50, NATS / sqlkv", med[NATS_IN][0] / ours[0], 2.0)
        target("in-process p99, NATS / sqlkv", med[NATS_IN][1] / ours[1], 2.0)
    targets.at_most("a change seen by another process, p50", cross[0], 500, " µs")
    targets.at_most("a change seen by another process, p99", cross[1], 1000, " µs")
    if REDIS_CROSS in med:
        print(f"- cross-process p50 vs Redis pub/sub: {med[REDIS_CROSS][0] / cross[0]:.2f}x (Redis / sqlkv)")
        print(f"- cross-process p99 vs Redis pub/sub: {med[REDIS_CROSS][1] / cross[1]:.2f}x (Redis / sqlkv)")
    if NATS_CROSS in med:
        print(f"- cross-process p50 vs NATS: {med[NATS_CROSS][0] / cross[0]:.2f}x (NATS / sqlkv)")
    target(
        "put throughput with 1,000 idle watchers / with none",
        statistics.median(throughput["1,000 idle watchers"]) / statistics.median(throughput["0 watchers"]),
        0.8,
    )
    save_results(
        "watch",
        {"puts": args.puts, "reps": args.reps, "latency_us": latency, "quantiles_us": samples}
        | {"throughput": throughput, "targets": targets.items, "notes": notes},
    )


if __name__ == "__main__":
    asyncio.run(main())
