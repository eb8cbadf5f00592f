"""The synchronous twin against raw sqlite3 (the same statements), diskcache and sqlitedict, in one run.

Workload as bench_core: 10k keys, 100-byte values, sqlkv's bucket pre-filled with one row per key (diskcache
too); sequential calls on one thread. "raw sqlite3" runs sqlkv's own insert (with its triggers) and latest-row
get on a plain connection: what the sync API costs on top of SQLite itself.

The machine drifts by tens of percent within seconds, so the systems take turns: each repetition runs
``--rounds`` rounds, and in each round every system does a chunk of the operations, in a rotating order.
A system's figure for the repetition is its total operations over its total time, so every system is
measured across the same stretch of time. Figures are medians of ``--reps`` repetitions.

    python bench/bench_sync.py [--ops 5000] [--rounds 10] [--reps 5]
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from common import KEYS, VALUE, check, print_table, random_keys, take_turns

import sqlkv
from sqlkv._storage.statements import BucketSQL

Rows = dict[str, dict[str, list[float]]]
Ops = dict[str, Callable[[str], Any]]
"""One system's operations: "seq put" and "seq get", each called with a key."""

SQLKV, RAW, DISKCACHE, SQLITEDICT = (
    "sqlkv Store (sync)",
    "raw sqlite3 (same SQL)",
    "diskcache.Cache",
    "sqlitedict (autocommit)",
)


@contextmanager
def sqlkv_ops(path: Path) -> Iterator[Ops]:
    with sqlkv.Store(path) as store:
        kv = store.bucket("bench")
        yield {"seq put": lambda k: kv.put(k, VALUE), "seq get": kv.get}


@contextmanager
def raw_ops(path: Path) -> Iterator[Ops]:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = NORMAL")
    sql = BucketSQL.for_bucket("bench", 1)
    now = time.time_ns
    try:
        yield {
            "seq put": lambda k: conn.execute(sql.insert, (k, 1, VALUE, now(), None)),
            "seq get": lambda k: conn.execute(sql.get_latest, (k,)).fetchone(),
        }
    finally:
        conn.close()


@contextmanager
def diskcache_ops(folder: Path) -> Iterator[Ops]:
    import diskcache

    with diskcache.Cache(str(folder)) as cache:
        for key in KEYS:
            cache.set(key, VALUE)
        yield {"seq put": lambda k: cache.set(k, VALUE), "seq get": cache.get}


@contextmanager
def sqlitedict_ops(path: Path) -> Iterator[Ops]:
    from sqlitedict import SqliteDict

    with SqliteDict(str(path), autocommit=True, outer_stack=False) as db:
        db.update((key, VALUE) for key in KEYS)  # one transaction
        yield {"seq put": lambda k: db.__setitem__(k, VALUE), "seq get": db.__getitem__}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=10)
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
            with ExitStack() as stack:
                systems = {
                    SQLKV: stack.enter_context(sqlkv_ops(path)),
                    RAW: stack.enter_context(raw_ops(path)),
                    DISKCACHE: stack.enter_context(diskcache_ops(Path(folder) / f"dc{rep}")),
                    SQLITEDICT: stack.enter_context(sqlitedict_ops(Path(folder) / f"sd{rep}.sqlite")),
                }
                for measure, seed in (("seq put", 1), ("seq get", 3)):
                    ops = {name: system[measure] for name, system in systems.items()}
                    keys = random_keys(args.ops, seed + rep)
                    rates = take_turns(ops, keys, args.rounds, share={SQLITEDICT: 0.2})  # its commits are slow
                    for name, rate in rates.items():
                        rows.setdefault(name, {}).setdefault(measure, []).append(rate)
    m = print_table(f"Synchronous calls, ops/s (median of {args.reps}; systems taking turns)", rows)
    ours, raw, dc = m[SQLKV], m[RAW], m[DISKCACHE]
    print("\n## Ratios\n")
    check("sync put vs raw sqlite3", ours["seq put"] / raw["seq put"], 0.8)
    check("sync get vs raw sqlite3", ours["seq get"] / raw["seq get"], 0.6)
    check("sync put vs diskcache set", ours["seq put"] / dc["seq put"], 1.5)
    check("sync get vs diskcache get", ours["seq get"] / dc["seq get"], 0.8)
    sd = m[SQLITEDICT]
    print(
        f"- sync put vs sqlitedict: {ours['seq put'] / sd['seq put']:.1f}x; get: {ours['seq get'] / sd['seq get']:.1f}x"
    )


if __name__ == "__main__":
    main()
