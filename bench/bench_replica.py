"""Replica catch-up rate and hub -> edge propagation latency, against nats-server's own stream mirror.

One nats-server (loopback). A hub KV bucket of ``--entries`` entries (100-byte values, history 1) is written
with nats-py. Then, per repetition:

- catch-up: a new edge file replicates the bucket (``store.replicate``) until ``synced()`` returns; and a new
  JetStream stream mirroring ``KV_<bucket>`` on the same server until its last sequence is the hub's.
- propagation: ``--puts`` puts on the hub, one at a time; the time from the put's start until the edge's
  watcher holds the entry (sqlkv), and until an ordered consumer of the mirror stream receives it (NATS).

Figures are medians of ``--reps`` repetitions (entries/s; latency p50/p99 in ms).

    flock /work/bench.lock python bench/bench_replica.py [--entries 100000] [--puts 1000] [--reps 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from common import VALUE
from nats_server import NatsServer

import sqlkv

BUCKET = "bench"


async def fill(nc: Any, entries: int) -> None:
    js = nc.jetstream()
    await js.add_stream(
        name=f"KV_{BUCKET}",
        subjects=[f"$KV.{BUCKET}.>"],
        max_msgs_per_subject=1,
        allow_rollup_hdrs=True,
        deny_delete=True,
        allow_direct=True,
        discard="new",
    )
    for start in range(0, entries, 2000):
        await asyncio.gather(*(js.publish(f"$KV.{BUCKET}.k.{i:07d}", VALUE) for i in range(start, start + 2000)))


async def last_seq(nc: Any, stream: str) -> int:
    reply = await nc.request(f"$JS.API.STREAM.INFO.{stream}", b"", timeout=5)
    return int(json.loads(reply.data)["state"]["last_seq"])


async def sqlkv_catch_up(url: str, folder: str, run: int) -> tuple[float, sqlkv.AsyncStore, Any]:
    store = sqlkv.AsyncStore(Path(folder) / f"edge{run}.db")
    await store.open()
    start = time.perf_counter()
    rep = store.replicate(BUCKET, url)
    await rep.start()
    await rep.synced()
    return time.perf_counter() - start, store, rep


async def nats_mirror_catch_up(nc: Any, run: int, target: int) -> tuple[float, str]:
    from nats.js.api import StreamConfig, StreamSource

    name = f"MIRROR{run}"
    js = nc.jetstream()
    start = time.perf_counter()
    await js.add_stream(StreamConfig(name=name, mirror=StreamSource(name=f"KV_{BUCKET}")))
    while await last_seq(nc, name) < target:  # noqa: ASYNC110 - no event for "mirror caught up": poll its state
        await asyncio.sleep(0.002)
    return time.perf_counter() - start, name


async def propagation(nc: Any, store: sqlkv.AsyncStore, mirror: str, puts: int) -> tuple[list[float], list[float]]:
    js = nc.jetstream()
    kv = await store.bucket(BUCKET)
    ours: list[float] = []
    theirs: list[float] = []
    arrived: dict[int, float] = {}
    waiting: dict[int, asyncio.Future[None]] = {}

    async def on_mirror(msg: Any) -> None:
        seq = msg.metadata.sequence.stream
        arrived[seq] = time.perf_counter()
        future = waiting.get(seq)
        if future is not None and not future.done():
            future.set_result(None)

    from nats.js.api import DeliverPolicy

    sub = await js.subscribe(">", stream=mirror, ordered_consumer=True, deliver_policy=DeliverPolicy.NEW, cb=on_mirror)
    async with kv.watch(updates_only=True) as watcher:
        for i in range(puts):
            loop = asyncio.get_running_loop()
            start = time.perf_counter()
            ack = await js.publish(f"$KV.{BUCKET}.lat.{i % 100}", VALUE)
            waiting[ack.seq] = loop.create_future()
            entry = await watcher.__anext__()
            ours.append(time.perf_counter() - start)
            assert entry.revision == ack.seq
            if ack.seq not in arrived:
                await waiting[ack.seq]
            theirs.append(arrived[ack.seq] - start)
    await sub.unsubscribe()
    return ours, theirs


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--puts", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    import nats

    results: dict[str, list[float]] = {k: [] for k in ("sqlkv", "nats", "s50", "s99", "n50", "n99")}
    with NatsServer() as server, tempfile.TemporaryDirectory() as folder:
        nc = await nats.connect(server.url)
        await fill(nc, args.entries)
        target = await last_seq(nc, f"KV_{BUCKET}")
        for run in range(args.reps):
            seconds, store, rep = await sqlkv_catch_up(server.url, folder, run)
            results["sqlkv"].append(target / seconds)
            mirror_seconds, mirror = await nats_mirror_catch_up(nc, run, target)
            results["nats"].append(target / mirror_seconds)
            ours, theirs = await propagation(nc, store, mirror, args.puts)
            results["s50"].append(percentile(ours, 0.5) * 1e3)
            results["s99"].append(percentile(ours, 0.99) * 1e3)
            results["n50"].append(percentile(theirs, 0.5) * 1e3)
            results["n99"].append(percentile(theirs, 0.99) * 1e3)
            await rep.aclose()
            await store.aclose()
            await nc.jetstream().delete_stream(mirror)
            print(
                f"run {run}: catch-up sqlkv {results['sqlkv'][-1]:,.0f}/s, nats mirror {results['nats'][-1]:,.0f}/s;"
                f" propagation sqlkv p50 {results['s50'][-1]:.2f} ms p99 {results['s99'][-1]:.2f} ms,"
                f" nats mirror p50 {results['n50'][-1]:.2f} ms p99 {results['n99'][-1]:.2f} ms",
                flush=True,
            )
            target = await last_seq(nc, f"KV_{BUCKET}")
        await nc.close()
    med = {k: statistics.median(v) for k, v in results.items()}
    print(f"\n## Replica ({args.entries:,} entries, medians of {args.reps})\n")
    print("| system | catch-up entries/s | propagation p50 ms | p99 ms |")
    print("|---|---:|---:|---:|")
    print(f"| sqlkv mirror replica (edge file) | {med['sqlkv']:,.0f} | {med['s50']:.2f} | {med['s99']:.2f} |")
    print(f"| nats-server stream mirror | {med['nats']:,.0f} | {med['n50']:.2f} | {med['n99']:.2f} |")
    print(f"\n- catch-up target >= 20,000/s: {'ok' if med['sqlkv'] >= 20_000 else 'BELOW TARGET'}")
    print(f"- propagation p99 target <= 5 ms: {'ok' if med['s99'] <= 5 else 'ABOVE TARGET'}")


if __name__ == "__main__":
    asyncio.run(main())
