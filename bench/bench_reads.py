"""Reads against their floors (issue 28): sqlkv's get, get_many and entries() beside raw sqlite3, diskcache, py-lmdb.

One bucket of 20,000 keys (``k.<group of 1,000>.<n>``), 100-byte values, history 1; random keys; every system
pre-filled with the same keys and values. Figures are keys read per second (a ``get_many`` of 100 keys counts
100), medians of ``--reps`` repetitions; within a repetition the systems take turns (``common.take_turns``:
rounds of chunks, rotating order), so they are measured across the same stretch of time.

Synchronous, one thread:

- ``sqlkv.Store`` bucket ``get``;
- raw sqlite3 on a plain table in its own file: ``CREATE TABLE t (k TEXT PRIMARY KEY, v BLOB)``,
  ``SELECT v FROM t WHERE k = ?`` (autocommit, WAL, ``synchronous=NORMAL``): the floor of a get;
- raw sqlite3 running sqlkv's own statement (``BucketSQL.get_latest``) on sqlkv's file: what the API costs on
  top of its SQL;
- ``diskcache.Cache.get`` (its defaults: SQLite in WAL mode, ``synchronous=NORMAL``; values inline);
- py-lmdb, one read transaction per get (``env.begin().get(key.encode())``, the key's encoding included).
  The environment is opened with lmdb's defaults, ``sync=True, metasync=True``: every write transaction's
  commit is flushed to disk (durable at commit); reads take no lock and copy the value out of the map;
- ``get_many`` of 100 keys and ``entries()`` over a 1,000-key range (the filter ``k.<group>.>``, which sqlkv
  narrows to a key range) against a raw cursor over the same rows of sqlkv's own table ``kv_<id>``, reading the
  columns an entry is made of: ``SELECT key, revision, value, created FROM kv_<id> WHERE key IN (?, ... ?)``
  and ``... WHERE key >= ? AND key < ? ORDER BY key`` (autocommit, WAL, ``synchronous=NORMAL``).

Asynchronous, one task on one event loop: ``AsyncStore(path)`` (default, inline) with a lone ``await kv.get(k)``,
``await kv.get_many(batch)`` and ``async for`` over ``kv.entries(...)``, against the same raw floors run in the
same loop (plain calls, no awaits), taking turns with them.

    python bench/bench_reads.py [--gets 20000] [--batches 200] [--scans 40] [--rounds 10] [--reps 5]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from common import VALUE, Targets, print_table, save_results, take_turns, take_turns_async

import sqlkv
from sqlkv._storage.statements import BucketSQL

GROUP = 1000
KEYS = [f"k.{i // GROUP:05d}.{i:06d}" for i in range(20 * GROUP)]
BATCH = 100

GET, AGAIN, MANY, SCAN = "get", "get, read before", f"get_many({BATCH})", f"entries() of {GROUP:,}"
"""``get``: the first read of each key by this store (distinct random keys); ``get, read before``: the same keys
read a third time, the file unchanged since (sqlkv's read cache holds a key from its second read on and serves
it from the third; the others read as before). The second pass is not measured."""

SQLKV = "sqlkv Store (sync)"
ASYNC = "sqlkv AsyncStore (inline, one task)"
RAW = "raw sqlite3, plain table (SELECT v FROM t WHERE k=?)"
RAW_SQLKV = "raw sqlite3, sqlkv's own get statement"
RAW_CURSOR = "raw sqlite3 cursor on sqlkv's table"
DISKCACHE = "diskcache.Cache"
LMDB = "py-lmdb, a read txn per get (sync=True, metasync=True)"

NOTES = [
    "py-lmdb: lmdb.open(sync=True, metasync=True), its defaults: a write commit is flushed (durable at commit).",
    "diskcache: its defaults (SQLite WAL, synchronous=NORMAL). Raw sqlite3: autocommit, WAL, synchronous=NORMAL.",
]

Rows = dict[str, dict[str, list[float]]]
Work = tuple[list[str], list[list[str]], list[int]]
"""Random keys, batches of distinct keys, key groups."""
Op = Callable[[Any], object]


def connect(path: Path) -> sqlite3.Connection:
    """A plain connection as the floors use it: autocommit, WAL, ``synchronous=NORMAL``."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def fill_sqlkv(path: Path) -> int:
    """sqlkv's file with the keys; the bucket's table id."""
    with sqlkv.Store(path) as store:
        kv = store.create_bucket("bench")
        for start in range(0, len(KEYS), 1000):
            with store.atomic() as tx:
                for key in KEYS[start : start + 1000]:
                    tx.put(kv, key, VALUE)
    conn = connect(path)
    bucket_id: int = conn.execute("SELECT id FROM sqlkv_buckets WHERE name = 'bench'").fetchone()[0]
    conn.close()
    return bucket_id


