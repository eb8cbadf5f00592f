"""What a typed bucket costs: a codec against the same encode/decode written by hand around the bytes API.

Two values: a 1 KB JSON document (``Json()`` against ``json.dumps`` / ``json.loads``) and a msgspec struct
(``Msgspec(Order)`` against a ``msgspec.json`` encoder and decoder). Two operations: put and get of the
latest value (the value decoded). Sync ``Store`` and ``AsyncStore`` (asyncio), one bucket each, sequential
calls. The two ways take turns in every round (in alternating order) over the same keys, so both are measured
across the same stretch of a drifting machine; a round is short (``--ops`` calls each), and the ratio shown is
the median of the rounds' ratios (typed ops/s over hand-written ops/s: 1.00 is the same speed; the goal is
>= 0.90), beside the rates over all rounds. About 10 s with the defaults.

    python bench/bench_codecs.py [--ops 50] [--rounds 40]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec

import sqlkv
from sqlkv.codecs import Json, Msgspec


class Line(msgspec.Struct):
    sku: str
    quantity: int
    price: float


class Order(msgspec.Struct):
    id: int
    customer: str
    lines: list[Line]
    note: str


DOCUMENT: dict[str, Any] = {
    "id": 1234,
    "customer": {"name": "Ann Example", "email": "ann@example.com", "tier": "gold"},
    "lines": [{"sku": f"SKU-{i:04d}", "quantity": i % 5 + 1, "price": 9.99 + i} for i in range(12)],
    "note": "x" * 200,
}
ORDER = Order(1234, "Ann Example", [Line(f"SKU-{i:04d}", i % 5 + 1, 9.99 + i) for i in range(12)], "x" * 200)

SyncOps = dict[str, Callable[[str], Any]]
AsyncOps = dict[str, Callable[[str], Awaitable[Any]]]


def sync_ways(store: sqlkv.Store) -> dict[str, dict[str, SyncOps]]:
    """For each value: the typed way and the hand-written way, each a put and a get."""
    doc_raw = store.create_bucket("doc_raw")
    doc_typed = store.create_bucket("doc_typed", codec=Json())
    order_raw = store.create_bucket("order_raw")
    order_typed = store.create_bucket("order_typed", codec=Msgspec(Order))
    encode, decode = msgspec.json.Encoder().encode, msgspec.json.Decoder(Order).decode
    return {
        "1 KB JSON document": {
            "typed": {"put": lambda k: doc_typed.put(k, DOCUMENT), "get": lambda k: doc_typed.get(k).value},
            "by hand": {
                "put": lambda k: doc_raw.put(k, json.dumps(DOCUMENT)),
                "get": lambda k: json.loads(doc_raw.get(k).value),
            },
        },
        "msgspec struct": {
            "typed": {"put": lambda k: order_typed.put(k, ORDER), "get": lambda k: order_typed.get(k).value},
            "by hand": {
                "put": lambda k: order_raw.put(k, encode(ORDER)),
                "get": lambda k: decode(order_raw.get(k).value),
            },
        },
    }


async def async_ways(store: sqlkv.AsyncStore) -> dict[str, dict[str, AsyncOps]]:
    """The same, on an AsyncStore."""
    doc_raw = await store.create_bucket("doc_raw")
    doc_typed = await store.create_bucket("doc_typed", codec=Json())
    order_raw = await store.create_bucket("order_raw")
    order_typed = await store.create_bucket("order_typed", codec=Msgspec(Order))
    encode, decode = msgspec.json.Encoder().encode, msgspec.json.Decoder(Order).decode

    async def doc_get_typed(k: str) -> Any:
        return (await doc_typed.get(k)).value

    async def doc_get_hand(k: str) -> Any:
        return json.loads((await doc_raw.get(k)).value)

    async def order_get_typed(k: str) -> Any:
        return (await order_typed.get(k)).value

    async def order_get_hand(k: str) -> Any:
        return decode((await order_raw.get(k)).value)

    return {
        "1 KB JSON document": {
            "typed": {"put": lambda k: doc_typed.put(k, DOCUMENT), "get": doc_get_typed},
            "by hand": {"put": lambda k: doc_raw.put(k, json.dumps(DOCUMENT)), "get": doc_get_hand},
        },
        "msgspec struct": {
            "typed": {"put": lambda k: order_typed.put(k, ORDER), "get": order_get_typed},
            "by hand": {"put": lambda k: order_raw.put(k, encode(ORDER)), "get": order_get_hand},
        },
    }


Totals = dict[tuple[str, str, str], list[float]]
"""(value, way, op) -> the seconds of each round (``--ops`` calls each)."""


def run_sync(ops: int, rounds: int) -> Totals:
    totals: Totals = {}
    with tempfile.TemporaryDirectory() as folder, sqlkv.Store(Path(folder) / "bench.db") as store:
        ways = sync_ways(store)
        keys = [f"k.{i}" for i in range(ops)]
        for round_ in range(rounds):
            for value, both in ways.items():
                order = list(both.items()) if round_ % 2 == 0 else list(reversed(both.items()))
                for op in ("put", "get"):
                    for way, calls in order:
                        call = calls[op]
                        start = time.perf_counter()
                        for key in keys:
                            call(key)
                        totals.setdefault((value, way, op), []).append(time.perf_counter() - start)
    return totals


async def run_async(ops: int, rounds: int) -> Totals:
    totals: Totals = {}
    with tempfile.TemporaryDirectory() as folder:
        async with sqlkv.AsyncStore(Path(folder) / "bench.db") as store:
            ways = await async_ways(store)
            keys = [f"k.{i}" for i in range(ops)]
            for round_ in range(rounds):
                for value, both in ways.items():
                    order = list(both.items()) if round_ % 2 == 0 else list(reversed(both.items()))
                    for op in ("put", "get"):
                        for way, calls in order:
                            call = calls[op]
                            start = time.perf_counter()
                            for key in keys:
                                await call(key)
                            totals.setdefault((value, way, op), []).append(time.perf_counter() - start)
    return totals


def report(title: str, totals: Totals, ops: int) -> list[float]:
    print(f"\n{title}")
    print(f"{'value':<20} {'op':<4} {'typed ops/s':>12} {'by hand ops/s':>14} {'median ratio':>13}")
    ratios = []
    for value in ("1 KB JSON document", "msgspec struct"):
        for op in ("put", "get"):
            typed, hand = totals[(value, "typed", op)], totals[(value, "by hand", op)]
            typed_rate, hand_rate = ops * len(typed) / sum(typed), ops * len(hand) / sum(hand)
            ratio = statistics.median(h / t for t, h in zip(typed, hand))  # per round: typed rate / hand rate
            ratios.append(ratio)
            print(f"{value:<20} {op:<4} {typed_rate:>12,.0f} {hand_rate:>14,.0f} {ratio:>13.2f}")
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", type=int, default=50, help="operations per way, op and round")
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    ratios = report("sync Store", run_sync(args.ops, args.rounds), args.ops)
    ratios += report("AsyncStore (asyncio)", asyncio.run(run_async(args.ops, args.rounds)), args.ops)
    worst = min(ratios)
    print(f"\nworst ratio {worst:.2f} (goal >= 0.90): {'met' if worst >= 0.9 else 'MISSED'}")


if __name__ == "__main__":
    main()
