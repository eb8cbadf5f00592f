"""Typed buckets (codecs), ``value(key, default)``, dict-style access and ``Entry.expires`` on a file store.

Async tests run on asyncio and trio; every behaviour has its sync twin here too.
The NATS server's side is in ``test_typed_nats.py``.
"""

from __future__ import annotations

import dataclasses
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
import pydantic
import pytest

import sqlkv
from sqlkv._model.entry import ns_to_datetime
from sqlkv.codecs import Bytes, Json, Msgspec, Pickle, Pydantic, Text
from tests.support.clock import FakeClock

pytestmark = pytest.mark.anyio


class User(msgspec.Struct):
    name: str
    age: int


class Account(pydantic.BaseModel):
    owner: str
    balance: int


@dataclasses.dataclass
class Point:
    x: int
    y: int


# (codec, a value, another value): every codec round-trips both, on every path a value takes.
CODECS: list[tuple[Any, Any, Any]] = [
    (Bytes(), b"\x00raw", b"more"),
    (Text(), "héllo", "wörld"),
    (Json(), {"a": [1, 2.5, None], "b": "ü"}, [1, "two"]),
    (Json(sort_keys=True), {"b": 1, "a": 2}, {"z": {"y": 1}}),
    (Msgspec(User), User("ann", 30), User("bob", 41)),
    (Msgspec(User, format="msgpack"), User("ann", 30), User("bob", 41)),
    (Msgspec(Point), Point(1, 2), Point(3, 4)),
    (Pydantic(Account), Account(owner="ann", balance=10), Account(owner="bob", balance=-5)),
    (Pickle(), {"set": {1, 2}, "tuple": (1, 2)}, frozenset({3})),
]
CODEC_IDS = [repr(codec) for codec, _, _ in CODECS]


@pytest.fixture(params=CODECS, ids=CODEC_IDS)
def codec_case(request: pytest.FixtureRequest) -> tuple[Any, Any, Any]:
    return request.param  # type: ignore[no-any-return]


# -- every path a value takes -----------------------------------------------------------------


async def test_typed_values_round_trip_on_every_read_and_write(
    store: sqlkv.AsyncStore, codec_case: tuple[Any, Any, Any]
) -> None:
    codec, first, second = codec_case
    kv = await store.create_bucket("typed", history=5, codec=codec)
    assert isinstance(kv, sqlkv.AsyncTypedBucket) and kv.codec is codec and kv.name == "typed"
    rev1 = await kv.put("k.1", first)
    entry = await kv.get("k.1")
    assert (entry.value, entry.revision, entry.operation) == (first, rev1, sqlkv.Operation.PUT)
    rev2 = await kv.update("k.1", second, last=rev1)
    assert (await kv.get("k.1", revision=rev1)).value == first
    await kv.create("k.2", second)
    assert await kv.value("k.1") == second
    assert {k: e.value for k, e in (await kv.get_many(["k.1", "k.2", "k.3"])).items()} == {
        "k.1": second,
        "k.2": second,
    }
    assert [(e.key, e.value) async for e in kv.entries()] == [("k.1", second), ("k.2", second)]
    assert [k async for k in kv.iter_keys()] == await kv.keys() == ["k.1", "k.2"]
    await kv.delete("k.1")
    assert [(e.value, e.operation) for e in await kv.history("k.1")] == [
        (first, sqlkv.Operation.PUT),
        (second, sqlkv.Operation.PUT),
        (None, sqlkv.Operation.DEL),  # a marker carries None in a typed bucket
    ]
    async with kv.watch(include_history=True) as watcher:
        initial = await watcher.initial()
        assert [(e.key, e.value) for e in initial] == [
            ("k.1", first),
            ("k.1", second),
            ("k.2", second),
            ("k.1", None),
        ]
        await kv.put("k.3", first)
        async for live in watcher:
            assert (live.key, live.value, live.revision) == ("k.3", first, rev2 + 3)
            break
    # the same bucket through an untyped handle: the codec's bytes
    raw = await store.bucket("typed")
    assert (await raw.get("k.3")).value == kv.encode(first) == codec.encode(first)
    assert (await kv.status()).keys == 2


