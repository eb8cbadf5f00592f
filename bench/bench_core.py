"""sqlkv's core operations against raw sqlite3, aiosqlite and NATS KV, in one run.

Workload: 10k keys (``k.NNNN.NNNNNN``), 100-byte values, every bucket pre-filled
with one row per key (the steady state of history=1). Measured: sequential put
and get, and put and get from 100 concurrent tasks. Every figure is the median
of ``--reps`` repetitions (min..max beside it); ratios are of medians.

    python bench/bench_core.py [--ops 3000] [--reps 3] [--no-nats]
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

from common import KEYS, VALUE, check, print_table, random_keys, time_concurrent, time_sequential, time_sync

import sqlkv

Rows = dict[str, dict[str, list[float]]]


async def prepare_store(path: Path) -> None:
    async with sqlkv.AsyncStore(path) as store:
        kv = await store.create_bucket("bench")
        await asyncio.gather(*(kv.put(k, VALUE) for k in KEYS))


def table_of(path: Path) -> str:
    conn = sqlite3.connect(path)
    bucket_id = conn.execute("SELECT id FROM sqlkv_buckets WHERE name = 'bench'").fetchone()[0]
    conn.close()
    return f'"kv_{bucket_id}"'


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


def bench_raw(path: Path, ops: int, rows: Rows) -> None:
    """The floor: the same SQL as sqlkv (insert + trim trigger, latest-row get) with no async layer."""
    table = table_of(path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    insert = f"INSERT INTO {table} (key, op, value, created) VALUES (?, 1, ?, ?)"
    get = f"SELECT revision, op, value, created FROM {table} WHERE key = ? ORDER BY revision DESC LIMIT 1"
    r = rows.setdefault("raw sqlite3 (floor)", {})
    r.setdefault("seq put", []).append(
        time_sync(lambda k: conn.execute(insert, (k, VALUE, time.time_ns())), random_keys(ops, 1))
    )
    r.setdefault("seq get", []).append(time_sync(lambda k: conn.execute(get, (k,)).fetchone(), random_keys(ops, 3)))
    conn.close()


async def bench_aiosqlite(path: Path, ops: int, rows: Rows) -> None:
    import aiosqlite

    table = table_of(path)
    insert = f"INSERT INTO {table} (key, op, value, created) VALUES (?, 1, ?, ?)"
    get = f"SELECT revision, op, value, created FROM {table} WHERE key = ? ORDER BY revision DESC LIMIT 1"
    async with aiosqlite.connect(path, isolation_level=None) as db:
        await db.execute("PRAGMA synchronous = NORMAL")

        async def put(k: str) -> Any:
            return await db.execute(insert, (k, VALUE, time.time_ns()))

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
    await js.delete_key_value(name)
    await nc.close()


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
    args = parser.parse_args()

    rows: Rows = {}
    server = None
    if not args.no_nats:
        from nats_server import NatsServer

        server = NatsServer()
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
    finally:
        if server is not None:
            server.stop()

    print(
        f"\nops/s, median of {args.reps} (min..max); {args.ops} sequential / {args.ops * 5} concurrent ops; "
        f"pid {os.getpid()}"
    )
    m = print_table("Core operations", rows)
    s = m["sqlkv"]
    a = m["aiosqlite (1 hop/stmt)"]
    raw = m["raw sqlite3 (floor)"]
    print("\n## Ratios (sqlkv / peer)\n")
    print(f"- sequential put vs raw sqlite3 floor: {s['seq put'] / raw['seq put']:.2f}x")
    print(f"- sequential get vs raw sqlite3 floor: {s['seq get'] / raw['seq get']:.2f}x")
    check("100-task put vs aiosqlite", s["100-task put"] / a["100-task put"], 2.5)
    print(f"- sequential put vs aiosqlite: {s['seq put'] / a['seq put']:.2f}x")
    print(f"- sequential get vs aiosqlite: {s['seq get'] / a['seq get']:.2f}x")
    if "NATS KV (nats-py, loopback)" in m:
        n = m["NATS KV (nats-py, loopback)"]
        check("sequential put vs NATS", s["seq put"] / n["seq put"], 2.0)
        check("100-task put vs NATS", s["100-task put"] / n["100-task put"], 2.0)
        check("sequential get vs NATS", s["seq get"] / n["seq get"], 3.0)
        check("100-task get vs NATS", s["100-task get"] / n["100-task get"], 3.0)


if __name__ == "__main__":
    asyncio.run(main())