def fill_plain(path: Path) -> None:
    conn = connect(path)
    conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v BLOB)")
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO t (k, v) VALUES (?, ?)", ((key, VALUE) for key in KEYS))
    conn.execute("COMMIT")
    conn.close()


@contextmanager
def diskcache_get(folder: Path) -> Iterator[Op]:
    import diskcache  # type: ignore[import-untyped]

    with diskcache.Cache(str(folder)) as cache:
        with cache.transact():
            for key in KEYS:
                cache.set(key, VALUE)
        assert cache.get(KEYS[0]) == VALUE
        yield cache.get


@contextmanager
def lmdb_get(folder: Path) -> Iterator[Op]:
    import lmdb  # type: ignore[import-not-found,import-untyped,unused-ignore]

    env = lmdb.open(str(folder), map_size=1 << 28, sync=True, metasync=True)  # lmdb's defaults, stated
    try:
        with env.begin(write=True) as txn:
            for key in KEYS:
                txn.put(key.encode(), VALUE)
        begin = env.begin

        def get(key: str) -> object:
            return begin().get(key.encode())  # one read transaction per get, ended when dropped

        assert get(KEYS[0]) == VALUE
        yield get
    finally:
        env.close()


class Floors:
    """The raw sqlite3 reads: the plain table's get, sqlkv's own get statement, and cursors on sqlkv's table."""

    def __init__(self, plain: Path, path: Path, bucket_id: int) -> None:
        self.plain = connect(plain)
        self.conn = connect(path)
        table = f'"kv_{int(bucket_id)}"'
        columns = "key, revision, value, created"
        self._get = "SELECT v FROM t WHERE k = ?"
        self._latest = BucketSQL.for_bucket("bench", bucket_id).get_latest
        self._many = f"SELECT {columns} FROM {table} WHERE key IN ({', '.join('?' * BATCH)})"
        self._range = f"SELECT {columns} FROM {table} WHERE key >= ? AND key < ? ORDER BY key"
        assert self.get(KEYS[0]) == (VALUE,)

    def get(self, key: str) -> object:
        return self.plain.execute(self._get, (key,)).fetchone()

    def get_sqlkv_statement(self, key: str) -> object:
        return self.conn.execute(self._latest, (key,)).fetchone()

    def get_many(self, keys: list[str]) -> object:
        return self.conn.execute(self._many, keys).fetchall()

    def scan(self, group: int) -> object:
        return self.conn.execute(self._range, (f"k.{group:05d}.", f"k.{group:05d}/")).fetchall()

    def close(self) -> None:
        self.plain.close()
        self.conn.close()


def prefix(group: int) -> str:
    return f"k.{group:05d}.>"