def test_typed_values_round_trip_on_every_read_and_write_sync(tmp_path: Path, codec_case: tuple[Any, Any, Any]) -> None:
    codec, first, second = codec_case
    with sqlkv.Store(tmp_path / "s.db") as store:
        kv = store.create_bucket("typed", history=5, codec=codec)
        assert isinstance(kv, sqlkv.TypedBucket)
        rev1 = kv.put("k.1", first)
        assert kv.get("k.1").value == first
        kv.update("k.1", second, last=rev1)
        assert kv.get("k.1", revision=rev1).value == first
        kv.create("k.2", second)
        assert kv.value("k.1") == second
        assert {k: e.value for k, e in kv.get_many(["k.1", "k.2"]).items()} == {"k.1": second, "k.2": second}
        assert [(e.key, e.value) for e in kv.entries()] == [("k.1", second), ("k.2", second)]
        kv.delete("k.1")
        assert [e.value for e in kv.history("k.1")] == [first, second, None]
        with kv.watch("k.>", timeout=5) as watcher:
            assert [e.value for e in watcher.initial()] == [second, None]
            kv.put("k.3", first)
            assert next(watcher).value == first
            kv.put("k.4", second)
            assert (watcher.next(5) or pytest.fail("no entry")).value == second
            kv.delete("k.4")
            assert [(e.value, e.operation) for e in watcher.poll()] == [(None, sqlkv.Operation.DEL)]
        assert store.bucket("typed").get("k.3").value == codec.encode(first)


async def test_transactions_take_objects(store: sqlkv.AsyncStore) -> None:
    users = await store.create_bucket("users", codec=Msgspec(User))
    counters = await store.create_bucket("counters", codec=Json())
    rev = await users.put("u.1", User("ann", 30))
    async with store.atomic() as tx:
        tx.check(users, "u.1", last=rev)
        tx.update(users, "u.1", User("ann", 31), rev)
        tx.create(users, "u.2", User("bob", 40))
        tx.put(users, "u.3", User("cy", 50))
        tx.incr(counters, "users", 2)  # JSON reads a decimal counter
        tx.delete(users, "u.3")
    assert (await users.get("u.1")).value == User("ann", 31)
    assert await users.value("u.2") == User("bob", 40)
    assert await users.value("u.3") is None
    assert await counters.value("users") == 2
    with pytest.raises(sqlkv.CodecError, match="mutation 0"):
        async with store.atomic() as tx:
            tx.put(users, "u.4", 3)  # type: ignore[arg-type]  # not a User: refused when recorded


def test_transactions_take_objects_sync(tmp_path: Path) -> None:
    with sqlkv.Store(tmp_path / "s.db") as store:
        users = store.create_bucket("users", codec=Msgspec(User, format="msgpack"))
        with store.atomic() as tx:
            tx.put(users, "u.1", User("ann", 30))
            tx.create(users, "u.2", User("bob", 40))
        assert tx.revisions == [1, 2]
        assert users["u.1"] == User("ann", 30)
        with pytest.raises(sqlkv.CodecError, match="decimal counter"), store.atomic() as tx:
            tx.incr(users, "n")  # msgpack cannot read a decimal counter: refused when recorded


async def test_incr_refuses_a_codec_that_cannot_read_a_counter(store: sqlkv.AsyncStore) -> None:
    text = await store.create_bucket("text", codec=Text())
    assert await text.incr("n", 5) == 5 and await text.value("n") == "5"
    json_kv = await store.create_bucket("json", codec=Json())
    assert await json_kv.incr("n") == 1 and await json_kv.value("n") == 1
    packed = await store.create_bucket("packed", codec=Msgspec(User, format="msgpack"))
    with pytest.raises(sqlkv.CodecError, match="decimal counter"):
        await packed.incr("n")
    assert await packed.keys() == []


def test_incr_refuses_a_codec_that_cannot_read_a_counter_sync(tmp_path: Path) -> None:
    with sqlkv.Store(tmp_path / "s.db") as store:
        assert store.create_bucket("json", codec=Json()).incr("n", 3) == 3
        with pytest.raises(sqlkv.CodecError, match="decimal counter"):
            store.create_bucket("pickled", codec=Pickle()).incr("n")


