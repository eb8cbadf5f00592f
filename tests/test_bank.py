"""The bank test: processes move money with atomic transactions while others read; nothing is created or lost.

Writers (AsyncStore processes with several tasks, and sync Store processes)
transfer between accounts, with ``check`` + ``put`` transactions (retried on
AtomicCheckError) or with ``incr`` pairs, each also counting the transfer in
another bucket. Readers sum every account from one snapshot (``get_many``)
over and over. ``SQLKV_STRESS=1`` runs a longer version.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import sqlkv

STRESS = os.environ.get("SQLKV_STRESS") == "1"
ACCOUNTS = [f"acct.{n}" for n in range(8)]
OPENING = 1000

WRITER = textwrap.dedent(
    """
    import random, sys, anyio, sqlkv

    path, name, rounds, flavour = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    accounts = [f"acct.{n}" for n in range(8)]
    rng = random.Random(name)

    def pick():
        source, target = rng.sample(accounts, 2)
        return source, target, rng.randint(1, 50)

    def transfer_checked(store, bank, stats, source, target, amount):
        while True:
            balances = bank.get_many([source, target])
            try:
                with store.atomic() as tx:
                    tx.check(bank, source, last=balances[source].revision)
                    tx.check(bank, target, last=balances[target].revision)
                    tx.put(bank, source, str(int(balances[source].value) - amount))
                    tx.put(bank, target, str(int(balances[target].value) + amount))
                    tx.incr(stats, "transfers")
                return tx.revisions
            except sqlkv.AtomicCheckError:
                continue

    async def transfer_checked_async(store, bank, stats, source, target, amount):
        while True:
            balances = await bank.get_many([source, target])
            try:
                async with store.atomic() as tx:
                    tx.check(bank, source, last=balances[source].revision)
                    tx.check(bank, target, last=balances[target].revision)
                    tx.put(bank, source, str(int(balances[source].value) - amount))
                    tx.put(bank, target, str(int(balances[target].value) + amount))
                    tx.incr(stats, "transfers")
                return tx.revisions
            except sqlkv.AtomicCheckError:
                continue

    def report(source, target, amount, revisions):
        print("ok", source, target, amount, *revisions, flush=True)

    if flavour == "sync":
        with sqlkv.Store(path) as store:
            bank, stats = store.bucket("bank"), store.bucket("stats")
            for n in range(rounds):
                source, target, amount = pick()
                if n % 3 == 2:  # an incr pair: no check needed, the sum stays the same
                    with store.atomic() as tx:
                        tx.incr(bank, source, -amount)
                        tx.incr(bank, target, amount)
                        tx.incr(stats, "transfers")
                    report(source, target, amount, tx.revisions)
                else:
                    report(source, target, amount, transfer_checked(store, bank, stats, source, target, amount))
    else:
        async def main():
            async with sqlkv.AsyncStore(path) as store:
                bank, stats = await store.bucket("bank"), await store.bucket("stats")

                async def task(count):
                    for n in range(count):
                        source, target, amount = pick()
                        if n % 3 == 2:
                            async with store.atomic() as tx:
                                tx.incr(bank, source, -amount)
                                tx.incr(bank, target, amount)
                                tx.incr(stats, "transfers")
                            report(source, target, amount, tx.revisions)
                        else:
                            revisions = await transfer_checked_async(store, bank, stats, source, target, amount)
                            report(source, target, amount, revisions)

                async with anyio.create_task_group() as group:
                    for _ in range(4):
                        group.start_soon(task, rounds // 4)

        anyio.run(main)
    """
)

READER = textwrap.dedent(
    """
    import os, sys, sqlkv

    path, reads, total, done = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    accounts = [f"acct.{n}" for n in range(8)]
    states = set()
    count = 0
    with sqlkv.Store(path) as store:
        bank = store.bucket("bank")
        while count < reads or not os.path.exists(done):  # at least `reads`, and until the writers are done
            balances = bank.get_many(accounts)
            seen = sum(int(entry.value) for entry in balances.values())
            assert len(balances) == len(accounts) and seen == total, (seen, balances)
            snapshot = sum(int(entry.value) for entry in bank.entries("acct.*"))
            assert snapshot == total, snapshot
            states.add(tuple(entry.revision for entry in balances.values()))
            count += 1
    print("read", count, len(states), flush=True)
    """
)


def test_transfers_across_processes_keep_the_total_and_happen_exactly_once(tmp_path: Path) -> None:
    path = tmp_path / "bank.db"
    with sqlkv.Store(path) as store:
        bank = store.create_bucket("bank", history=3)
        store.create_bucket("stats")
        for account in ACCOUNTS:
            bank.put(account, str(OPENING))
    total = OPENING * len(ACCOUNTS)
    rounds, writers, reads = (400, 6, 2000) if STRESS else (96, 4, 300)
    done = tmp_path / "writers-done"
    readers = [
        subprocess.Popen(
            [sys.executable, "-c", READER, str(path), str(reads), str(total), str(done)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    writers_ = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), f"w{n}", str(rounds), "sync" if n % 2 else "async"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(writers)
    ]
    outputs = [child.communicate(timeout=600) for child in writers_]
    done.touch()
    outputs += [child.communicate(timeout=600) for child in readers]
    children = writers_ + readers
    for child, (_, err) in zip(children, outputs):
        assert child.returncode == 0, err
        assert "locked" not in err.lower()
    lines = [line.split() for out, _ in outputs for line in out.splitlines()]
    transfers = [fields for fields in lines if fields[0] == "ok"]
    assert len(transfers) == rounds * writers
    read = [fields for fields in lines if fields[0] == "read"]
    assert len(read) == 2
    assert sum(int(fields[2]) for fields in read) > 2  # the readers saw the balances move while they read
    expected = Counter({account: OPENING for account in ACCOUNTS})
    for _, source, target, amount, *_ in transfers:
        expected[source] -= int(amount)
        expected[target] += int(amount)
    with sqlkv.Store(path) as store:
        bank, stats = store.bucket("bank"), store.bucket("stats")
        balances = {key: int(entry.value) for key, entry in bank.get_many(ACCOUNTS).items()}
        assert balances == dict(expected)  # every transfer that returned is there, exactly once
        assert sum(balances.values()) == total
        assert int(stats.get("transfers").value) == len(transfers)
        # Each transaction's counter revision is its own: no transfer was counted twice or lost.
        counted = sorted(int(fields[-1]) for fields in transfers)
        assert counted == list(range(1, len(transfers) + 1))
