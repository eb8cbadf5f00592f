"""sqlkv's core operations against raw sqlite3, aiosqlite, NATS KV and Redis, in one run.

Workload: 10k keys (``k.NNNN.NNNNNN``), 100-byte values, every bucket pre-filled
with one row per key (the steady state of history=1). Measured: sequential put
and get, put and get from 100 concurrent tasks, put from 1,000 tasks. Every
figure is the median of ``--reps`` repetitions (min..max beside it); ratios are
of medians. The figures are saved as JSON in ``bench/results/`` (``charts.py``
draws from them).

The floors: "raw sqlite3" runs sqlkv's own statements (the same tables, indexes,
triggers and SELECT) on the calling thread with no async layer — one autocommit statement
per sequential op, and for the concurrent rows the same puts in batched
transactions (100 puts per transaction for the 100-task row, 1,000 for the
1,000-task row), as sqlkv's writer groups them.

    python bench/bench_core.py [--ops 3000] [--reps 3] [--no-nats] [--no-redis]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from common import (
    KEYS,
    VALUE,
    Targets,
    print_table,
    random_keys,
    save_results,
    time_concurrent,
    time_sequential,
    time_sync,
)
from peers import start_redis

import sqlkv

Rows = dict[str, dict[str, list[float]]]


async def prepare_store(path: Path) -> None:
    async with sqlkv.AsyncStore(path) as store:
        kv = await store.create_bucket("bench")
        await asyncio.gather(*(kv.put(k, VALUE) for k in KEYS))


def statements_of(path: Path) -> tuple[str, str]:
    """sqlkv's own put and get statements for the bench bucket (insert with its triggers; the latest row)."""
    from sqlkv._storage.statements import BucketSQL

    conn = sqlite3.connect(path)
    bucket_id = conn.execute("SELECT id FROM sqlkv_buckets WHERE name = 'bench'").fetchone()[0]
    conn.close()
    sql = BucketSQL.for_bucket("bench", bucket_id)
    return sql.insert, sql.get_latest


async def bench_sqlkv(path: Path, ops: int, rows: Rows, inline: bool = True) -> None:
    """sqlkv as shipped; with ``inline=False`` every operation takes the thread hop (no lone op on the loop)."""
    async with sqlkv.AsyncStore(path, inline=inline) as store:
        kv = await store.bucket("bench")
        put = lambda k: kv.put(k, VALUE)
        r = rows.setdefault("sqlkv" if inline else "sqlkv, inline=False (every op through a thread)", {})
        r.setdefault("seq put", []).append(await time_sequential(put, random_keys(ops, 1)))
        r.setdefault("100-task put", []).append(await time_concurrent(put, random_keys(ops * 5, 2)))
        r.setdefault("seq get", []).append(await time_sequential(kv.get, random_keys(ops, 3)))
        r.setdefault("100-task get", []).append(await time_concurrent(kv.get, random_keys(ops * 5, 4)))
        r.setdefault("1000-task put", []).append(await time_concurrent(put, random_keys(ops * 5, 6), tasks=1000))