async def test_a_lock_on_a_typed_bucket_is_the_bytes_recipe(store: sqlkv.AsyncStore) -> None:
    kv = await store.create_bucket("users", codec=Msgspec(User))
    async with kv.lock("job", ttl=10):
        assert (await kv.raw.get("job")).value  # the holder's name, as bytes
    assert await kv.value("job") is None


# -- errors -------------------------------------------------------------------------------------


async def test_a_value_that_does_not_decode_raises_a_typed_error_and_stays_readable(
    store: sqlkv.AsyncStore,
) -> None:
    kv = await store.create_bucket("users", history=3, codec=Msgspec(User))
    raw = await store.bucket("users")
    rev = await raw.put("u.1", b'{"name": "ann"}')  # no age: does not fit User
    with pytest.raises(sqlkv.ValueDecodeError) as caught:
        await kv.get("u.1")
    error = caught.value
    assert (error.bucket, error.key, error.revision, error.codec) == ("users", "u.1", rev, "json")
    assert error.data == b'{"name": "ann"}' and "u.1" in str(error) and f"revision {rev}" in str(error)
    assert isinstance(error, sqlkv.CodecError) and isinstance(error, sqlkv.SqlkvError)
    with pytest.raises(sqlkv.ValueDecodeError):
        await kv.value("u.1", default=None)  # a stored value that does not decode is not "missing"
    with pytest.raises(sqlkv.ValueDecodeError):
        [e async for e in kv.entries()]
    assert (await raw.get("u.1")).value == b'{"name": "ann"}'  # the bytes stay readable
    await kv.put("u.1", User("ann", 1))  # and the bucket stays usable
    assert (await kv.get("u.1")).value == User("ann", 1)


def test_a_value_that_does_not_decode_raises_a_typed_error_sync(tmp_path: Path) -> None:
    with sqlkv.Store(tmp_path / "s.db") as store:
        kv = store.create_bucket("j", codec=Json())
        rev = store.bucket("j").put("k", b"{not json")
        with pytest.raises(sqlkv.ValueDecodeError) as caught:
            kv["k"]
        assert (caught.value.key, caught.value.revision, caught.value.data) == ("k", rev, b"{not json")
        with kv.watch(timeout=1) as watcher, pytest.raises(sqlkv.ValueDecodeError):
            watcher.initial()


@pytest.mark.parametrize(
    ("codec", "value"),
    [(Msgspec(User), 3), (Msgspec(User), Point(1, 2)), (Pydantic(Account), {"owner": "x"}), (Text(), b"x")],
)
async def test_a_value_the_codec_cannot_encode_raises_codec_error_and_writes_nothing(
    store: sqlkv.AsyncStore, codec: Any, value: Any
) -> None:
    kv = await store.create_bucket("typed", codec=codec)
    with pytest.raises(sqlkv.CodecError, match="cannot encode"):
        await kv.put("k", value)
    with pytest.raises(sqlkv.CodecError):
        await kv.create("k", value)
    assert (await kv.status()).values == 0


def test_json_cannot_encode_an_object_it_does_not_know(tmp_path: Path) -> None:
    with sqlkv.Store(tmp_path / "s.db") as store:
        kv = store.create_bucket("j", codec=Json())
        with pytest.raises(sqlkv.CodecError, match="cannot encode"):
            kv["k"] = object()
        assert len(kv) == 0
        dated = store.create_bucket("d", codec=Json(default=str))
        dated["k"] = timedelta(seconds=1)
        assert dated["k"] == "0:00:01"


def test_a_missing_extra_is_named_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "msgspec", None)
    monkeypatch.setitem(sys.modules, "pydantic", None)
    with pytest.raises(sqlkv.CodecError, match=r"^the Msgspec codec needs msgspec: pip install 'sqlkv\[msgspec\]'$"):
        Msgspec(User)
    with pytest.raises(sqlkv.CodecError, match=r"pip install 'sqlkv\[pydantic\]'$"):
        Pydantic(Account)


