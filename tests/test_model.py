"""Model-based tests: random programs against sqlkv and a reference model (and against nats-server)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import sqlkv
from tests.support.counters import recount
from tests.support.model import Model, Result

KEYS = st.sampled_from(["a", "b", "c.d", "c.e"])
VALUES = st.one_of(st.binary(max_size=8), st.integers(-1000, 1000).map(lambda n: b"%d" % n))


def observe(call: Any) -> Result:
    """Run a sync sqlkv call and describe its outcome the way the model does."""
    try:
        result = call()
    except sqlkv.SqlkvError as exc:
        return describe(exc)
    if isinstance(result, int):
        return ("ok", result)
    if isinstance(result, sqlkv.Entry):
        return ("ok", result.revision, result.value)
    if isinstance(result, list) and result and isinstance(result[0], sqlkv.Entry):
        return ("ok", [(e.revision, e.operation.name, e.value) for e in result])
    return ("ok", result)


def describe(error: sqlkv.SqlkvError) -> Result:
    """An error as the model words it (a transaction's refused mutation: its index and the refusal)."""
    if isinstance(error, sqlkv.AtomicCheckError):
        return ("check_failed", [(f.key, f.expected, f.actual) for f in error.failures])
    if isinstance(error, sqlkv.KeyDeletedError):
        outcome: Result = ("deleted", error.revision)
    elif isinstance(error, sqlkv.KeyNotFoundError):
        outcome = ("not_found",)
    elif isinstance(error, sqlkv.KeyExistsError):
        outcome = ("key_exists", error.actual)
    elif isinstance(error, sqlkv.WrongLastRevisionError):
        outcome = ("wrong_last", error.actual)
    elif isinstance(error, sqlkv.NotACounterError):
        outcome = ("not_counter",)
    else:
        raise error
    index = getattr(error, "mutation", None)
    return outcome if index is None else ("refused", index, outcome[0])


class KVMachine(RuleBasedStateMachine):
    """Every operation, with history depth, markers, CAS right and wrong, against the model."""

    def __init__(self) -> None:
        super().__init__()
        self.store: sqlkv.Store | None = None

    @initialize(history=st.integers(1, 4))
    def open_store(self, history: int) -> None:
        import tempfile

        self.folder = tempfile.TemporaryDirectory()
        self.store = sqlkv.Store(Path(self.folder.name) / "m.db").open()
        self.kv = self.store.create_bucket("m", history=history)
        self.model = Model(history)
        self.watcher = self.kv.watch(updates_only=True, buffer_size=10_000).start()
        self.expected_events: list[tuple[int, str, str]] = []
        self.recorded = 0

    def teardown(self) -> None:
        if self.store is not None:
            self.watcher.close()
            self.store.close()
            self.folder.cleanup()

    def check(self, ours: Result, theirs: Result) -> None:
        assert ours == theirs, (ours, theirs)
        written = self.model.revision
        if written == self.recorded:
            return
        # Writes happened: the watcher must see each, those a transaction trimmed or purged again included.
        self.expected_events.extend(event for event in self.model.log if event[0] > self.recorded)
        self.recorded = written

    @rule(key=KEYS, value=VALUES)
    def put(self, key: str, value: bytes) -> None:
        self.check(observe(lambda: self.kv.put(key, value)), self.model.put(key, value))

    @rule(key=KEYS, value=VALUES)
    def create(self, key: str, value: bytes) -> None:
        self.check(observe(lambda: self.kv.create(key, value)), self.model.create(key, value))

    @rule(key=KEYS, value=VALUES, offset=st.sampled_from([0, 0, 1, -1, None]))
    def update(self, key: str, value: bytes, offset: int | None) -> None:
        latest = self.model._latest(key)
        last = 0 if offset is None else max(0, (latest[0] if latest else 0) + offset)
        self.check(observe(lambda: self.kv.update(key, value, last=last)), self.model.update(key, value, last))

    @rule(key=KEYS, cas=st.booleans(), wrong=st.booleans())
    def delete(self, key: str, cas: bool, wrong: bool) -> None:
        latest = self.model._latest(key)
        last = None if not cas else (latest[0] if latest else 0) + (7 if wrong else 0)
        self.check(observe(lambda: self.kv.delete(key, last=last)), self.model.delete(key, last))

    @rule(key=KEYS)
    def purge(self, key: str) -> None:
        self.check(observe(lambda: self.kv.purge(key)), self.model.purge(key))

    @rule(key=KEYS, by=st.integers(-5, 5))
    def incr(self, key: str, by: int) -> None:
        ours = observe(lambda: self.kv.incr(key, by))
        if ours[0] == "ok":  # incr returns the value; the model, the revision
            ours = ("ok", self.kv.get(key).revision)
        self.check(ours, self.model.incr(key, by))

    @rule(key=KEYS, forever=st.booleans())
    def touch(self, key: str, forever: bool) -> None:
        self.check(observe(lambda: self.kv.touch(key, None if forever else 3600)), self.model.touch(key))

    @rule(
        checks=st.lists(st.tuples(KEYS, st.sampled_from([0, 0, 1, -1, None])), max_size=2),
        mutations=st.lists(
            st.one_of(
                st.tuples(st.just("put"), KEYS, VALUES),
                st.tuples(st.just("create"), KEYS, VALUES),
                st.tuples(st.just("update"), KEYS, VALUES, st.sampled_from([0, 0, 1, -1, None])),
                st.tuples(st.just("delete"), KEYS),
                st.tuples(st.just("purge"), KEYS),
                st.tuples(st.just("incr"), KEYS, st.integers(-3, 3)),
            ),
            max_size=4,
        ),
    )
    def atomic(self, checks: list[tuple[str, int | None]], mutations: list[tuple[Any, ...]]) -> None:
        def near(key: str, offset: int | None) -> int:  # a revision right, or off by one, or 0
            latest = self.model._latest(key)
            return 0 if offset is None else max(0, (latest[0] if latest else 0) + offset)

        checks_at = [(key, near(key, offset)) for key, offset in checks]
        planned: list[tuple[Any, ...]] = []
        for kind, key, *args in mutations:
            if kind == "update":
                planned.append((kind, key, args[0], near(key, args[1])))
            elif kind == "delete":
                planned.append((kind, key, None))
            else:
                planned.append((kind, key, *args))

        def run() -> list[int]:
            with self.store.atomic() as tx:  # type: ignore[union-attr]
                for key, last in checks_at:
                    tx.check(self.kv, key, last=last)
                for kind, key, *args in planned:
                    if kind == "update":
                        tx.update(self.kv, key, args[0], last=args[1])
                    elif kind == "delete":
                        tx.delete(self.kv, key)
                    else:
                        getattr(tx, kind)(self.kv, key, *args)
            return tx.revisions

        self.check(observe(run), self.model.atomic(checks_at, planned))

    @rule(key=KEYS, pick=st.integers(0, 100))
    def get(self, key: str, pick: int) -> None:
        revision = None if pick < 50 or self.model.revision == 0 else 1 + pick % self.model.revision
        self.check(observe(lambda: self.kv.get(key, revision=revision)), self.model.get(key, revision))

    @rule(key=KEYS)
    def history(self, key: str) -> None:
        self.check(observe(lambda: self.kv.history(key)), self.model.history_of(key))

    @rule(pattern=st.sampled_from([None, "c.*", "c.>", "*", "a"]))
    def keys(self, pattern: str | None) -> None:

        ours = observe(lambda: self.kv.keys(*([pattern] if pattern else [])))
        expected = self.model.keys()
        if pattern is not None:  # the filters' token rules, for these patterns, as shell globs on one level
            tokens = pattern.split(".")
            expected = ("ok", [k for k in expected[1] if _matches(tokens, k.split("."))])  # type: ignore[attr-defined]
        self.check(ours, expected)

    @precondition(lambda self: self.store is not None)
    @invariant()
    def watcher_saw_every_write_in_order(self) -> None:
        seen = [(e.revision, e.key, e.operation.name) for e in self.watcher.poll()]
        expected, self.expected_events = self.expected_events, []
        assert seen == expected

    @precondition(lambda self: self.store is not None)
    @invariant()
    def counters_match_recount(self) -> None:
        status = self.kv.status()
        assert recount(self.kv) == (status.values, status.bytes, status.keys)
        assert status.last_revision == self.model.revision


def _matches(pattern: list[str], key: list[str]) -> bool:
    """NATS subject matching, written independently of sqlkv's: ``*`` one token, ``>`` the rest."""
    if pattern and pattern[-1] == ">":
        return len(key) >= len(pattern) and all(p in ("*", k) for p, k in zip(pattern[:-1], key))
    return len(key) == len(pattern) and all(p in ("*", k) for p, k in zip(pattern, key))


TestKVModel = KVMachine.TestCase
TestKVModel.settings = settings(
    max_examples=100, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def random_programs(count: int, length: int, seed: int) -> Iterator[tuple[int, list[tuple[Any, ...]]]]:
    """Random step lists in the parity harness's language (revisions chosen near the real ones)."""
    rng = random.Random(seed)
    for _ in range(count):
        steps: list[tuple[Any, ...]] = []
        for index in range(length):
            key = rng.choice(["a", "b", "c.d", "c.e"])
            value = bytes([rng.randrange(256) for _ in range(rng.randrange(5))])
            near = rng.choice([0, index, index + 1, max(1, index - 1)])
            steps.append(
                rng.choice(
                    [
                        ("put", key, value),
                        ("create", key, value),
                        ("update", key, value, near),
                        ("delete", key),
                        ("delete", key, near),
                        ("purge", key),
                        ("purge", key, near),
                        ("get", key),
                        ("get", key, max(1, near)),
                        ("history", key),
                        ("keys",),
                        ("keys", "c.*"),
                    ]
                )
            )
        yield rng.randint(1, 4), steps


@pytest.mark.anyio
@pytest.mark.nats
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_random_programs_match_nats(nats_server: Any, tmp_path: Path) -> None:
    """The same random programs on sqlkv and on a real nats-server give the same results."""
    import nats

    from tests.support.nats_server import RetryingJetStream
    from tests.support.parity import NatsAdapter, SqlkvAdapter, run_steps

    nc = await nats.connect(nats_server.url)
    js = RetryingJetStream(nc.jetstream())
    try:
        async with sqlkv.AsyncStore(tmp_path / "r.db") as store:
            for number, (history, steps) in enumerate(random_programs(20, 30, seed=20261122)):
                name = f"R{number}"
                theirs = NatsAdapter(js, await js.create_key_value(bucket=name, history=history), name)
                ours = SqlkvAdapter(await store.create_bucket(name, history=history))
                try:
                    expected = await run_steps(theirs, steps)
                    got = await run_steps(ours, steps)
                finally:
                    await js.delete_key_value(name)
                for index, (step, want, have) in enumerate(zip(steps, expected, got, strict=True)):
                    assert have == want, f"program {number} step {index} {step}: NATS {want!r}, sqlkv {have!r}"
    finally:
        await nc.close()