def workload(rep: int, gets: int, batches: int, scans: int) -> Work:
    """Random keys, batches of distinct keys and key groups of repetition ``rep``."""
    rng = random.Random(rep)
    keys = rng.sample(KEYS, min(gets, len(KEYS)))  # distinct: each read is the store's first of that key
    many = [rng.sample(KEYS, BATCH) for _ in range(batches)]
    groups = [rng.randrange(len(KEYS) // GROUP) for _ in range(scans)]
    return keys, many, groups


def record(rows: Rows, measure: str, rates: dict[str, float], per_item: int = 1) -> None:
    for name, rate in rates.items():
        rows.setdefault(name, {}).setdefault(measure, []).append(rate * per_item)


def sync_rep(path: Path, floors: Floors, peers: dict[str, Op], work: Work, rounds: int, rows: Rows) -> None:
    keys, many, groups = work
    with sqlkv.Store(path) as store:
        kv = store.bucket("bench")
        assert kv.get(KEYS[0]).value == VALUE
        gets: dict[str, Op] = {SQLKV: kv.get, RAW: floors.get, RAW_SQLKV: floors.get_sqlkv_statement, **peers}
        record(rows, GET, take_turns(gets, keys, rounds))
        take_turns(gets, keys, rounds)
        record(rows, AGAIN, take_turns(gets, keys, rounds))
        assert len(kv.get_many(many[0])) == BATCH
        record(rows, MANY, take_turns({SQLKV: kv.get_many, RAW_CURSOR: floors.get_many}, many, rounds), BATCH)
        assert len(list(kv.entries(prefix(groups[0])))) == GROUP

        def entries(group: int) -> object:
            return list(kv.entries(prefix(group)))

        record(rows, SCAN, take_turns({SQLKV: entries, RAW_CURSOR: floors.scan}, groups, rounds), GROUP)


async def async_rep(path: Path, floors: Floors, work: Work, rounds: int, rows: Rows) -> None:
    keys, many, groups = work
    async with sqlkv.AsyncStore(path) as store:
        kv = await store.bucket("bench")
        assert (await kv.get(KEYS[0])).value == VALUE

        async def entries(group: int) -> list[sqlkv.Entry]:
            return [entry async for entry in kv.entries(prefix(group))]

        assert len(await entries(groups[0])) == GROUP
        get: dict[str, Callable[[str], Awaitable[object]]] = {ASYNC: kv.get}
        record(rows, GET, await take_turns_async(get, {RAW: floors.get}, keys, rounds))
        await take_turns_async(get, {RAW: floors.get}, keys, rounds)
        record(rows, AGAIN, await take_turns_async(get, {RAW: floors.get}, keys, rounds))
        many_op: dict[str, Callable[[list[str]], Awaitable[object]]] = {ASYNC: kv.get_many}
        record(rows, MANY, await take_turns_async(many_op, {RAW_CURSOR: floors.get_many}, many, rounds), BATCH)
        scan: dict[str, Callable[[int], Awaitable[object]]] = {ASYNC: entries}
        record(rows, SCAN, await take_turns_async(scan, {RAW_CURSOR: floors.scan}, groups, rounds), GROUP)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gets", type=int, default=20000, help="gets per system and repetition")
    parser.add_argument("--batches", type=int, default=200, help=f"get_many({BATCH}) calls per system and repetition")
    parser.add_argument("--scans", type=int, default=40, help=f"entries() of {GROUP:,} keys per system and repetition")
    parser.add_argument("--rounds", type=int, default=10, help="turns per measurement")
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    sync_rows: Rows = {}
    async_rows: Rows = {}
    with tempfile.TemporaryDirectory() as folder, ExitStack() as stack:
        root = Path(folder)
        path, plain = root / "sqlkv.db", root / "plain.db"
        bucket_id = fill_sqlkv(path)
        fill_plain(plain)
        floors = Floors(plain, path, bucket_id)
        stack.callback(floors.close)
        peers = {
            DISKCACHE: stack.enter_context(diskcache_get(root / "diskcache")),
            LMDB: stack.enter_context(lmdb_get(root / "lmdb")),
        }
        for rep in range(args.reps):
            work = workload(rep, args.gets, args.batches, args.scans)
            sync_rep(path, floors, peers, work, args.rounds, sync_rows)
            asyncio.run(async_rep(path, floors, work, args.rounds, async_rows))

    title = f"keys read per second, {len(KEYS):,} keys, 100-byte values (median of {args.reps}; taking turns)"
    sync = print_table(f"Synchronous reads, {title}", sync_rows)
    aio = print_table(f"Asynchronous reads (one task; the raw floors on the same loop), {title}", async_rows)
    for note in NOTES:
        print(f"\n{note}")

    print("\n## Targets\n")
    targets = Targets()
    at_least = targets.at_least
    for label, measure in (("first read of each key", GET), ("a key read before, file unchanged", AGAIN)):
        at_least(f"sync get / diskcache get ({label})", sync[SQLKV][measure] / sync[DISKCACHE][measure], 1.2)
        at_least(f"sync get / raw sqlite3 plain-table get ({label})", sync[SQLKV][measure] / sync[RAW][measure], 0.67)
        at_least(
            f"async sequential get / raw sqlite3 plain-table get, same loop ({label})",
            aio[ASYNC][measure] / aio[RAW][measure],
            0.67,
        )
    for label, measure in (("get_many(100)", MANY), (f"entries() of {GROUP:,} keys", SCAN)):
        at_least(f"sync {label} / raw cursor", sync[SQLKV][measure] / sync[RAW_CURSOR][measure], 0.8)
        at_least(f"async {label} / raw cursor", aio[ASYNC][measure] / aio[RAW_CURSOR][measure], 0.8)
    print("\n## Beside them (no target)\n")
    info = {
        "sync get / py-lmdb get (sync=True, metasync=True)": sync[SQLKV][GET] / sync[LMDB][GET],
        "sync get / raw sqlite3 running sqlkv's own get statement": sync[SQLKV][GET] / sync[RAW_SQLKV][GET],
        "raw sqlkv get statement / raw plain-table get": sync[RAW_SQLKV][GET] / sync[RAW][GET],
        "async get / sync get": aio[ASYNC][GET] / sync[SQLKV][GET],
    }
    for label, ratio in info.items():
        print(f"- {label}: {ratio:.2f}x")
    save_results(
        "reads",
        {
            "keys": len(KEYS),
            "value_bytes": len(VALUE),
            "reps": args.reps,
            "workload": {"gets": args.gets, "batches": args.batches, "scans": args.scans, "rounds": args.rounds},
            "rows": {"sync": sync_rows, "async": async_rows},
            "medians": {"sync": sync, "async": aio},
            "ratios": info,
            "targets": targets.items,
            "notes": NOTES,
        },
    )


if __name__ == "__main__":
    main()
