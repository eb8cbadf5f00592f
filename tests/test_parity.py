"""Parity with a real NATS server: the same scenarios, the same revisions, values, operations and errors.

Each scenario runs on a fresh sqlkv bucket and a fresh NATS KV bucket with
the same history depth; the normalised logs (see ``parity.py``) must be equal.
Deliberate differences (docs/semantics.md) are smoothed by the adapters and
asserted where they occur.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import anyio
import pytest

import sqlkv
from tests.support.parity import NatsAdapter, SqlkvAdapter, Step, run_steps

pytestmark = [pytest.mark.anyio, pytest.mark.nats]

K1024 = "k" * 1024

# name -> (history, steps). Revisions in steps are literal: they are the same on both sides.
SCENARIOS: dict[str, tuple[int, list[Step]]] = {
    "put_get": (1, [("put", "a", b"1"), ("get", "a")]),
    "put_overwrite": (1, [("put", "a", b"1"), ("put", "a", b"2"), ("get", "a"), ("history", "a")]),
    "revisions_shared_by_keys": (
        1,
        [("put", "a", b"1"), ("put", "b", b"2"), ("put", "a", b"3"), ("get", "a"), ("get", "b")],
    ),
    "get_missing": (1, [("get", "nope")]),
    "get_deleted": (1, [("put", "a", b"1"), ("delete", "a"), ("get", "a")]),
    "get_purged": (1, [("put", "a", b"1"), ("purge", "a"), ("get", "a")]),
    "get_revision_own": (5, [("put", "a", b"1"), ("put", "a", b"2"), ("get", "a", 1), ("get", "a", 2)]),
    "get_revision_other_key": (5, [("put", "a", b"1"), ("put", "b", b"2"), ("get", "a", 2)]),
    "get_revision_missing": (5, [("put", "a", b"1"), ("get", "a", 7)]),
    "get_revision_trimmed": (1, [("put", "a", b"1"), ("put", "a", b"2"), ("get", "a", 1)]),
    "get_revision_of_marker": (5, [("put", "a", b"1"), ("delete", "a"), ("get", "a", 2)]),
    "get_old_revision_after_delete": (5, [("put", "a", b"1"), ("delete", "a"), ("get", "a", 1)]),
    "create_new": (1, [("create", "a", b"1"), ("get", "a")]),
    "create_existing": (1, [("create", "a", b"1"), ("create", "a", b"2"), ("get", "a")]),
    "create_after_delete": (1, [("put", "a", b"1"), ("delete", "a"), ("create", "a", b"2"), ("get", "a")]),
    "create_after_purge": (5, [("put", "a", b"1"), ("purge", "a"), ("create", "a", b"2"), ("history", "a")]),
    "create_after_delete_history": (
        5,
        [("put", "a", b"1"), ("put", "a", b"2"), ("delete", "a"), ("create", "a", b"3"), ("history", "a")],
    ),
    "create_twice_after_delete": (
        1,
        [("put", "a", b"1"), ("delete", "a"), ("create", "a", b"2"), ("create", "a", b"3")],
    ),
    "update_right": (1, [("put", "a", b"1"), ("update", "a", b"2", 1), ("get", "a")]),
    "update_wrong": (1, [("put", "a", b"1"), ("put", "a", b"2"), ("update", "a", b"3", 1), ("get", "a")]),
    "update_zero_missing": (1, [("update", "a", b"1", 0), ("get", "a")]),
    "update_zero_existing": (1, [("put", "a", b"1"), ("update", "a", b"2", 0)]),
    "update_missing_nonzero": (1, [("update", "a", b"1", 5)]),
    "update_over_delete_marker": (
        5,
        [("put", "a", b"1"), ("delete", "a"), ("update", "a", b"2", 2), ("get", "a")],
    ),
    "update_same_revision_twice": (
        1,
        [("put", "s", b"v"), ("update", "s", b"2", 1), ("update", "s", b"3", 1), ("get", "s")],
    ),
    "update_revision_of_other_key": (1, [("put", "a", b"1"), ("put", "b", b"1"), ("update", "a", b"2", 2)]),
    "delete_missing_writes_marker": (1, [("delete", "ghost"), ("history", "ghost"), ("get", "ghost")]),
    "delete_last_right": (1, [("put", "a", b"1"), ("delete", "a", 1), ("history", "a")]),
    "delete_last_wrong": (1, [("put", "a", b"1"), ("delete", "a", 9), ("get", "a")]),
    "delete_last_zero_on_missing": (1, [("delete", "a", 0), ("history", "a")]),
    "purge_last_right": (5, [("put", "a", b"1"), ("put", "a", b"2"), ("purge", "a", 2), ("history", "a")]),
    "purge_last_wrong": (5, [("put", "a", b"1"), ("purge", "a", 5), ("history", "a")]),
    "purge_removes_history": (
        5,
        [("put", "a", b"1"), ("put", "a", b"2"), ("delete", "a"), ("purge", "a"), ("history", "a")],
    ),
    "purge_keeps_other_keys": (5, [("put", "a", b"1"), ("put", "b", b"2"), ("purge", "a"), ("history", "b")]),
    "history_depth_one": (1, [("put", "a", b"1"), ("put", "a", b"2"), ("put", "a", b"3"), ("history", "a")]),
    "history_depth_three": (3, [("put", "a", str(i).encode()) for i in range(6)] + [("history", "a")]),
    "history_markers_count": (
        3,
        [("put", "a", b"1"), ("put", "a", b"2"), ("delete", "a"), ("put", "a", b"3"), ("history", "a")],
    ),
    "history_missing": (1, [("history", "nope")]),
    "history_after_purge_and_put": (
        5,
        [("put", "a", b"1"), ("purge", "a"), ("put", "a", b"2"), ("history", "a")],
    ),
    "history_sixty_four": (64, [("put", "a", str(i).encode()) for i in range(70)] + [("history", "a")]),
    "keys_basic": (1, [("put", "b", b"1"), ("put", "a", b"1"), ("put", "c", b"1"), ("keys",)]),
    "keys_excludes_markers": (
        1,
        [
            ("put", "a", b"1"),
            ("put", "b", b"1"),
            ("put", "c", b"1"),
            ("delete", "a"),
            ("purge", "b"),
            ("keys",),
        ],
    ),
    "keys_empty_bucket": (1, [("keys",)]),
    "keys_only_deleted": (1, [("put", "a", b"1"), ("delete", "a"), ("keys",)]),
    "keys_star_filter": (
        1,
        [
            ("put", "o.1", b""),
            ("put", "o.2", b""),
            ("put", "o.2.x", b""),
            ("put", "p.1", b""),
            ("keys", "o.*"),
        ],
    ),
    "keys_gt_filter": (
        1,
        [("put", "o.1", b""), ("put", "o.2.x", b""), ("put", "o", b""), ("put", "p.1", b""), ("keys", "o.>")],
    ),
    "keys_middle_star": (
        1,
        [("put", "a.1.z", b""), ("put", "b.2.z", b""), ("put", "a.1.y", b""), ("keys", "*.*.z")],
    ),
    "keys_multiple_filters": (
        1,
        [("put", "o.1", b""), ("put", "u.a.b", b""), ("put", "x", b""), ("keys", "o.*", "u.>")],
    ),
    "keys_exact_filter": (1, [("put", "a.b", b""), ("put", "a.bc", b""), ("keys", "a.b")]),
    "keys_filter_skips_deleted": (
        1,
        [("put", "o.1", b""), ("put", "o.2", b""), ("delete", "o.1"), ("keys", "o.*")],
    ),
    "keys_after_delete_and_reput": (1, [("put", "a", b"1"), ("delete", "a"), ("put", "a", b"2"), ("keys",)]),
    "revision_continues_after_purge_of_newest": (1, [("put", "a", b"1"), ("purge", "a"), ("put", "b", b"2")]),
    "empty_value": (1, [("put", "a", b""), ("get", "a"), ("history", "a")]),
    "binary_value": (1, [("put", "a", bytes(range(256))), ("get", "a")]),
    "long_key": (1, [("put", K1024, b"v"), ("get", K1024), ("keys",)]),
    "key_charset": (1, [("put", "a-b_c/d=e.F0", b"v"), ("get", "a-b_c/d=e.F0")]),
    "invalid_key_leading_dot": (1, [("put", ".a", b"v"), ("get", ".a")]),
    "invalid_key_trailing_dot": (1, [("put", "a.", b"v")]),
    "invalid_key_space": (1, [("put", "a b", b"v"), ("create", "a b", b"v")]),
    "invalid_key_wildcard": (1, [("put", "a.*", b"v"), ("update", "a.>", b"v", 0)]),
    "walkthrough": (
        1,
        [
            ("put", "Key1", b"Value1"),
            ("get", "Key1"),
            ("delete", "Key1"),
            ("delete", "Nope"),
            ("create", "Semaphore1", b"Value1"),
            ("create", "Semaphore1", b"Value1"),
            ("update", "Semaphore1", b"Value2", 5),
            ("update", "Semaphore1", b"Value2", 5),
            ("put", "Key1", b"Value2"),
            ("get", "Key1"),
            ("keys",),
        ],
    ),
    "interleaved_cas_on_two_keys": (
        2,
        [
            ("create", "x", b"0"),
            ("create", "y", b"0"),
            ("update", "x", b"1", 1),
            ("update", "y", b"1", 1),
            ("update", "y", b"2", 2),
            ("update", "x", b"2", 3),
            ("history", "x"),
            ("history", "y"),
        ],
    ),
}

_counter = itertools.count()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # nats-py runs on asyncio only


def test_at_least_forty_scenarios() -> None:
    assert len(SCENARIOS) >= 40


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_scenario_matches_nats(name: str, store: sqlkv.AsyncStore, nats_js: Any) -> None:
    history, steps = SCENARIOS[name]
    bucket = f"P{next(_counter)}_{name.replace('_', '-')}"[:60]
    ours = SqlkvAdapter(await store.create_bucket(bucket, history=history))
    theirs = NatsAdapter(nats_js, await nats_js.create_key_value(bucket=bucket, history=history), bucket)
    try:
        expected = await run_steps(theirs, steps)
        got = await run_steps(ours, steps)
    finally:
        await nats_js.delete_key_value(bucket)
    for index, (step, want, have) in enumerate(zip(steps, expected, got)):
        assert have == want, f"step {index} {step[:2]}: NATS gave {want!r}, sqlkv gave {have!r}"
    assert len(got) == len(expected)
    if name in ("keys_empty_bucket", "keys_only_deleted"):
        assert theirs.differences, "NATS no longer raises NoKeysError: update docs/semantics.md"


async def test_bucket_lifecycle_matches_nats(store: sqlkv.AsyncStore, nats_js: Any) -> None:
    from nats.js import errors

    name = f"P{next(_counter)}-life"
    await nats_js.create_key_value(bucket=name, history=3)
    await nats_js.create_key_value(bucket=name, history=3)  # same config: fine on both
    await store.create_bucket(name, history=3)
    await store.create_bucket(name, history=3)
    with pytest.raises(errors.BadRequestError) as nats_error:
        await nats_js.create_key_value(bucket=name, history=4)
    assert nats_error.value.err_code == 10058
    with pytest.raises(sqlkv.BucketExistsError):
        await store.create_bucket(name, history=4)
    await nats_js.delete_key_value(name)
    await store.delete_bucket(name)
    with pytest.raises(errors.BucketNotFoundError):
        await nats_js.key_value(name)
    with pytest.raises(sqlkv.BucketNotFoundError):
        await store.bucket(name)
    # re-created buckets start their revisions at 1 on both sides
    theirs = await nats_js.create_key_value(bucket=name)
    ours = await store.create_bucket(name)
    assert await theirs.put("k", b"v") == await ours.put("k", b"v") == 1
    await nats_js.delete_key_value(name)


async def test_history_limit_matches_nats(store: sqlkv.AsyncStore, nats_js: Any) -> None:
    from nats.js import errors

    with pytest.raises(errors.KeyHistoryTooLargeError):
        await nats_js.create_key_value(bucket=f"P{next(_counter)}-h", history=65)
    with pytest.raises(sqlkv.InvalidArgumentError, match="64"):
        await store.create_bucket("h", history=65)


async def test_double_dot_key_is_stricter_than_nats_py(store: sqlkv.AsyncStore) -> None:
    """nats-py lets ``a..b`` through to the server (where it fails).

    sqlkv refuses it up front, as nats.go does.
    """
    from nats.js import kv as nats_kv

    assert nats_kv._is_key_valid("a..b")  # the hole sqlkv closes
    assert nats_kv._is_key_valid("a\n")  # and the trailing newline its `$` lets through
    kv = await store.create_bucket("dd")
    with pytest.raises(sqlkv.InvalidKeyError):
        await kv.put("a..b", b"v")


async def _wait_until_gone(kv: Any, key: str, limit: float = 10.0) -> None:
    """Until ``get`` of ``key`` says not found (expiry is driven by wall time on both sides)."""
    from nats.js import errors

    with anyio.fail_after(limit):
        while True:
            try:
                await kv.get(key)
            except (errors.KeyNotFoundError, sqlkv.KeyNotFoundError):
                return
            await anyio.sleep(0.05)


async def test_bucket_ttl_expiry_matches_nats(db_path: Path, nats_js: Any) -> None:
    """Without limit markers NATS expires silently; sqlkv with auto_sweep off does the same until it sweeps."""
    name = f"P{next(_counter)}-ttl"
    theirs = NatsAdapter(nats_js, await nats_js.create_key_value(bucket=name, ttl=1), name)
    async with sqlkv.AsyncStore(db_path, auto_sweep=False) as store:
        ours = SqlkvAdapter(await store.create_bucket(name, ttl=1))
        try:
            before = [
                await run_steps(a, [("put", "k", b"v"), ("put", "j", b"w"), ("get", "k")]) for a in (theirs, ours)
            ]
            await _wait_until_gone(theirs.kv, "k")
            await _wait_until_gone(ours.kv, "k")
            steps: list[Step] = [("get", "k"), ("history", "j"), ("keys",), ("create", "k", b"again"), ("get", "k")]
            after = [await run_steps(a, steps) for a in (theirs, ours)]
        finally:
            await nats_js.delete_key_value(name)
    assert before[0] == before[1]
    assert after[0] == after[1]


async def test_max_value_size_on_put_matches_nats(store: sqlkv.AsyncStore, nats_js: Any) -> None:
    from nats.js import errors

    name = f"P{next(_counter)}-mvs"
    theirs = await nats_js.create_key_value(bucket=name, max_value_size=10)
    ours = await store.create_bucket(name, max_value_size=10)
    try:
        assert await theirs.put("k", b"x" * 10) == await ours.put("k", b"x" * 10) == 1
        with pytest.raises(errors.BadRequestError) as too_big:
            await theirs.put("k", b"x" * 11)
        assert too_big.value.err_code == 10054
        with pytest.raises(sqlkv.ValueTooLargeError):
            await ours.put("k", b"x" * 11)
        # deliberate difference: NATS counts the CAS header of create against the limit
        with pytest.raises(errors.BadRequestError):
            await theirs.create("n", b"x" * 10)
        assert await ours.create("n", b"x" * 10) == 2
    finally:
        await nats_js.delete_key_value(name)


async def test_lowering_history_trims_like_nats(store: sqlkv.AsyncStore, nats_js: Any) -> None:
    name = f"P{next(_counter)}-hist"
    theirs_kv = await nats_js.create_key_value(bucket=name, history=5)
    ours_kv = await store.create_bucket(name, history=5)
    theirs, ours = NatsAdapter(nats_js, theirs_kv, name), SqlkvAdapter(ours_kv)
    try:
        steps: list[Step] = [("put", "k", str(i).encode()) for i in range(5)] + [("delete", "o"), ("put", "o", b"1")]
        assert await run_steps(theirs, steps) == await run_steps(ours, steps)
        info = await nats_js.stream_info(f"KV_{name}")
        info.config.max_msgs_per_subject = 2
        await nats_js.update_stream(info.config)
        await store.update_bucket(name, history=2)
        check: list[Step] = [("history", "k"), ("history", "o"), ("put", "k", b"new"), ("history", "k")]
        assert await run_steps(theirs, check) == await run_steps(ours, check)
    finally:
        await nats_js.delete_key_value(name)


@pytest.mark.parametrize("older_than", [0, None])
async def test_purge_deletes_matches_nats(older_than: int | None, store: sqlkv.AsyncStore, nats_js: Any) -> None:
    name = f"P{next(_counter)}-pd"
    theirs_kv = await nats_js.create_key_value(bucket=name, history=5)
    ours_kv = await store.create_bucket(name, history=5)
    theirs, ours = NatsAdapter(nats_js, theirs_kv, name), SqlkvAdapter(ours_kv)
    try:
        steps: list[Step] = [
            ("put", "gone", b"1"), ("put", "gone", b"2"), ("delete", "gone"),
            ("put", "purged", b"1"), ("purge", "purged"), ("put", "kept", b"1"), ("put", "kept", b"2"),
        ]  # fmt: skip
        assert await run_steps(theirs, steps) == await run_steps(ours, steps)
        if older_than is None:
            await theirs_kv.purge_deletes()
            await ours_kv.purge_deletes()
        else:
            await theirs_kv.purge_deletes(olderthan=older_than)
            await ours_kv.purge_deletes(older_than=older_than)
        check: list[Step] = [("history", "gone"), ("history", "purged"), ("history", "kept"), ("keys",)]
        assert await run_steps(theirs, check) == await run_steps(ours, check)
    finally:
        await nats_js.delete_key_value(name)
