"""Every map operation and its errors, on the async API (asyncio and trio)."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import anyio
import pytest

import sqlkv
from sqlkv import Operation

pytestmark = pytest.mark.anyio


async def test_put_get_roundtrip(kv: sqlkv.AsyncBucket) -> None:
    before = datetime.now(timezone.utc)
    rev = await kv.put("Key1", b"Value1")
    entry = await kv.get("Key1")
    assert rev == 1
    assert entry.bucket == "test" and entry.key == "Key1" and entry.value == b"Value1"
    assert entry.revision == 1 and entry.operation is Operation.PUT and entry.delta == 0
    assert entry.created.tzinfo is timezone.utc
    assert before - timedelta(seconds=1) <= entry.created <= datetime.now(timezone.utc) + timedelta(seconds=1)


async def test_str_values_are_utf8(kv: sqlkv.AsyncBucket) -> None:
    await kv.put("k", "héllo")
    assert (await kv.get("k")).value == "héllo".encode()


async def test_bytes_like_values(kv: sqlkv.AsyncBucket) -> None:
    await kv.put("a", bytearray(b"xy"))
    await kv.put("b", memoryview(b"zw"))
    assert (await kv.get("a")).value == b"xy" and (await kv.get("b")).value == b"zw"


async def test_empty_value_is_allowed(kv: sqlkv.AsyncBucket) -> None:
    await kv.put("k", b"")
    assert (await kv.get("k")).value == b""


async def test_revisions_are_one_counter_per_bucket(store: sqlkv.AsyncStore) -> None:
    a = await store.create_bucket("a")
    b = await store.create_bucket("b")
    assert [await a.put("x", b"1"), await a.put("y", b"2"), await a.put("x", b"3")] == [1, 2, 3]
    assert await b.put("x", b"1") == 1


async def test_revision_never_reused_after_purge_of_newest(kv: sqlkv.AsyncBucket) -> None:
    await kv.put("a", b"1")
    await kv.put("b", b"2")
    assert await kv.purge("b") == 3
    assert await kv.put("c", b"3") == 4


async def test_revision_never_reused_when_maintenance_deletes_the_newest_rows(
    store: sqlkv.AsyncStore,
) -> None:
    """Rows deleted above every other (as expiry and purge_deletes may do) keep their revisions taken."""
    kv = await store.create_bucket("hw", history=3)
    await kv.put("a", b"1")
    await kv.put("b", b"2")
    await kv.put("b", b"3")

    def delete_newest(conn: sqlite3.Connection) -> None:
        conn.execute(f'DELETE FROM "kv_{kv._sql.bucket_id}" WHERE key = ?', ("b",))

    await store._engine.write(delete_newest)
    status = await kv.status()
    assert (status.values, status.keys, status.last_revision) == (1, 1, 3)
    assert await kv.keys() == ["a"]
    with pytest.raises(sqlkv.KeyNotFoundError):
        await kv.get("b", revision=3)
    async with kv.watch(include_history=True) as watcher:
        assert [e.revision for e in await watcher.initial()] == [1]
    assert await kv.put("c", b"4") == 4

    def delete_everything(conn: sqlite3.Connection) -> None:
        conn.execute(f'DELETE FROM "kv_{kv._sql.bucket_id}"')

    await store._engine.write(delete_everything)
    assert await kv.put("d", b"5") == 5


async def test_revision_restarts_only_when_bucket_recreated(store: sqlkv.AsyncStore) -> None:
    kv = await store.create_bucket("r")
    await kv.put("a", b"1")
    await kv.put("a", b"2")
    await store.delete_bucket("r")
    kv = await store.create_bucket("r")
    assert await kv.put("a", b"x") == 1


async def test_get_missing_key(kv: sqlkv.AsyncBucket) -> None:
    with pytest.raises(sqlkv.KeyNotFoundError) as info:
        await kv.get("nope")
    assert not isinstance(info.value, sqlkv.KeyDeletedError)
    assert isinstance(info.value, KeyError)


async def test_get_deleted_key_raises_key_deleted(kv: sqlkv.AsyncBucket) -> None:
    await kv.put("k", b"v")
    rev = await kv.delete("k")
    with pytest.raises(sqlkv.KeyDeletedError) as info:
        await kv.get("k")
    assert info.value.revision == rev and info.value.operation is Operation.DEL
    await kv.purge("k")
    with pytest.raises(sqlkv.KeyDeletedError) as info:
        await kv.get("k")
    assert info.value.operation is Operation.PURGE


async def test_get_by_revision(kv: sqlkv.AsyncBucket) -> None:
    r1 = await kv.put("k", b"one")
    r2 = await kv.put("other", b"x")
    r3 = await kv.put("k", b"two")
    assert (await kv.get("k", revision=r1)).value == b"one"
    assert (await kv.get("k", revision=r3)).value == b"two"
    with pytest.raises(sqlkv.KeyNotFoundError):
        await kv.get("k", revision=r2)  # belongs to another key
    with pytest.raises(sqlkv.KeyNotFoundError):
        await kv.get("k", revision=99)


async def test_get_by_revision_of_marker(kv: sqlkv.AsyncBucket) -> None:
    await kv.put("k", b"v")
    rev = await kv.delete("k")
    with pytest.raises(sqlkv.KeyDeletedError):
        await kv.get("k", revision=rev)


async def test_get_trimmed_revision(store: sqlkv.AsyncStore) -> None:
    kv = await store.create_bucket("h1", history=1)
    r1 = await kv.put("k", b"1")
    await kv.put("k", b"2")
    with pytest.raises(sqlkv.KeyNotFoundError):
        await kv.get("k", revision=r1)


async def test_create(kv: sqlkv.AsyncBucket) -> None:
    rev = await kv.create("sem", b"x")
    with pytest.raises(sqlkv.KeyExistsError) as info:
        await kv.create("sem", b"y")
    assert str(info.value) == f"wrong last sequence: {rev}: key exists"
    assert info.value.actual == rev
    assert isinstance(info.value, sqlkv.WrongLastRevisionError)


async def test_create_after_delete_and_purge(kv: sqlkv.AsyncBucket) -> None:
    await kv.create("k", b"1")
    await kv.delete("k")
    r = await kv.create("k", b"2")
    assert (await kv.get("k")).revision == r
    await kv.purge("k")
    await kv.create("k", b"3")
    assert (await kv.get("k")).value == b"3"


async def test_update_cas(kv: sqlkv.AsyncBucket) -> None:
    r1 = await kv.put("k", b"1")
    r2 = await kv.update("k", b"2", last=r1)
    assert r2 > r1
    with pytest.raises(sqlkv.WrongLastRevisionError) as info:
        await kv.update("k", b"3", last=r1)
    assert str(info.value) == f"wrong last sequence: {r2}"
    assert (info.value.expected, info.value.actual) == (r1, r2)
    assert not isinstance(info.value, sqlkv.KeyExistsError)
    assert (await kv.get("k")).value == b"2"


async def test_update_with_zero_on_missing_key(kv: sqlkv.AsyncBucket) -> None:
    assert await kv.update("new", b"v", last=0) == 1
    with pytest.raises(sqlkv.WrongLastRevisionError, match="wrong last sequence: 1"):
        await kv.update("new", b"v", last=0)


async def test_update_missing_key_reports_zero(kv: sqlkv.AsyncBucket) -> None:
    with pytest.raises(sqlkv.WrongLastRevisionError, match="^wrong last sequence: 0$"):
        await kv.update("missing", b"v", last=5)


async def test_update_over_delete_marker(kv: sqlkv.AsyncBucket) -> None:
    await kv.put("k", b"1")
    marker = await kv.delete("k")
    await kv.update("k", b"2", last=marker)
    assert (await kv.get("k")).value == b"2"


async def test_delete_missing_key_writes_marker(kv: sqlkv.AsyncBucket) -> None:
    rev = await kv.delete("ghost")
    assert rev == 1
    [marker] = await kv.history("ghost")
    assert marker.operation is Operation.DEL and marker.value == b""


async def test_delete_and_purge_with_last(kv: sqlkv.AsyncBucket) -> None:
    r1 = await kv.put("k", b"1")
    with pytest.raises(sqlkv.WrongLastRevisionError):
        await kv.delete("k", last=r1 + 10)
    r2 = await kv.delete("k", last=r1)
    with pytest.raises(sqlkv.WrongLastRevisionError):
        await kv.purge("k", last=r1)
    await kv.purge("k", last=r2)
    assert [e.operation for e in await kv.history("k")] == [Operation.PURGE]


async def test_history_keeps_depth_with_markers(store: sqlkv.AsyncStore) -> None:
    kv = await store.create_bucket("h3", history=3)
    for i in range(5):
        await kv.put("k", str(i))
    await kv.delete("k")
    entries = await kv.history("k")
    assert [e.value for e in entries] == [b"3", b"4", b""]
    assert [e.operation for e in entries] == [Operation.PUT, Operation.PUT, Operation.DEL]
    assert [e.delta for e in entries] == [2, 1, 0]
    assert [e.revision for e in entries] == sorted(e.revision for e in entries)


async def test_history_one_delete_replaces_value(store: sqlkv.AsyncStore) -> None:
    kv = await store.create_bucket("h1", history=1)
    await kv.put("k", b"v")
    await kv.delete("k")
    assert [e.operation for e in await kv.history("k")] == [Operation.DEL]


async def test_purge_removes_history(kv: sqlkv.AsyncBucket) -> None:
    await kv.put("k", b"1")
    await kv.put("k", b"2")
    await kv.put("other", b"x")
    await kv.purge("k")
    assert [e.operation for e in await kv.history("k")] == [Operation.PURGE]
    assert (await kv.get("other")).value == b"x"


async def test_history_missing_key(kv: sqlkv.AsyncBucket) -> None:
    with pytest.raises(sqlkv.KeyNotFoundError):
        await kv.history("nope")


async def test_keys(kv: sqlkv.AsyncBucket) -> None:
    assert await kv.keys() == []
    for key in ["orders.1", "orders.2", "orders.2.x", "users.a.b", "users.c", "z"]:
        await kv.put(key, b"v")
    await kv.delete("users.c")
    await kv.purge("z")
    assert await kv.keys() == ["orders.1", "orders.2", "orders.2.x", "users.a.b"]
    assert await kv.keys("orders.*") == ["orders.1", "orders.2"]
    assert await kv.keys("orders.>") == ["orders.1", "orders.2", "orders.2.x"]
    assert await kv.keys("orders.*", "users.>") == ["orders.1", "orders.2", "users.a.b"]
    assert await kv.keys("*.2") == ["orders.2"]
    assert await kv.keys("*.*.*") == ["orders.2.x", "users.a.b"]
    assert await kv.keys(">") == await kv.keys()
    assert await kv.keys("orders") == []
    assert await kv.keys("orders.1") == ["orders.1"]
    assert await kv.keys("nothing.>") == []


async def test_keys_prefix_does_not_overmatch(kv: sqlkv.AsyncBucket) -> None:
    for key in ["a.b", "a.bc", "ab", "a-b", "a/b", "a.b.c"]:
        await kv.put(key, b"v")
    assert await kv.keys("a.b") == ["a.b"]
    assert await kv.keys("a.b.>") == ["a.b.c"]
    assert await kv.keys("a.*") == ["a.b", "a.bc"]


async def test_status(kv: sqlkv.AsyncBucket) -> None:
    status = await kv.status()
    assert (status.bucket, status.values, status.keys, status.bytes, status.history) == ("test", 0, 0, 0, 5)
    await kv.put("ab", b"123")
    await kv.put("ab", b"45")
    await kv.put("c", b"")
    await kv.delete("c")
    status = await kv.status()
    assert status.values == 4 and status.keys == 1 and status.last_revision == 4
    assert status.bytes == (2 + 3) + (2 + 2) + 1 + 1
    assert status.created.tzinfo is timezone.utc


async def test_create_bucket_idempotent_and_conflict(store: sqlkv.AsyncStore) -> None:
    a = await store.create_bucket("b", history=5)
    b = await store.create_bucket("b", history=5)
    assert a.name == b.name and b.config.history == 5
    with pytest.raises(sqlkv.BucketExistsError):
        await store.create_bucket("b", history=2)
    with pytest.raises(sqlkv.BucketExistsError):
        await store.create_bucket("b", history=5, description="other")


async def test_bucket_lookup_and_names(store: sqlkv.AsyncStore) -> None:
    assert await store.bucket_names() == []
    await store.create_bucket("zeta")
    await store.create_bucket("alpha", description="first")
    assert await store.bucket_names() == ["alpha", "zeta"]
    bucket = await store.bucket("alpha")
    assert bucket.config.description == "first"
    with pytest.raises(sqlkv.BucketNotFoundError):
        await store.bucket("missing")


async def test_delete_bucket(store: sqlkv.AsyncStore) -> None:
    kv = await store.create_bucket("gone")
    await kv.put("k", b"v")
    await store.delete_bucket("gone")
    assert await store.bucket_names() == []
    with pytest.raises(sqlkv.BucketNotFoundError):
        await store.delete_bucket("gone")
    with pytest.raises(sqlkv.BucketNotFoundError):
        await kv.get("k")  # a stale handle
    with pytest.raises(sqlkv.BucketNotFoundError):
        await kv.put("k", b"v")


async def test_stale_handle_does_not_reach_recreated_bucket(store: sqlkv.AsyncStore) -> None:
    old = await store.create_bucket("b")
    await store.delete_bucket("b")
    new = await store.create_bucket("b")
    await new.put("k", b"new")
    with pytest.raises(sqlkv.BucketNotFoundError):
        await old.get("k")


async def test_history_depth_validation(store: sqlkv.AsyncStore) -> None:
    for bad in (0, 65, -1, True, 1.5, "3"):
        with pytest.raises(sqlkv.InvalidArgumentError):
            await store.create_bucket("b", history=bad)  # type: ignore[arg-type]
    assert (await store.create_bucket("b", history=64)).config.history == 64


async def test_concurrent_puts_get_distinct_revisions(kv: sqlkv.AsyncBucket) -> None:
    revisions: list[int] = []

    async def writer(n: int) -> None:
        for i in range(20):
            revisions.append(await kv.put(f"k.{n}", str(i)))

    async with anyio.create_task_group() as tg:
        for n in range(25):
            tg.start_soon(writer, n)
    assert sorted(revisions) == list(range(1, 501))


async def test_concurrent_creates_one_winner(kv: sqlkv.AsyncBucket) -> None:
    outcomes: list[str] = []

    async def contender(n: int) -> None:
        try:
            await kv.create("lock", str(n))
            outcomes.append("won")
        except sqlkv.KeyExistsError:
            outcomes.append("lost")

    async with anyio.create_task_group() as tg:
        for n in range(50):
            tg.start_soon(contender, n)
    assert outcomes.count("won") == 1 and outcomes.count("lost") == 49


async def test_failed_cas_does_not_fail_batch_neighbours(kv: sqlkv.AsyncBucket) -> None:
    await kv.put("k", b"v")
    results: dict[int, object] = {}

    async def op(n: int) -> None:
        try:
            if n % 2:
                results[n] = await kv.update("k", b"x", last=999)
            else:
                results[n] = await kv.put(f"p.{n}", b"v")
        except sqlkv.WrongLastRevisionError as exc:
            results[n] = exc

    async with anyio.create_task_group() as tg:
        for n in range(40):
            tg.start_soon(op, n)
    assert all(isinstance(results[n], int) for n in range(0, 40, 2))
    assert all(isinstance(results[n], sqlkv.WrongLastRevisionError) for n in range(1, 40, 2))
    assert len(await kv.keys("p.*")) == 20


async def test_read_after_write_from_another_store(db_path: Path, kv: sqlkv.AsyncBucket) -> None:
    async with sqlkv.AsyncStore(db_path) as other:
        remote = await other.bucket("test")
        for i in range(20):
            rev = await kv.put("k", str(i))
            entry = await remote.get("k")
            assert (entry.revision, entry.value) == (rev, str(i).encode())
            rev = await remote.put("k", f"r{i}")
            assert (await kv.get("k")).revision == rev


async def test_store_lifecycle(db_path: Path) -> None:
    store = sqlkv.AsyncStore(db_path)
    with pytest.raises(sqlkv.StoreClosedError, match="not open"):
        await store.bucket_names()
    await store.open()
    kv = await store.create_bucket("b")
    await store.aclose()
    with pytest.raises(sqlkv.StoreClosedError):
        await kv.put("k", b"v")
    with pytest.raises(sqlkv.StoreClosedError):
        await store.bucket_names()
    await store.aclose()  # idempotent
    with pytest.raises(sqlkv.StoreClosedError):
        await store.open()


async def test_writes_queued_before_close_are_committed(db_path: Path) -> None:
    async with sqlkv.AsyncStore(db_path) as store:
        kv = await store.create_bucket("b")
        async with anyio.create_task_group() as tg:
            for n in range(50):
                tg.start_soon(kv.put, f"k.{n}", b"v")
            # Every put queued (or answered) first. (Started in the same batch, trio may run aclose first,
            # in a random order of the batch: puts begun after aclose may be refused, and the test failed.)
            await anyio.wait_all_tasks_blocked()
            await store.aclose()
    async with sqlkv.AsyncStore(db_path) as store:
        kv = await store.bucket("b")
        assert len(await kv.keys()) == 50


async def test_a_lone_write_begun_before_close_is_committed(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A lone small put lets the loop's other tasks run once before it runs on the loop: aclose() then waits for it.

    Without that, the close stopped the writer thread meanwhile, and the put, begun before aclose(), was
    refused with StoreClosedError (1 in ~300 runs of the test above on trio). Here the put resumes only once
    the close is under way: when it stops a database thread, or waits for lone operations.
    """
    import threading

    from sqlkv._engine.worker import DatabaseThread
    from sqlkv._runtime.ports import current_port

    closing = threading.Event()
    stop, wait_for_lone = DatabaseThread.stop, getattr(DatabaseThread, "wait_for_lone", None)

    def stopping(self: DatabaseThread, final: object = None) -> None:
        closing.set()
        stop(self, final)  # type: ignore[arg-type]

    def waiting(self: DatabaseThread, timeout: float) -> None:
        closing.set()
        assert wait_for_lone is not None
        wait_for_lone(self, timeout)

    monkeypatch.setattr(DatabaseThread, "stop", stopping)
    monkeypatch.setattr(DatabaseThread, "wait_for_lone", waiting, raising=False)
    async with sqlkv.AsyncStore(db_path) as store:
        kv = await store.create_bucket("b")
        probing = anyio.Event()

        async def yield_until_closing(port: object) -> None:
            probing.set()
            await anyio.to_thread.run_sync(closing.wait)

        monkeypatch.setattr(type(current_port()), "yield_once", yield_until_closing)
        async with anyio.create_task_group() as tg:
            tg.start_soon(kv.put, "k", b"v")
            await probing.wait()
            await store.aclose()
    async with sqlkv.AsyncStore(db_path) as store:
        assert (await (await store.bucket("b")).get("k")).value == b"v"


