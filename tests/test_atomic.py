"""Atomic transactions: checks then mutations across buckets, all or nothing, one unit of a group commit."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

import sqlkv
from tests.support.clock import FakeClock
from tests.support.counters import recount

pytestmark = pytest.mark.anyio


async def _rows(kv: sqlkv.AsyncBucket) -> tuple[int, int, int, int]:
    status = await kv.status()
    return status.values, status.bytes, status.keys, status.last_revision


async def test_a_transfer_across_buckets_commits_every_mutation_in_order(store: sqlkv.AsyncStore) -> None:
    accounts = await store.create_bucket("accounts", history=3)
    orders = await store.create_bucket("orders")
    stats = await store.create_bucket("stats")
    rev_a = await accounts.put("alice", b"100")
    rev_b = await accounts.put("bob", b"100")
    rev_o = await orders.put("o.6", b"pending")
    await orders.put("o.5", b"old")
    async with store.atomic() as tx:
        tx.check(accounts, "alice", last=rev_a)
        tx.check(accounts, "bob", last=rev_b)
        tx.put(accounts, "alice", b"90")
        tx.put(accounts, "bob", "110", ttl=None)
        tx.create(orders, "o.7", b"new")
        tx.update(orders, "o.6", b"paid", last=rev_o)
        tx.delete(orders, "o.5")
        tx.incr(stats, "transfers", 1)
    assert tx.committed
    assert tx.revisions == [3, 4, 3, 4, 5, 1]  # each bucket has its own revision counter
    assert (await accounts.get("alice")).value == b"90"
    assert (await accounts.get("bob")).revision == 4
    assert (await orders.get("o.7")).revision == 3
    assert (await orders.get("o.6")).value == b"paid"
    with pytest.raises(sqlkv.KeyDeletedError):
        await orders.get("o.5")
    assert (await stats.get("transfers")).value == b"1"
    assert [e.value for e in await accounts.history("alice")] == [b"100", b"90"]


async def test_checks_see_the_state_before_any_mutation(store: sqlkv.AsyncStore) -> None:
    kv = await store.create_bucket("k")
    first = await kv.put("a", b"1")
    async with store.atomic() as tx:
        tx.put(kv, "a", b"2")  # recorded first, but checks run before every mutation
        tx.check(kv, "a", last=first)
        tx.check(kv, "fresh", last=0)
    assert tx.revisions == [2]
    async with store.atomic() as tx:  # mutations apply in order: an update sees the put before it
        tx.put(kv, "b", b"x")
        tx.update(kv, "b", b"y", last=3)
    assert tx.revisions == [3, 4]


async def test_failing_checks_are_all_listed_and_nothing_is_written(store: sqlkv.AsyncStore) -> None:
    accounts = await store.create_bucket("accounts")
    other = await store.create_bucket("other")
    rev_a = await accounts.put("alice", b"100")
    await accounts.put("bob", b"100")
    before = await _rows(accounts), await _rows(other)
    tx = store.atomic()
    with pytest.raises(sqlkv.AtomicCheckError) as info:
        async with tx:
            tx.check(accounts, "alice", last=rev_a)  # passes
            tx.check(accounts, "bob", last=1)  # bob is at 2
            tx.check(other, "ghost", last=7)  # absent: 0
            tx.put(accounts, "alice", b"0")
            tx.put(other, "x", b"0")
    error = info.value
    assert isinstance(error, sqlkv.WrongLastRevisionError)
    assert error.failures == [("accounts", "bob", 1, 2), ("other", "ghost", 7, 0)]
    assert error.failures[1].bucket == "other" and error.failures[1].actual == 0
    assert (error.key, error.expected, error.actual) == ("bob", 1, 2)
    assert "accounts/bob: expected 1, actual 2" in str(error) and "other/ghost" in str(error)
    assert not tx.committed and tx.revisions == []
    assert (await _rows(accounts), await _rows(other)) == before


@pytest.mark.parametrize(
    ("record", "error", "index"),
    [
        (lambda tx, kv: tx.create(kv, "live", b"x"), sqlkv.KeyExistsError, 1),
        (lambda tx, kv: tx.update(kv, "live", b"x", last=99), sqlkv.WrongLastRevisionError, 1),
        (lambda tx, kv: tx.delete(kv, "live", last=99), sqlkv.WrongLastRevisionError, 1),
        (lambda tx, kv: tx.purge(kv, "live", last=99), sqlkv.WrongLastRevisionError, 1),
        (lambda tx, kv: tx.put(kv, "big", b"x" * 101), sqlkv.ValueTooLargeError, 1),
        (lambda tx, kv: tx.incr(kv, "live", 1), sqlkv.NotACounterError, 1),
        (lambda tx, kv: tx.put(kv, "bad key", b"x"), sqlkv.InvalidKeyError, 1),
        (lambda tx, kv: tx.put(kv, "k", 42), sqlkv.InvalidArgumentError, 1),
    ],
)
async def test_a_refused_mutation_fails_the_whole_transaction_naming_it(
    store: sqlkv.AsyncStore, record: object, error: type[Exception], index: int
) -> None:
    kv = await store.create_bucket("k", max_value_size=100)
    other = await store.create_bucket("other")
    await kv.put("live", b"value")
    before = await _rows(kv), await _rows(other)
    with pytest.raises(error) as info:
        async with store.atomic() as tx:
            tx.put(other, "first", b"written, then undone")
            record(tx, kv)  # type: ignore[operator]
            tx.put(other, "after", b"never reached")
    assert info.value.mutation == index  # type: ignore[attr-defined]
    assert str(info.value).startswith(f"mutation {index} (")
    assert (await _rows(kv), await _rows(other)) == before
    assert await other.keys() == []


async def test_a_full_bucket_refuses_the_transaction(store: sqlkv.AsyncStore) -> None:
    kv = await store.create_bucket("small", max_bytes=100)
    with pytest.raises(sqlkv.BucketFullError) as info:
        async with store.atomic() as tx:
            tx.put(kv, "a", b"x" * 40)
            tx.put(kv, "b", b"x" * 40)
            tx.put(kv, "c", b"x" * 40)
    assert info.value.mutation == 2  # type: ignore[attr-defined]
    assert "mutation 2 (put small/c)" in str(info.value)
    assert await kv.keys() == [] and (await kv.status()).bytes == 0


async def test_an_exception_in_the_block_commits_nothing(store: sqlkv.AsyncStore) -> None:
    kv = await store.create_bucket("k")
    with pytest.raises(RuntimeError):
        async with store.atomic() as tx:
            tx.put(kv, "a", b"1")
            raise RuntimeError("changed my mind")
    assert not tx.committed
    assert await kv.keys() == [] and (await kv.status()).last_revision == 0
    with pytest.raises(sqlkv.InvalidArgumentError, match="inside its block"):
        tx.put(kv, "a", b"2")


async def test_a_transaction_holds_at_most_1000_steps(store: sqlkv.AsyncStore) -> None:
    kv = await store.create_bucket("k")
    async with store.atomic() as tx:
        tx.check(kv, "k.0", last=0)
        for n in range(999):
            tx.put(kv, f"k.{n}", b"v")
    assert len(tx.revisions) == 999 and (await kv.status()).keys == 999
    with pytest.raises(sqlkv.TransactionTooLargeError):
        async with store.atomic() as tx:
            for _ in range(1001):
                tx.incr(kv, "n")
    assert isinstance(sqlkv.TransactionTooLargeError("x"), sqlkv.InvalidArgumentError)
    assert (await kv.status()).keys == 999


async def test_steps_name_buckets_of_this_store_only(store: sqlkv.AsyncStore, tmp_path: Path) -> None:
    kv = await store.create_bucket("mine")
    async with store.atomic() as tx:
        tx.put("mine", "by.name", b"1")
        tx.incr("mine", "n", 2)
    assert (await kv.get("by.name")).revision == tx.revisions[0]
    with pytest.raises(sqlkv.BucketNotFoundError):
        async with store.atomic() as tx:
            tx.put(kv, "a", b"1")
            tx.put("nobody", "a", b"1")
    with pytest.raises(sqlkv.InvalidBucketNameError):
        async with store.atomic() as tx:
            tx.put("bad name", "a", b"1")
    async with sqlkv.AsyncStore(tmp_path / "other.db") as elsewhere:
        foreign = await elsewhere.create_bucket("mine")
        with pytest.raises(sqlkv.InvalidArgumentError, match="not a bucket of this store") as info:
            async with store.atomic() as tx:
                tx.put(kv, "a", b"1")
                tx.put(foreign, "a", b"1")
        assert info.value.mutation == 1  # type: ignore[attr-defined]
    with pytest.raises(sqlkv.InvalidArgumentError):
        async with store.atomic() as tx:
            tx.put(object(), "a", b"1")  # type: ignore[arg-type]
    assert await kv.keys() == ["by.name", "n"]


async def test_an_empty_transaction_and_a_second_entry(store: sqlkv.AsyncStore) -> None:
    async with store.atomic() as tx:
        pass
    assert tx.committed and tx.revisions == []
    with pytest.raises(sqlkv.InvalidArgumentError, match="runs once"):
        async with tx:
            pass


async def test_a_deleted_bucket_fails_the_transaction(store: sqlkv.AsyncStore) -> None:
    kv = await store.create_bucket("gone")
    keep = await store.create_bucket("keep")
    await store.delete_bucket("gone")
    with pytest.raises(sqlkv.BucketNotFoundError):
        async with store.atomic() as tx:
            tx.put(keep, "a", b"1")
            tx.put(kv, "a", b"1")
    assert await keep.keys() == []


async def test_ttl_in_a_transaction_expires_the_key(timed_store: sqlkv.AsyncStore, clock: FakeClock) -> None:
    kv = await timed_store.create_bucket("t")
    async with timed_store.atomic() as tx:
        tx.put(kv, "short", b"1", ttl=5)
        tx.incr(kv, "count", ttl=5)
        tx.put(kv, "long", b"1")
    clock.advance(5)
    assert await kv.keys() == ["long"]


async def test_failing_transactions_never_fail_their_neighbours_in_a_group_commit(store: sqlkv.AsyncStore) -> None:
    kv = await store.create_bucket("k", history=1)
    await kv.put("taken", b"x")
    outcomes: dict[int, object] = {}

    async def transaction(n: int) -> None:
        try:
            async with store.atomic() as tx:
                tx.put(kv, f"t.{n}", b"1")
                if n % 3 == 0:
                    tx.create(kv, "taken", b"y")  # refused: the whole transaction goes
                tx.incr(kv, "count")
            outcomes[n] = tx.revisions
        except sqlkv.KeyExistsError as exc:
            outcomes[n] = exc

    async def put(n: int) -> None:
        outcomes[1000 + n] = await kv.put(f"p.{n}", b"1")

    async with anyio.create_task_group() as group:  # they share the writer's batches
        for n in range(60):
            group.start_soon(transaction, n)
            group.start_soon(put, n)
    failed = {n for n, outcome in outcomes.items() if isinstance(outcome, Exception)}
    assert failed == {n for n in range(60) if n % 3 == 0}
    keys = await kv.keys()
    assert {k for k in keys if k.startswith("t.")} == {f"t.{n}" for n in range(60) if n % 3}
    assert len([k for k in keys if k.startswith("p.")]) == 60
    assert (await kv.get("count")).value == b"40"
    status = await kv.status()
    assert await recount(kv) == (status.values, status.bytes, status.keys)


async def test_watchers_see_a_transaction_whole_in_revision_order_after_its_commit(store: sqlkv.AsyncStore) -> None:
    kv = await store.create_bucket("w", history=5)
    other = await store.create_bucket("o")
    async with kv.watch(updates_only=True) as watcher:
        for round_ in range(20):
            async with store.atomic() as tx:
                for n in range(5):
                    tx.put(kv, f"k.{n}", b"%d" % round_)
                tx.put(other, "elsewhere", b"x")
                tx.delete(kv, "k.0")
            seen = []
            for _ in range(6):
                entry = await watcher.__anext__()
                # When any entry of the transaction arrives, all of it is committed and readable.
                assert (await kv.get("k.4")).value == b"%d" % round_
                seen.append((entry.revision, entry.key, entry.operation))
            kv_revisions = [r for r, b in zip(tx.revisions, [kv] * 5 + [other] + [kv]) if b is kv]
            assert [r for r, _, _ in seen] == kv_revisions
            assert seen[-1][1:] == ("k.0", sqlkv.Operation.DEL)


def test_the_sync_store_has_the_same_transactions(tmp_path: Path) -> None:
    with sqlkv.Store(tmp_path / "s.db") as store:
        a = store.create_bucket("a")
        b = store.create_bucket("b")
        rev = a.put("x", b"1")
        with store.atomic() as tx:
            tx.check(a, "x", last=rev)
            tx.put(a, "x", b"2")
            tx.incr(b, "n", 5)
        assert isinstance(tx, sqlkv.Transaction) and tx.revisions == [2, 1]
        with pytest.raises(sqlkv.AtomicCheckError), store.atomic() as tx:
            tx.check(a, "x", last=rev)
            tx.put(a, "x", b"3")
        assert a.get("x").value == b"2" and b.get("n").value == b"5"
        with store.atomic() as tx:  # the sync store also accepts an async store's kind of handle by name
            tx.purge("a", "x")
        with pytest.raises(sqlkv.KeyNotFoundError):
            a.get("x")


WATCHER_PROCESS = """
import sys, sqlkv
with sqlkv.Store(sys.argv[1]) as store:
    kv = store.bucket("w")
    with kv.watch("k.*", updates_only=True, timeout=20) as watcher:
        print("ready", flush=True)  # watching from here on
        for count, entry in enumerate(watcher, 1):
            tags = {e.value for e in kv.get_many([f"k.{n}" for n in range(5)]).values()}
            # the whole transaction is readable when its first entry arrives (a later one's, at most)
            assert all(tag >= entry.value for tag in tags), (entry, tags)
            print(entry.revision, entry.key, entry.value.decode(), flush=True)
            if count == 5 * 30:
                break
"""


def test_a_watcher_in_another_process_sees_each_transaction_whole_and_after_its_commit(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "w.db"
    with sqlkv.Store(path) as store:
        kv = store.create_bucket("w", history=64)  # nothing trimmed before the other process reads it
        child = subprocess.Popen(
            [sys.executable, "-c", WATCHER_PROCESS, str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        with kv.watch() as own:  # the child's watcher is started once ours sees its first entry
            for round_ in range(30):
                with store.atomic() as tx:
                    for n in range(5):
                        tx.put(kv, f"k.{n}", b"%03d" % round_)
                if round_ == 0:
                    own.next(timeout=5)
        out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    seen = [line.split() for line in out.splitlines()]
    assert [int(revision) for revision, _, _ in seen] == list(range(1, 151))  # every mutation, in order
    assert [key for _, key, _ in seen] == [f"k.{n}" for n in range(5)] * 30
