"""Hostile input and broken files: typed sqlkv errors, nothing changed, the store still usable."""

from __future__ import annotations

import ast
import math
import os
import sqlite3
from pathlib import Path
from typing import Any

import anyio
import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, example, given, settings

import sqlkv

SQLKV = Path(sqlkv.__file__).parent
ANYTHING = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.binary(max_size=40),
    st.lists(st.integers(), max_size=3),
    st.sampled_from(["'; DROP TABLE sqlkv_buckets; --", '" OR 1=1 --', "a..b", "a.>", "*", ">", "é", "a\n", "\x00"]),
)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def sync_kv(tmp_path_factory: pytest.TempPathFactory) -> Any:
    store = sqlkv.Store(tmp_path_factory.mktemp("hostile") / "h.db").open()
    kv = store.create_bucket("h", history=3, max_value_size=1 << 20)
    kv.put("anchor", b"keep me")
    yield kv
    store.close()


def _valid_history(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 64


def unchanged(kv: sqlkv.Bucket, before: int) -> None:
    assert kv.status().last_revision == before
    assert kv.get("anchor").value == b"keep me"


@FUZZ
@given(key=ANYTHING, value=ANYTHING, revision=ANYTHING, ttl=ANYTHING)
@example(key=None, value=b"", revision=1, ttl=None)  # a valid update of the anchor at its own revision: not made
def test_fuzz_key_operations(sync_kv: sqlkv.Bucket, key: Any, value: Any, revision: Any, ttl: Any) -> None:
    before = sync_kv.status().last_revision
    calls = [
        lambda: sync_kv.get(key),
        lambda: sync_kv.get("anchor", revision=revision),
        lambda: sync_kv.history(key),
        lambda: sync_kv.keys(key),
        lambda: sync_kv.watch(key).close(),
        # A compare-and-set on the anchor's own revision (``before``: the bucket's only write) is valid and would
        # change it: neither update nor delete is tried with it.
        lambda: sync_kv.update("anchor", value, last=revision) if revision != before else None,
        lambda: sync_kv.delete("anchor", last=revision) if revision is not None and revision != before else None,
        lambda: sync_kv.put(key, value, ttl=ttl) if not isinstance(key, str) or ".." in key else None,
        lambda: sync_kv.put("anchor", value, ttl=ttl) if not isinstance(value, (bytes, str)) else None,
    ]
    for call in calls:
        try:
            call()
        except sqlkv.SqlkvError:
            pass
    unchanged(sync_kv, before)


@FUZZ
@given(name=ANYTHING, history=ANYTHING, ttl=ANYTHING, size=ANYTHING)
def test_fuzz_bucket_configuration(sync_kv: sqlkv.Bucket, name: Any, history: Any, ttl: Any, size: Any) -> None:
    store = sync_kv._store
    names = store.bucket_names()
    for call in (
        lambda: store.create_bucket(name, history=history),
        lambda: store.create_bucket("fuzz", history=history, ttl=ttl, max_value_size=size, max_bytes=size),
        lambda: store.update_bucket("h", history=history, max_bytes=size) if not _valid_history(history) else None,
        lambda: store.bucket(name),
        lambda: store.delete_bucket(name) if name != "h" else None,
    ):
        try:
            call()
        except sqlkv.SqlkvError:
            pass
    leftovers = set(store.bucket_names()) - set(names)
    assert leftovers <= {"fuzz"}
    if "fuzz" in leftovers:
        store.delete_bucket("fuzz")
    assert sync_kv.status().history == 3
    unchanged(sync_kv, sync_kv.status().last_revision)


def test_values_of_every_awkward_kind(sync_kv: sqlkv.Bucket) -> None:
    for value in (b"", b"\x00" * 1000, "\udcff", 3, None, math.pi, ["x"], object()):
        try:
            rev = sync_kv.put("awkward", value)  # type: ignore[arg-type]
        except sqlkv.InvalidArgumentError:
            continue
        assert sync_kv.get("awkward", revision=rev).value in (b"", b"\x00" * 1000)
    with pytest.raises(sqlkv.ValueTooLargeError):
        sync_kv.put("big", b"x" * ((1 << 20) + 1))


def test_no_user_string_becomes_sql_text() -> None:
    """Every execute() runs a prebuilt statement (from statements.py or a migration) or an SQL literal.

    f-strings reach SQL only in statements.py and schema.py, where the only
    values formatted in are integers (bucket ids, limits) and quoted names
    derived from them.
    """
    offenders = []
    for path in SQLKV.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) in ("execute", "executemany"):
                statement = node.args[0] if node.args else None
                if isinstance(statement, ast.JoinedStr) and path.name not in ("statements.py", "schema.py"):
                    offenders.append(f"{path.name}:{node.lineno}")
                if isinstance(statement, ast.BinOp):  # "..." + something, "..." % something
                    offenders.append(f"{path.name}:{node.lineno}")
    assert not offenders
    sql_source = (SQLKV / "_storage" / "statements.py").read_text()
    assert "int(bucket_id)" in sql_source and "{bucket}" not in sql_source


