"""One interface, three implementations: the twins cannot drift.

Every public method and property of the async interface has its sync twin
with the same signature (``await`` aside) and the same docstring in sync
words; every implementation (SQLite async, SQLite sync, NATS) keeps the
interface's signatures and docstrings and adds no public name of its own. The
only allowed differences are listed here, each with its reason.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

import sqlkv
from sqlkv._api.sync_interface import sync_doc
from sqlkv._backends.nats.bucket import NatsBucket
from sqlkv._backends.nats.store import NatsStore
from sqlkv._backends.nats.watcher import NatsWatcher
from sqlkv._backends.sqlite.async_store import SqliteAsyncBucket, SqliteAsyncStore
from sqlkv._backends.sqlite.async_watcher import SqliteAsyncWatcher
from sqlkv._backends.sqlite.sync_store import SqliteBucket, SqliteStore
from sqlkv._backends.sqlite.sync_watcher import SqliteWatcher

ASYNC_ONLY = {
    "aclose": "close",  # the twin's name
    "__aenter__": "__enter__",
    "__aexit__": "__exit__",
    "__aiter__": "__iter__",
    "__anext__": "__next__",
}
"""Async names whose sync twin has the matching synchronous name."""

ONLY_ONE_SIDE = {
    (sqlkv.AsyncStore, "inline"): "whether lone operations run on the event loop: there is no loop in sync code",
    (sqlkv.AsyncStore, "close_nowait"): "closing without an event loop: sync close() needs none",
    (sqlkv.AsyncWatcher, "close"): "sync close() beside aclose(): the async watcher has both",
    (sqlkv.Watcher, "next"): "a blocking next(timeout): async code awaits instead",
    (sqlkv.Watcher, "poll"): "a non-blocking look for GUI timers",
}

IMPLEMENTATION_ONLY = {
    "latest": "a NATS bucket's latest revision and whether it is live, for its atomic batches' creates",
    "replica_port": "the replica layer's typed way into a SQLite bucket (its ReplicaPort protocol), not for users",
    "offer": "the watch layer's callbacks into a SQLite watcher (its Routed protocol): a row, a gap, the end",
    "missed": "(see offer)",
    "end": "(see offer)",
    "plan_transaction": "the SQLite stores' port into their bucket handles: a transaction's steps as storage steps",
}

SYNC_ONLY_PARAMETERS = {("watch", "timeout")}
"""A sync watch ends its iteration after ``timeout`` idle seconds (async code uses a cancel scope)."""

PAIRS = [(sqlkv.AsyncStore, sqlkv.Store), (sqlkv.AsyncBucket, sqlkv.Bucket), (sqlkv.AsyncWatcher, sqlkv.Watcher)]

IMPLEMENTATIONS: list[tuple[type, type]] = [
    (sqlkv.AsyncStore, SqliteAsyncStore),
    (sqlkv.AsyncStore, NatsStore),
    (sqlkv.Store, SqliteStore),
    (sqlkv.AsyncBucket, SqliteAsyncBucket),
    (sqlkv.AsyncBucket, NatsBucket),
    (sqlkv.Bucket, SqliteBucket),
    (sqlkv.AsyncWatcher, SqliteAsyncWatcher),
    (sqlkv.AsyncWatcher, NatsWatcher),
    (sqlkv.Watcher, SqliteWatcher),
]


def public(cls: type) -> dict[str, Any]:
    """The public members of ``cls`` (its own and inherited), dunders of the protocols included."""
    names = {name for name in dir(cls) if not name.startswith("_")}
    names |= {name for name in ASYNC_ONLY.keys() | set(ASYNC_ONLY.values()) if hasattr(cls, name)}
    return {name: inspect.getattr_static(cls, name) for name in sorted(names) if not _is_data(cls, name)}


def _is_data(cls: type, name: str) -> bool:
    member = inspect.getattr_static(cls, name)
    return not (callable(member) or isinstance(member, (property, staticmethod, classmethod)))


def signature(member: Any, drop: set[str] = frozenset()) -> inspect.Signature:  # type: ignore[assignment]
    function = member.fget if isinstance(member, property) else member
    found = inspect.signature(function)
    parameters = [p for name, p in found.parameters.items() if name not in drop]
    return found.replace(parameters=parameters, return_annotation=inspect.Signature.empty)


def doc(cls: type, name: str) -> str:
    return inspect.getdoc(getattr(cls, name)) or ""


@pytest.mark.parametrize(("asynchronous", "synchronous"), PAIRS, ids=lambda c: c.__name__)
def test_sync_twins_have_the_async_signatures_and_docstrings(asynchronous: type, synchronous: type) -> None:
    async_members, sync_members = public(asynchronous), public(synchronous)
    for name, member in async_members.items():
        twin = ASYNC_ONLY.get(name, name)
        if (asynchronous, name) in ONLY_ONE_SIDE:
            continue
        assert twin in sync_members, f"{synchronous.__name__} lacks {twin} (twin of {asynchronous.__name__}.{name})"
        drop = {p for method, p in SYNC_ONLY_PARAMETERS if method == name}
        assert signature(sync_members[twin], drop) == signature(member), f"{synchronous.__name__}.{twin}"
        if name in ASYNC_ONLY:
            continue  # the protocol methods say what they do in their own words
        sync_text, async_text = doc(synchronous, twin), sync_doc(doc(asynchronous, name))
        assert async_text, f"{asynchronous.__name__}.{name} has no docstring"
        assert sync_text.startswith(async_text), f"{synchronous.__name__}.{twin}: not its twin's docstring"
    for name in sync_members:
        is_twin = name in async_members or name in ASYNC_ONLY.values()
        assert is_twin or (synchronous, name) in ONLY_ONE_SIDE, f"{synchronous.__name__}.{name} has no async twin"


@pytest.mark.parametrize(("interface", "implementation"), IMPLEMENTATIONS, ids=lambda c: c.__name__)
def test_implementations_keep_the_interface(interface: type, implementation: type) -> None:
    interface_members, implementation_members = public(interface), public(implementation)
    extra = set(implementation_members) - set(interface_members) - IMPLEMENTATION_ONLY.keys()
    assert not extra, f"{implementation.__name__} adds public names the interface does not have: {sorted(extra)}"
    for name, member in interface_members.items():
        assert signature(implementation_members[name]) == signature(member), f"{implementation.__name__}.{name}"
        assert doc(implementation, name) == doc(interface, name), f"{implementation.__name__}.{name}'s docstring"
    assert issubclass(implementation, interface)


def test_the_lock_recipes_are_twins() -> None:
    for name in ("acquire", "release"):
        assert signature(getattr(sqlkv.Lock, name)) == signature(getattr(sqlkv.AsyncLock, name))
        assert doc(sqlkv.Lock, name) == sync_doc(doc(sqlkv.AsyncLock, name))
    # the same arguments; the bucket's type differs (a Bucket, an AsyncBucket)
    assert list(signature(sqlkv.Lock.__init__).parameters) == list(signature(sqlkv.AsyncLock.__init__).parameters)


def test_a_location_picks_its_backend() -> None:
    assert isinstance(sqlkv.AsyncStore("x.db"), SqliteAsyncStore)
    assert isinstance(sqlkv.AsyncStore("nats://127.0.0.1:4222"), NatsStore)
    assert isinstance(sqlkv.AsyncStore(["nats://a:4222", "tls://b:4222"]), NatsStore)
    assert isinstance(sqlkv.Store("x.db"), SqliteStore)
    with pytest.raises(sqlkv.UnsupportedError, match="AsyncStore"):
        sqlkv.Store("nats://127.0.0.1:4222")
    assert isinstance(sqlkv.AsyncStore("x.db"), sqlkv.AsyncStore) and isinstance(sqlkv.Store("x.db"), sqlkv.Store)
