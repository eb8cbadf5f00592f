"""Several processes on one file: CAS stays correct and no lock error reaches a caller."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import sqlkv

pytestmark = pytest.mark.anyio

WORKER = textwrap.dedent(
    """
    import sys, anyio, sqlkv

    async def main(path, name, rounds):
        successes = 0
        async with sqlkv.AsyncStore(path) as store:
            kv = await store.bucket("counters")

            async def task(counter):
                nonlocal successes
                for _ in range(rounds):
                    while True:
                        entry = await kv.get(counter)
                        try:
                            new = await kv.update(counter, str(int(entry.value) + 1), last=entry.revision)
                        except sqlkv.WrongLastRevisionError:
                            continue
                        successes += 1
                        print("op", counter, entry.revision, new, int(entry.value) + 1, flush=True)
                        break

            async with anyio.create_task_group() as tg:
                for counter in ("c.0", "c.1", "c.0", "c.1"):
                    tg.start_soon(task, counter)
        print("total", successes)

    anyio.run(main, sys.argv[1], sys.argv[2], int(sys.argv[3]))
    """
)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_cas_increments_across_processes_lose_nothing(db_path: Path) -> None:
    async with sqlkv.AsyncStore(db_path) as store:
        kv = await store.create_bucket("counters")
        await kv.put("c.0", b"0")
        await kv.put("c.1", b"0")
    processes, rounds = 3, 40
    children = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(db_path), f"p{n}", str(rounds)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(processes)
    ]
    outputs = [child.communicate(timeout=120) for child in children]
    for child, (_, err) in zip(children, outputs):
        assert child.returncode == 0, err
        assert "locked" not in err
    lines = [line.split() for out, _ in outputs for line in out.splitlines()]
    successes = sum(int(fields[1]) for fields in lines if fields[0] == "total")
    assert successes == processes * 4 * rounds
    async with sqlkv.AsyncStore(db_path) as store:
        kv = await store.bucket("counters")
        total = int((await kv.get("c.0")).value) + int((await kv.get("c.1")).value)
    assert total == successes
    # Linearizability of each CAS register: the successful updates of a key form one chain in which
    # every update read the value the previous one wrote (its `last` is the previous update's new
    # revision) and wrote that value plus one. A lost update or a double success would break the chain.
    for key, start in (("c.0", 1), ("c.1", 2)):
        chain = sorted((int(f[3]), int(f[2]), int(f[4])) for f in lines if f[0] == "op" and f[1] == key)
        previous_revision, previous_value = start, 0
        for new, last, value in chain:
            assert (last, value) == (previous_revision, previous_value + 1), (key, new, last, value)
            previous_revision, previous_value = new, value