def test_sql_metacharacters_in_keys_and_names_are_refused_or_inert(tmp_path: Path) -> None:
    with sqlkv.Store(tmp_path / "m.db") as store:
        for name in ["x'; DROP TABLE sqlkv_buckets; --", 'x" OR "1"="1', "kv_1", "sqlkv_buckets"]:
            try:
                store.create_bucket(name)
            except sqlkv.InvalidBucketNameError:
                continue
        kv = store.create_bucket("kv_1")  # a name that looks like a table name is just a name
        kv.put("sqlkv_buckets", b"v")
        assert store.bucket_names() == ["kv_1", "sqlkv_buckets"]
        assert kv.get("sqlkv_buckets").value == b"v"


def test_corrupted_file_gives_typed_errors(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    with sqlkv.Store(path) as store:
        kv = store.create_bucket("b")
        for i in range(300):
            kv.put(f"k.{i}", os.urandom(200))
    data = bytearray(path.read_bytes())
    for offset in range(4096 * 2, len(data), 4096):  # trash every page but the first two
        data[offset + 100 : offset + 400] = os.urandom(300)
    path.write_bytes(bytes(data))
    try:
        with sqlkv.Store(path) as store:
            kv = store.bucket("b")
            for i in range(300):
                try:
                    kv.get(f"k.{i}")
                except (sqlkv.StorageError, sqlkv.KeyNotFoundError):
                    pass
    except sqlkv.SqlkvError as exc:
        assert not isinstance(exc, sqlite3.Error)


def test_a_corrupt_schema_whose_error_message_is_not_utf8_gives_a_typed_error(tmp_path: Path) -> None:
    """SQLite names the broken object in its message; Python's sqlite3 then raises UnicodeDecodeError."""
    path = tmp_path / "s.db"
    with sqlkv.Store(path) as store:
        store.create_bucket("b").put("k", b"v")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA writable_schema = ON")
    conn.execute(
        "UPDATE sqlite_master SET name = CAST(x'6b765fcdcd' AS TEXT), "
        "sql = CAST(x'435245415445205441424c4520cdcd2028' AS TEXT) WHERE name = 'kv_1'"
    )
    conn.close()
    with pytest.raises(sqlkv.StorageError, match="corrupt"), sqlkv.Store(path) as store:
        store.bucket("b").get("k")

    async def open_async() -> None:
        async with sqlkv.AsyncStore(path) as store:
            await (await store.bucket("b")).get("k")

    with pytest.raises(sqlkv.StorageError, match="corrupt"):
        anyio.run(open_async)


def test_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    with sqlkv.Store(path) as store:
        store.create_bucket("b").put("k", b"v")
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(sqlkv.StorageError), sqlkv.Store(path) as store:
        store.bucket("b").get("k")