async def test_a_bad_codec_is_refused(store: sqlkv.AsyncStore) -> None:
    with pytest.raises(sqlkv.InvalidArgumentError, match="codec"):
        await store.create_bucket("b", codec=object())  # type: ignore[call-overload]
    with pytest.raises(sqlkv.InvalidArgumentError, match=r"format must be"):
        Msgspec(User, format="yaml")  # type: ignore[arg-type]
    assert await store.bucket_names() == []


# -- the codec and the stored bucket ------------------------------------------------------------


async def test_the_codec_is_recorded_and_another_codec_is_refused(store: sqlkv.AsyncStore) -> None:
    kv = await store.create_bucket("users", codec=Msgspec(User), metadata={"team": "a"})
    assert (await kv.status()).metadata == {"team": "a", "sqlkv.codec": "json"}
    # the same format opens it, whatever the Python type
    assert (await store.bucket("users", codec=Json())).codec.name == "json"
    assert await store.create_bucket("users", codec=Pydantic(Account), metadata={"team": "a"})
    # another format is caught, when opened and when created again
    with pytest.raises(sqlkv.CodecMismatchError, match="'json', not 'msgpack'"):
        await store.bucket("users", codec=Msgspec(User, format="msgpack"))
    with pytest.raises(sqlkv.CodecMismatchError):
        await store.create_bucket("users", codec=Pickle(), metadata={"team": "a"})
    # an untyped handle (or Bytes()) always reads the bytes
    assert isinstance(await store.bucket("users"), sqlkv.AsyncBucket)
    assert isinstance(await store.bucket("users", codec=Bytes()), sqlkv.AsyncTypedBucket)
    # an untyped create_bucket is another configuration (no codec recorded): as NATS, BucketExistsError
    with pytest.raises(sqlkv.BucketExistsError):
        await store.create_bucket("users", metadata={"team": "a"})
    # a bucket made without a codec opens with any codec; Bytes() is never recorded
    await store.create_bucket("plain")
    assert (await store.bucket("plain", codec=Pickle())).codec.name == "pickle"
    assert (await (await store.create_bucket("b", codec=Bytes())).status()).metadata == {}
    with pytest.raises(sqlkv.InvalidArgumentError, match="contradicts"):
        await store.create_bucket("c", codec=Json(), metadata={"sqlkv.codec": "pickle"})


def test_the_codec_is_recorded_and_another_codec_is_refused_sync(tmp_path: Path) -> None:
    with sqlkv.Store(tmp_path / "s.db") as store:
        store.create_bucket("users", codec=Msgspec(User, format="msgpack"))
        assert store.bucket("users").status().metadata == {"sqlkv.codec": "msgpack"}
        assert store.bucket("users", codec=Msgspec(User, format="msgpack"))
        with pytest.raises(sqlkv.CodecMismatchError):
            store.bucket("users", codec=Json())
        with pytest.raises(sqlkv.CodecMismatchError):
            store.create_bucket("users", codec=Text())


# -- a value with a default -----------------------------------------------------------------------


async def test_value_returns_the_default_when_missing_deleted_or_expired(
    timed_store: sqlkv.AsyncStore, clock: FakeClock
) -> None:
    kv = await timed_store.create_bucket("b")
    typed = await timed_store.bucket("b", codec=Json())
    assert await kv.value("k") is None and await kv.value("k", b"d") == b"d"
    assert await typed.value("k", default={}) == {}
    await kv.put("k", b"1")
    assert await kv.value("k", b"d") == b"1" and await typed.value("k", 0) == 1
    await kv.delete("k")
    assert await kv.value("k", b"d") == b"d" and await typed.value("k", "gone") == "gone"
    await kv.put("t", b"2", ttl=5)
    assert await kv.value("t") == b"2"
    clock.advance(5)
    assert await kv.value("t", b"expired") == b"expired" and await typed.value("t") is None
    with pytest.raises(sqlkv.InvalidKeyError):
        await kv.value("a..b")


