"""Where a sequential operation's time goes: the thread hop, the SQL, and each thread's CPU.

Measured in one run on a pre-filled 10k-key bucket, medians of ``--reps``:

- the round trip loop -> thread -> loop with a bare SimpleQueue thread, woken back
  by ``call_soon_threadsafe`` (asyncio's self-pipe) and by an eventfd the loop
  watches (what sqlkv's inbox does);
- sqlkv's own round trip with an operation that does nothing (reader), and
  sequential get and put through the API;
- the same get and put called directly on a connection (the SQL and the Python
  of the operation, no hop);
- per sequential get and put: CPU time of each thread and voluntary context
  switches (Linux ``/proc``), which show whether anything beyond the two
  wake-ups per operation is left.

    python bench/bench_hop.py [--ops 3000] [--reps 5]

Run it under ``taskset -c 0`` to see what the same work costs when every thread
shares one CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import queue
import statistics
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from common import KEYS, VALUE, random_keys, time_sequential

import sqlkv
from sqlkv._runtime.ports import current_port
from sqlkv._storage import ops as _ops


def _answer_with_call_soon(requests: queue.SimpleQueue[Any]) -> None:
    while (item := requests.get()) is not None:
        future, loop = item
        loop.call_soon_threadsafe(future.set_result, 1)


def _answer_with_eventfd(requests: queue.SimpleQueue[Any], fd: int, done: list[Any]) -> None:
    while (item := requests.get()) is not None:
        done.append(item)
        os.eventfd_write(fd, 1)


async def bare_hop(ops: int, wake: str) -> float:
    """µs per round trip to a plain thread and back."""
    loop = asyncio.get_running_loop()
    requests: queue.SimpleQueue[Any] = queue.SimpleQueue()
    fd = -1
    if wake == "eventfd":
        fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        done: list[Any] = []

        def drain() -> None:
            os.eventfd_read(fd)
            while done:
                done.pop(0)[0].set_result(1)

        loop.add_reader(fd, drain)
        thread = threading.Thread(target=_answer_with_eventfd, args=(requests, fd, done))
    else:
        thread = threading.Thread(target=_answer_with_call_soon, args=(requests,))
    thread.start()
    start = time.perf_counter()
    for _ in range(ops):
        future = loop.create_future()
        requests.put((future, loop))
        await future
    elapsed = time.perf_counter() - start
    requests.put(None)
    thread.join()
    if fd >= 0:
        loop.remove_reader(fd)
        os.close(fd)
    return elapsed / ops * 1e6


async def per_op(op: Callable[[str], Awaitable[Any]], keys: list[str]) -> float:
    """µs per call of ``op`` awaited once per key, one after another."""
    return 1e6 / await time_sequential(op, keys)


def _noop(conn: object) -> None:
    return None


def thread_counters() -> dict[str, tuple[float, int]]:
    """CPU seconds and voluntary context switches of every thread, by name."""
    found = {}
    for thread in threading.enumerate():
        if thread.ident is None or thread.native_id is None:
            continue
        try:
            cpu = time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
            with open(f"/proc/self/task/{thread.native_id}/status") as status:
                switches = next(int(line.split()[1]) for line in status if line.startswith("voluntary_ctxt"))
        except (OSError, StopIteration):
            continue
        found[thread.name.split(":")[0]] = (cpu, switches)
    return found


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", type=int, default=3000)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    rows: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "hop.db"
        async with sqlkv.AsyncStore(path) as store:
            kv = await store.create_bucket("bench")
            await asyncio.gather(*(kv.put(k, VALUE) for k in KEYS))
            port, reader = current_port(), store._engine.reader  # type: ignore[attr-defined]
            assert reader is not None
            for rep in range(args.reps):
                keys = random_keys(args.ops, rep)
                rows.setdefault("bare thread hop, call_soon_threadsafe", []).append(
                    await bare_hop(args.ops, "call_soon")
                )
                if hasattr(os, "eventfd"):
                    rows.setdefault("bare thread hop, eventfd", []).append(await bare_hop(args.ops, "eventfd"))
                rows.setdefault("sqlkv hop, operation doing nothing", []).append(
                    await per_op(lambda _k: port.call(reader.submit, _noop, ()), keys)
                )
                rows.setdefault("sqlkv get", []).append(await per_op(kv.get, keys))
                rows.setdefault("sqlkv put", []).append(await per_op(lambda k: kv.put(k, VALUE), keys))
            counters: dict[str, dict[str, tuple[float, float]]] = {}
            for label, op in (("get", kv.get), ("put", lambda k: kv.put(k, VALUE))):
                keys = random_keys(args.ops * 2, 99)
                before = thread_counters()
                await per_op(op, keys)
                after = thread_counters()
                counters[label] = {
                    name: (
                        (after[name][0] - before[name][0]) / len(keys) * 1e6,
                        (after[name][1] - before[name][1]) / len(keys),
                    )
                    for name in after
                    if name in before and after[name][0] - before[name][0] > 0.0005
                }
        # The operations alone, on the calling thread (SQL and the operation's Python, no hop).
        reader_conn = store._engine.open_reader()  # type: ignore[attr-defined]
        writer_conn = store._engine.open_writer()  # type: ignore[attr-defined]
        sql = kv._sql  # type: ignore[attr-defined]
        for rep in range(args.reps):
            keys = random_keys(args.ops, rep)
            start = time.perf_counter()
            for key in keys:
                _ops.get(reader_conn, sql, key, None, time.time_ns())
            rows.setdefault("get called directly (no hop)", []).append((time.perf_counter() - start) / len(keys) * 1e6)
            start = time.perf_counter()
            for key in keys:
                _ops.put(writer_conn, sql, key, VALUE, time.time_ns(), None)
            rows.setdefault("put called directly (no hop)", []).append((time.perf_counter() - start) / len(keys) * 1e6)
        reader_conn.close()
        writer_conn.close()

    print(f"\n## Sequential operations, µs per operation (median of {args.reps}, min..max); pid {os.getpid()}\n")
    print("| measurement | µs |")
    print("|---|---:|")
    for label, values in rows.items():
        print(f"| {label} | {statistics.median(values):.1f} ({min(values):.1f}..{max(values):.1f}) |")
    print("\n## Per sequential operation: CPU µs and voluntary context switches of each thread\n")
    for label, by_thread in counters.items():
        cells = ", ".join(f"{name} {cpu:.1f} µs / {switches:.2f}" for name, (cpu, switches) in by_thread.items())
        print(f"- {label}: {cells}")


if __name__ == "__main__":
    asyncio.run(main())
