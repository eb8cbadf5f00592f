"""Keys, bucket names, filters, values and revisions are checked before any SQL runs."""

from __future__ import annotations

import pytest

import sqlkv
from sqlkv._model.validate import check_bucket_name, check_key, compile_filters

pytestmark = pytest.mark.anyio

VALID_KEYS = ["a", "Key1", "a.b.c", "a-b_c/d=e", "_kv.x", "0", "A" * sqlkv.MAX_KEY_LENGTH, "x.-.y"]
INVALID_KEYS = [
    "",
    ".a",
    "a.",
    "a..b",
    "a b",
    "a*",
    "a.>",
    "*",
    ">",
    "é",
    "a\n",
    "a\nb",
    "a\x00",
    "$x",
    "a" * (sqlkv.MAX_KEY_LENGTH + 1),
    "a;DROP TABLE x",
    "'",
    '"',
]


@pytest.mark.parametrize("key", VALID_KEYS)
def test_valid_keys(key: str) -> None:
    assert check_key(key) == key


@pytest.mark.parametrize("key", INVALID_KEYS)
def test_invalid_keys(key: str) -> None:
    with pytest.raises(sqlkv.InvalidKeyError):
        check_key(key)


@pytest.mark.parametrize("key", [None, 1, b"a", ["a"]])
def test_non_str_keys(key: object) -> None:
    with pytest.raises(sqlkv.InvalidKeyError):
        check_key(key)


@pytest.mark.parametrize("name", ["my-kv", "A_1", "x" * 252])
def test_valid_bucket_names(name: str) -> None:
    assert check_bucket_name(name) == name


@pytest.mark.parametrize("name", ["", "a.b", "a b", "a*", "é", "x" * 253, "a\n", "kv;--", None, 3])
def test_invalid_bucket_names(name: object) -> None:
    with pytest.raises(sqlkv.InvalidBucketNameError):
        check_bucket_name(name)


@pytest.mark.parametrize(
    ("filters", "key", "expected"),
    [
        (["a.*"], "a.b", True),
        (["a.*"], "a.b.c", False),
        (["a.*"], "a", False),
        (["a.>"], "a.b", True),
        (["a.>"], "a.b.c", True),
        (["a.>"], "a", False),
        (["*.b"], "a.b", True),
        (["*.b"], "b", False),
        (["a.*.c"], "a.x.c", True),
        (["a.*.c"], "a.x.d", False),
        (["a"], "a", True),
        (["a"], "ab", False),
        (["x.>", "a.*"], "a.b", True),
        (["x.>", "a.*"], "y.b", False),
    ],
)
def test_filter_semantics(filters: list[str], key: str, expected: bool) -> None:
    matcher, prefix = compile_filters(filters)
    assert matcher is not None
    assert matcher(key) is expected
    if expected:
        assert key.startswith(prefix)


def test_whole_bucket_filters() -> None:
    assert compile_filters([])[0] is None
    assert compile_filters([">"])[0] is None
    assert compile_filters(["a.*", ">"])[0] is None


@pytest.mark.parametrize("bad", ["", ".a", "a.", "a..b", "a.>.b", ">.a", "a*", "a>", "é", "a b", 3])
def test_invalid_filters(bad: object) -> None:
    with pytest.raises(sqlkv.InvalidKeyError):
        compile_filters([bad])


async def test_invalid_input_through_the_api_changes_nothing(kv: sqlkv.AsyncBucket) -> None:
    await kv.put("k", b"v")
    cases = [
        (kv.put("a..b", b"v"), sqlkv.InvalidKeyError),
        (kv.put("k", 3), sqlkv.InvalidArgumentError),  # type: ignore[arg-type]
        (kv.put("k", None), sqlkv.InvalidArgumentError),  # type: ignore[arg-type]
        (kv.put("k", "\udc80"), sqlkv.InvalidArgumentError),
        (kv.update("k", b"v", last=-1), sqlkv.InvalidArgumentError),
        (kv.update("k", b"v", last=True), sqlkv.InvalidArgumentError),  # type: ignore[arg-type]
        (kv.update("k", b"v", last=1.0), sqlkv.InvalidArgumentError),  # type: ignore[arg-type]
        (kv.update("k", b"v", last=2**64), sqlkv.InvalidArgumentError),
        (kv.get("k", revision=0), sqlkv.InvalidArgumentError),
        (kv.get("k", revision=-5), sqlkv.InvalidArgumentError),
        (kv.delete("k", last=-1), sqlkv.InvalidArgumentError),
        (kv.keys("a..b"), sqlkv.InvalidKeyError),
        (kv.history(""), sqlkv.InvalidKeyError),
    ]
    for coroutine, error in cases:
        with pytest.raises(error):
            await coroutine
    assert [(e.key, e.value) for e in await kv.history("k")] == [("k", b"v")]
    assert await kv.keys() == ["k"]


async def test_invalid_bucket_names_through_the_api(store: sqlkv.AsyncStore) -> None:
    for call in (store.create_bucket, store.bucket, store.delete_bucket):
        with pytest.raises(sqlkv.InvalidBucketNameError):
            await call("bad name")
    assert await store.bucket_names() == []


async def test_sql_metacharacters_are_plain_data(kv: sqlkv.AsyncBucket) -> None:
    value = "'); DROP TABLE sqlkv_buckets; --"
    await kv.put("x", value)
    assert (await kv.get("x")).value == value.encode()
    assert await kv.keys() == ["x"]


async def test_value_too_large(kv: sqlkv.AsyncBucket, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlkv._storage import ops as _ops

    monkeypatch.setattr(_ops, "MAX_VALUE_SIZE", 10)
    with pytest.raises(sqlkv.ValueTooLargeError):
        await kv.put("k", b"x" * 11)
    await kv.put("k", b"x" * 10)
