"""The synchronous twin against raw sqlite3 (the same statements), diskcache and sqlitedict, in one run.

Workload as bench_core: 10k keys, 100-byte values, buckets pre-filled with one row per key; sequential calls
on one thread. "raw sqlite3" runs sqlkv's own insert (with its triggers) and latest-row get on a plain
connection: what the sync API costs on top of SQLite itself.

    python bench/bench_sync.py [--ops 5000] [--reps 5]
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path

from common import KEYS, VALUE, check, print_table, random_keys, time_sync

import sqlkv
from sqlkv._sql import BucketSQL

Rows = dict[str, dict[str, list[float]]]


def bench_sqlkv(path: Path, ops: int, rows: Rows) -> None:
    with sqlkv.Store(path) as store:
        kv = store.bucket("bench")
        r = rows.setdefault("sqlkv Store (sync)", {})
        r.setdefault("seq put", []).append(time_sync(lambda k: kv.put(k, VALUE), random_keys(ops, 1)))
        r.setdefault("seq get", []).append(time_sync(kv.get, random_keys(ops, 3)))


def bench_raw(path: Path, ops: int, rows: Rows) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = NORMAL")
    sql = BucketSQL.for_bucket("bench", 1)
    now = time.time_ns
    r = rows.setdefault("raw sqlite3 (same SQL)", {})
    r.setdefault("seq put", []).append(
        time_sync(lambda k: conn.execute(sql.insert, (k, 1, VALUE, now(), None)), random_keys(ops, 1))
    )
    r.setdefault("seq get", []).append(
        time_sync(lambda k: conn.execute(sql.get_latest, (k,)).fetchone(), random_keys(ops, 3))
    )
    conn.close()


def bench_diskcache(folder: Path, ops: int, rows: Rows) -> None:
    import diskcache

    with diskcache.Cache(str(folder)) as cache:
        for key in KEYS:
            cache.set(key, VALUE)
        r = rows.setdefault("diskcache.Cache", {})
        r.setdefault("seq put", []).append(time_sync(lambda k: cache.set(k, VALUE), random_keys(ops, 1)))
        r.setdefault("seq get", []).append(time_sync(cache.get, random_keys(ops, 3)))


def bench_sqlitedict(path: Path, ops: int, rows: Rows) -> None:
    from sqlitedict import SqliteDict

    with SqliteDict(str(path), autocommit=True, outer_stack=False) as db:
        r = rows.setdefault("sqlitedict (autocommit)", {})
        r.setdefault("seq put", []).append(time_sync(lambda k: db.__setitem__(k, VALUE), random_keys(ops // 5, 1)))
        r.setdefault("seq get", []).append(time_sync(db.__getitem__, random_keys(ops // 5, 1)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", type=int, default=5000)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    rows: Rows = {}
    with tempfile.TemporaryDirectory() as folder:
        for rep in range(args.reps):
            path = Path(folder) / f"s{rep}.db"
            with sqlkv.Store(path) as store:
                kv = store.create_bucket("bench")
                for key in KEYS:
                    kv.put(key, VALUE)
            bench_sqlkv(path, args.ops, rows)
            bench_raw(path, args.ops, rows)
            bench_diskcache(Path(folder) / f"dc{rep}", args.ops, rows)
            bench_sqlitedict(Path(folder) / f"sd{rep}.sqlite", args.ops, rows)
    m = print_table(f"Synchronous calls, ops/s (median of {args.reps})", rows)
    ours, raw, dc = m["sqlkv Store (sync)"], m["raw sqlite3 (same SQL)"], m["diskcache.Cache"]
    print("\n## Ratios\n")
    check("sync put vs raw sqlite3", ours["seq put"] / raw["seq put"], 0.8)
    check("sync get vs raw sqlite3", ours["seq get"] / raw["seq get"], 0.6)
    check("sync put vs diskcache set", ours["seq put"] / dc["seq put"], 1.5)
    check("sync get vs diskcache get", ours["seq get"] / dc["seq get"], 0.8)
    sd = m["sqlitedict (autocommit)"]
    print(
        f"- sync put vs sqlitedict: {ours['seq put'] / sd['seq put']:.1f}x; get: {ours['seq get'] / sd['seq get']:.1f}x"
    )


if __name__ == "__main__":
    main()