def test_value_returns_the_default_when_missing_deleted_or_expired_sync(tmp_path: Path) -> None:
    clock = FakeClock()
    with sqlkv.Store(tmp_path / "s.db", clock=clock, auto_sweep=False) as store:
        kv = store.create_bucket("b", ttl=10)
        typed = store.bucket("b", codec=Text())
        assert kv.value("k") is None and typed.value("k", "d") == "d"
        kv.put("k", "v")
        assert kv.value("k") == b"v" and typed.value("k") == "v"
        kv.purge("k")
        assert kv.value("k", b"d") == b"d"
        kv.put("k", "v")
        clock.advance(10)  # the bucket TTL
        assert kv.value("k", b"old") == b"old" and typed.value("k", "old") == "old"


# -- dict-style access on the sync bucket ---------------------------------------------------------


def test_dict_style_access_on_the_sync_bucket(tmp_path: Path) -> None:
    clock = FakeClock()
    with sqlkv.Store(tmp_path / "s.db", clock=clock, auto_sweep=False) as store:
        kv = store.create_bucket("b", history=3)
        assert len(kv) == 0 and list(kv) == [] and "a" not in kv and bool(kv)  # a handle is always true
        kv["b"] = b"2"
        kv["a"] = "1"  # str as UTF-8, as put
        assert kv["a"] == b"1" and kv["b"] == b"2"
        assert "a" in kv and len(kv) == 2 and list(kv) == ["a", "b"] and sorted(kv) == kv.keys()
        kv["a"] = b"one"
        assert kv["a"] == b"one" and len(kv) == 2
        del kv["a"]
        assert "a" not in kv and len(kv) == 1 and list(kv) == ["b"]
        assert kv.history("a")[-1].operation is sqlkv.Operation.DEL  # a DEL marker, history kept
        with pytest.raises(KeyError):
            kv["a"]
        with pytest.raises(KeyError):
            del kv["a"]  # already deleted: nothing is written
        with pytest.raises(KeyError):
            del kv["never"]
        assert kv.status().last_revision == 4
        kv.put("t", b"x", ttl=1)
        assert "t" in kv and len(kv) == 2
        clock.advance(1)
        assert "t" not in kv and len(kv) == 1 and list(kv) == ["b"]
        with pytest.raises(KeyError):
            kv["t"]
        with pytest.raises(sqlkv.InvalidKeyError):
            kv["a..b"]
        with pytest.raises(sqlkv.InvalidKeyError):
            kv["a..b"] = b"x"


def test_dict_style_access_on_a_typed_sync_bucket(tmp_path: Path) -> None:
    with sqlkv.Store(tmp_path / "s.db") as store:
        kv = store.create_bucket("users", codec=Msgspec(User))
        kv["u.1"] = User("ann", 30)
        kv["u.2"] = User("bob", 40)
        assert kv["u.1"] == User("ann", 30) and "u.2" in kv and len(kv) == 2 and list(kv) == ["u.1", "u.2"]
        del kv["u.1"]
        assert "u.1" not in kv and bool(kv)
        with pytest.raises(KeyError):
            kv["u.1"]
        with pytest.raises(KeyError):
            del kv["u.1"]
        assert dict((key, kv[key]) for key in kv) == {"u.2": User("bob", 40)}


