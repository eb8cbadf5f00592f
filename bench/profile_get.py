"""Where a sync get's microseconds go: the same get measured layer by layer, from raw SQL up to ``Bucket.get``.

Each row adds one layer to the one above (medians of ``--reps`` passes over the same random keys, µs per get):

- a plain table ``SELECT v FROM t WHERE k = ?`` (the floor of a get in SQLite) and sqlkv's own statement
  on a raw connection (its schema's floor: six columns, the TTL subquery, the latest-revision order);
- the same statement on the store's own read connection;
- ``ops.get`` (the statement plus the expiry test and building the ``Entry``);
- ``DirectEngine.read`` (the thread's connection, its lock, the typed-error wrapper);
- ``Bucket.get`` (key validation, the read cache): printed for the first read of each key and for its third
  (the cache holds a key's entry from its second read on, and serves it while the file is unchanged).

    python bench/profile_get.py [--keys 20000] [--reps 7]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlkv
from sqlkv._storage import ops

VALUE = b"x" * 100


def per_call(fn: Callable[[str], Any], keys: list[str]) -> float:
    """µs per call of ``fn`` over ``keys``."""
    start = time.perf_counter()
    for key in keys:
        fn(key)
    return (time.perf_counter() - start) / len(keys) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=20000)
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()
    names = [f"k.{i:06d}" for i in range(args.keys)]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "s.db"
        with sqlkv.Store(path) as store:
            kv = store.create_bucket("bench")
            for name in names:
                kv.put(name, VALUE)
        plain = sqlite3.connect(Path(folder) / "plain.db", isolation_level=None)
        plain.execute("PRAGMA journal_mode = WAL")
        plain.execute("PRAGMA synchronous = NORMAL")
        plain.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v BLOB)")
        plain.executemany("INSERT INTO t VALUES (?, ?)", [(name, VALUE) for name in names])
        raw = sqlite3.connect(path, isolation_level=None)
        with sqlkv.Store(path) as store:
            bucket = store.bucket("bench")
            engine, sql = bucket._engine, bucket._sql  # type: ignore[attr-defined]  # (a profile looks inside)
            now = engine.clock()
            bucket.get(names[0])
            conn = engine._local.reader[0]
            layers: dict[str, Callable[[str], Any]] = {
                "plain table SELECT v FROM t WHERE k=?": lambda k: plain.execute(
                    "SELECT v FROM t WHERE k = ?", (k,)
                ).fetchone(),
                "sqlkv's statement, raw connection": lambda k: raw.execute(sql.get_latest, (k,)).fetchone(),
                "sqlkv's statement, the store's read connection": lambda k: conn.execute(
                    sql.get_latest, (k,)
                ).fetchone(),
                "+ ops.get (expiry test, Entry)": lambda k: ops.get(conn, sql, k, None, now),
                "+ DirectEngine.read (connection, lock, errors)": lambda k: engine.read(ops.get, sql, k, None, now),
            }
            measured: dict[str, list[float]] = {name: [] for name in layers}
            first: list[float] = []
            again: list[float] = []
            for rep in range(args.reps):
                keys = random.Random(rep).sample(names, len(names))
                for name, fn in layers.items():
                    measured[name].append(per_call(fn, keys))
            with sqlkv.Store(path) as fresh:  # a store whose cache holds nothing yet
                kv = fresh.bucket("bench")
                for rep in range(args.reps):
                    keys = random.Random(100 + rep).sample(names, len(names))
                    half = len(keys) // 2
                    fresh.bucket("bench").put("zz.touch", "x")  # a commit: what the cache held is void
                    first.append(per_call(kv.get, keys[:half]))
                    per_call(kv.get, keys[:half])  # the second read: the cache holds the entry from here on
                    again.append(per_call(kv.get, keys[:half]))
        plain.close()
        raw.close()
    print(f"\n## A sync get, layer by layer (µs per get, median of {args.reps}; {args.keys:,} keys, 100-byte values)\n")
    print("| layer | µs |")
    print("|---|---:|")
    for name, values in measured.items():
        print(f"| {name} | {statistics.median(values):.2f} |")
    label = "Bucket.get, first read of the key (+ validation, the cache's probe and keep)"
    print(f"| {label} | {statistics.median(first):.2f} |")
    print(f"| Bucket.get, a key read before, file unchanged (the read cache) | {statistics.median(again):.2f} |")


if __name__ == "__main__":
    main()