def bench_raw(path: Path, ops: int, rows: Rows) -> None:
    """The floor: the same SQL as sqlkv (insert + trim trigger, latest-row get) with no async layer."""
    insert, get = statements_of(path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    r = rows.setdefault("raw sqlite3 (floor)", {})
    r.setdefault("seq put", []).append(
        time_sync(lambda k: conn.execute(insert, (k, 1, VALUE, time.time_ns(), None)), random_keys(ops, 1))
    )
    r.setdefault("seq get", []).append(time_sync(lambda k: conn.execute(get, (k,)).fetchone(), random_keys(ops, 3)))
    r.setdefault("100-task put", []).append(batched_puts(conn, insert, random_keys(ops * 5, 2), 100))
    r.setdefault("1000-task put", []).append(batched_puts(conn, insert, random_keys(ops * 5, 6), 1000))
    conn.close()


def batched_puts(conn: sqlite3.Connection, insert: str, keys: list[str], batch: int) -> float:
    """Ops/s of the puts in transactions of ``batch`` puts each: group commit with no async layer."""
    start = time.perf_counter()
    for i in range(0, len(keys), batch):
        conn.execute("BEGIN IMMEDIATE")
        for key in keys[i : i + batch]:
            conn.execute(insert, (key, 1, VALUE, time.time_ns(), None))
        conn.execute("COMMIT")
    return len(keys) / (time.perf_counter() - start)


async def bench_aiosqlite(path: Path, ops: int, rows: Rows) -> None:
    import aiosqlite

    insert, get = statements_of(path)
    async with aiosqlite.connect(path, isolation_level=None) as db:
        await db.execute("PRAGMA synchronous = NORMAL")

        async def put(k: str) -> Any:
            return await db.execute(insert, (k, 1, VALUE, time.time_ns(), None))

        async def read(k: str) -> Any:
            return await db.execute_fetchall(get, (k,))

        r = rows.setdefault("aiosqlite (1 hop/stmt)", {})
        r.setdefault("seq put", []).append(await time_sequential(put, random_keys(ops, 1)))
        r.setdefault("100-task put", []).append(await time_concurrent(put, random_keys(ops * 5, 2)))
        r.setdefault("seq get", []).append(await time_sequential(read, random_keys(ops, 3)))
        r.setdefault("100-task get", []).append(await time_concurrent(read, random_keys(ops * 5, 4)))


async def bench_nats(url: str, ops: int, rows: Rows, rep: int) -> None:
    import nats

    nc = await nats.connect(url)
    js = nc.jetstream()
    name = f"bench{rep}"
    kv = await js.create_key_value(bucket=name, history=1, direct=True)
    await asyncio.gather(*(kv.put(k, VALUE) for k in KEYS))
    put = lambda k: kv.put(k, VALUE)
    r = rows.setdefault("NATS KV (nats-py, loopback)", {})
    r.setdefault("seq put", []).append(await time_sequential(put, random_keys(ops, 1)))
    r.setdefault("100-task put", []).append(await time_concurrent(put, random_keys(ops * 5, 2)))
    r.setdefault("seq get", []).append(await time_sequential(kv.get, random_keys(ops, 3)))
    r.setdefault("100-task get", []).append(await time_concurrent(kv.get, random_keys(ops * 5, 4)))
    r.setdefault("1000-task put", []).append(await time_concurrent(put, random_keys(ops * 5, 6), tasks=1000))
    await js.delete_key_value(name)
    await nc.close()


async def bench_redis(server: Any, ops: int, rows: Rows) -> None:
    """Redis SET/GET through redis-py's asyncio client on a Unix socket (AOF, fsync every second)."""
    client: Any = server.client()
    await client.flushall()
    for i in range(0, len(KEYS), 1000):
        await client.mset({k: VALUE for k in KEYS[i : i + 1000]})
    put = lambda k: client.set(k, VALUE)
    r = rows.setdefault("Redis (AOF everysec, redis-py asyncio, unix socket)", {})
    r.setdefault("seq put", []).append(await time_sequential(put, random_keys(ops, 1)))
    r.setdefault("100-task put", []).append(await time_concurrent(put, random_keys(ops * 5, 2)))
    r.setdefault("seq get", []).append(await time_sequential(client.get, random_keys(ops, 3)))
    r.setdefault("100-task get", []).append(await time_concurrent(client.get, random_keys(ops * 5, 4)))
    r.setdefault("1000-task put", []).append(await time_concurrent(put, random_keys(ops * 5, 6), tasks=1000))
    await client.aclose()


async def bench_nats_store(url: str, ops: int, rows: Rows, rep: int) -> None:
    """sqlkv's own API on the NATS server (AsyncStore("nats://...")): what moving to a cluster costs."""
    async with sqlkv.AsyncStore(url) as store:
        name = f"store{rep}"
        kv = await store.create_bucket(name)
        await asyncio.gather(*(kv.put(k, VALUE) for k in KEYS))
        put = lambda k: kv.put(k, VALUE)
        r = rows.setdefault("sqlkv on NATS (AsyncStore nats://)", {})
        r.setdefault("seq put", []).append(await time_sequential(put, random_keys(ops, 1)))
        r.setdefault("100-task put", []).append(await time_concurrent(put, random_keys(ops * 5, 2)))
        r.setdefault("seq get", []).append(await time_sequential(kv.get, random_keys(ops, 3)))
        r.setdefault("100-task get", []).append(await time_concurrent(kv.get, random_keys(ops * 5, 4)))
        await store.delete_bucket(name)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", type=int, default=3000, help="sequential ops per measurement (x5 concurrent)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--no-nats", action="store_true")
    parser.add_argument("--no-redis", action="store_true")
    args = parser.parse_args()

    rows: Rows = {}
    server = None
    notes: list[str] = []
    if not args.no_nats:
        from nats_server import NatsServer

        server = NatsServer()
    redis = start_redis(not args.no_redis, notes)
    try:
        with tempfile.TemporaryDirectory() as folder:
            for rep in range(args.reps):
                path = Path(folder) / f"rep{rep}.db"
                await prepare_store(path)
                await bench_sqlkv(path, args.ops, rows)
                await bench_sqlkv(path, args.ops, rows, inline=False)
                bench_raw(path, args.ops, rows)
                await bench_aiosqlite(path, args.ops, rows)
                if server is not None:
                    await bench_nats(server.url, args.ops, rows, rep)
                    await bench_nats_store(server.url, args.ops, rows, rep)
                if redis is not None:
                    await bench_redis(redis, args.ops, rows)
    finally:
        if server is not None:
            server.stop()
        if redis is not None:
            redis.stop()

    print(
        f"\nops/s, median of {args.reps} (min..max); {args.ops} sequential / {args.ops * 5} concurrent ops; "
        f"pid {os.getpid()}"
    )
    m = print_table("Core operations", rows)
    for note in notes:
        print(f"\n{note}")
    s = m["sqlkv"]
    a = m["aiosqlite (1 hop/stmt)"]
    raw = m["raw sqlite3 (floor)"]
    targets = Targets()
    target = targets.at_least

    print("\n## Targets (sqlkv / peer, medians of this run)\n")
    target("100-task put vs raw sqlite3 batched floor (100 puts/txn)", s["100-task put"] / raw["100-task put"], 0.6)
    target("1000-task put vs raw sqlite3 batched floor (1000/txn)", s["1000-task put"] / raw["1000-task put"], 0.6)
    target("sequential get vs raw sqlite3 floor", s["seq get"] / raw["seq get"], 0.5)
    print(f"- sequential put vs raw sqlite3 floor: {s['seq put'] / raw['seq put']:.2f}x")
    target("100-task put vs aiosqlite", s["100-task put"] / a["100-task put"], 2.5)
    if "NATS KV (nats-py, loopback)" in m:
        n = m["NATS KV (nats-py, loopback)"]
        target("sequential put vs NATS", s["seq put"] / n["seq put"], 2.0)
        target("100-task put vs NATS", s["100-task put"] / n["100-task put"], 2.0)
        target("sequential get vs NATS", s["seq get"] / n["seq get"], 3.0)
        target("100-task get vs NATS", s["100-task get"] / n["100-task get"], 3.0)
    redis_row = next((name for name in m if name.startswith("Redis")), None)
    if redis_row is not None:
        rd = m[redis_row]
        target("100-task put vs Redis", s["100-task put"] / rd["100-task put"], 3.0)
        print(f"- sequential put vs Redis: {s['seq put'] / rd['seq put']:.2f}x")
        print(f"- sequential get vs Redis: {s['seq get'] / rd['seq get']:.2f}x")
        print(f"- 1000-task put vs Redis: {s['1000-task put'] / rd['1000-task put']:.2f}x")
    save_results("core", {"ops": args.ops, "reps": args.reps, "rows": rows, "targets": targets.items, "notes": notes})


if __name__ == "__main__":
    asyncio.run(main())