def test_del_is_a_compare_and_set_delete(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``del kv[k]`` deletes the value it found: a write between its read and its delete makes it look again."""
    with sqlkv.Store(tmp_path / "s.db") as store:
        kv = store.create_bucket("b", history=5)
        kv["k"] = b"1"
        real_delete = type(kv).delete
        writes = iter([b"2"])

        def delete_after_a_write(self: sqlkv.Bucket, key: str, *, last: int | None = None) -> int:
            value = next(writes, None)
            if value is not None:
                self.put(key, value)  # another writer, between the read and the delete
            return real_delete(self, key, last=last)

        monkeypatch.setattr(type(kv), "delete", delete_after_a_write)
        del kv["k"]
        assert [e.value for e in kv.history("k")] == [b"1", b"2", b""]


# -- an entry's deadline --------------------------------------------------------------------------


async def test_expires_is_filled_by_every_read(timed_store: sqlkv.AsyncStore, clock: FakeClock) -> None:
    start = clock.now
    kv = await timed_store.create_bucket("b", history=3, ttl=100)
    await kv.put("k", b"1")
    clock.advance(10)
    await kv.put("k", b"2", ttl=30)  # the key's deadline, sooner than the bucket TTL of either revision
    await kv.put("plain", b"3")
    deadline = ns_to_datetime(start + 40 * 10**9)
    bucket_ttl = ns_to_datetime(start + 110 * 10**9)
    entry = await kv.get("k")
    assert entry.expires == deadline and entry.expires - entry.created == timedelta(seconds=30)
    assert (await kv.get("k", revision=1)).expires == deadline  # the key's deadline is every revision's
    assert [e.expires for e in await kv.history("k")] == [deadline, deadline]
    assert (await kv.get("plain")).expires == bucket_ttl
    assert {k: e.expires for k, e in (await kv.get_many(["k", "plain"])).items()} == {
        "k": deadline,
        "plain": bucket_ttl,
    }
    assert [e.expires async for e in kv.entries()] == [deadline, bucket_ttl]
    await kv.touch("k", 50)
    assert (await kv.get("k")).expires == ns_to_datetime(start + 60 * 10**9)
    await kv.touch("k", None)  # no deadline left: the bucket TTL of that revision
    assert (await kv.get("k")).expires == ns_to_datetime(start + 110 * 10**9)
    # a watcher's entries carry it too: the key's deadline, or the bucket TTL
    async with kv.watch("plain") as watcher:
        assert [e.expires for e in await watcher.initial()] == [bucket_ttl]
    typed = await timed_store.bucket("b", codec=Text())
    assert (await typed.get("plain")).expires == bucket_ttl


async def test_expires_is_none_when_nothing_expires_the_entry(store: sqlkv.AsyncStore) -> None:
    kv = await store.create_bucket("b", history=2)
    await kv.put("k", b"1")
    await kv.put("k", b"2")
    assert (await kv.get("k")).expires is None
    assert [e.expires for e in await kv.history("k")] == [None, None]
    assert [e.expires async for e in kv.entries()] == [None]
    async with kv.watch() as watcher:
        assert [e.expires for e in await watcher.initial()] == [None]
    # not part of equality: touch moves it without a new revision
    before = await kv.get("k")
    await kv.touch("k", 60)
    after = await kv.get("k")
    assert after == before and after.expires is not None and before.expires is None


def test_expires_is_filled_by_every_read_sync(tmp_path: Path) -> None:
    clock = FakeClock()
    with sqlkv.Store(tmp_path / "s.db", clock=clock, auto_sweep=False) as store:
        kv = store.create_bucket("b", history=2)
        kv.put("k", b"1", ttl=timedelta(seconds=20))
        deadline = kv.get("k").created + timedelta(seconds=20)
        assert kv.get("k").expires == deadline
        assert [e.expires for e in kv.history("k")] == [deadline]
        assert [e.expires for e in kv.entries()] == [deadline]
        assert kv.get_many(["k"])["k"].expires == deadline
        ttl_bucket = store.create_bucket("t", ttl=5)
        ttl_bucket.put("k", b"1")
        entry = ttl_bucket.get("k")
        assert entry.expires == entry.created + timedelta(seconds=5)
        with ttl_bucket.watch(timeout=1) as watcher:
            assert [e.expires for e in watcher.initial()] == [entry.expires]
            ttl_bucket.put("j", b"2")
            live = next(watcher)
            assert live.expires == live.created + timedelta(seconds=5)


def test_a_typed_bucket_keeps_every_setting_and_purges_with_a_marker_ttl(tmp_path: Path) -> None:
    """The codec is recorded beside the bucket's other settings (marker_ttl included); purge takes its ttl."""
    with sqlkv.Store(tmp_path / "t.db") as store:
        kv = store.create_bucket("b", history=3, marker_ttl=30, description="d", codec=Json())
        config = kv.status().config
        assert (config.marker_ttl, config.history, config.description) == (30.0, 3, "d")
        assert config.metadata == {"sqlkv.codec": "json"}
        kv.put("k", {"a": 1})
        kv.purge("k", ttl=60)
        assert [e.operation for e in store.bucket("b").history("k")] == [sqlkv.Operation.PURGE]