async def test_data_persists_across_reopen(db_path: Path) -> None:
    async with sqlkv.AsyncStore(db_path, durability="full") as store:
        kv = await store.create_bucket("b", history=3)
        await kv.put("k", b"1")
        await kv.put("k", b"2")
    async with sqlkv.AsyncStore(db_path) as store:
        kv = await store.bucket("b")
        assert [e.value for e in await kv.history("k")] == [b"1", b"2"]
        assert kv.config.history == 3
        assert await kv.put("k", b"3") == 3


async def test_cancelled_caller_leaves_store_usable(kv: sqlkv.AsyncBucket) -> None:
    with anyio.CancelScope() as scope:
        scope.cancel()
        await kv.put("k", b"never-awaited")
    assert await kv.put("k2", b"v") >= 1
    assert (await kv.get("k2")).value == b"v"


async def test_new_file_is_private(db_path: Path, store: sqlkv.AsyncStore) -> None:
    assert db_path.stat().st_mode & 0o777 == 0o600


async def test_store_options_validation(db_path: Path) -> None:
    with pytest.raises(sqlkv.InvalidArgumentError):
        sqlkv.AsyncStore(db_path, durability="sometimes")
    with pytest.raises(sqlkv.InvalidArgumentError):
        sqlkv.AsyncStore(db_path, busy_timeout=-1)
