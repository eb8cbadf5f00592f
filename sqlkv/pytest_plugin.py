"""sqlkv's pytest plugin (installed with sqlkv through the ``pytest11`` entry point).

Fixtures:

- ``sqlkv_store``: an open :class:`sqlkv.AsyncStore` on a fresh file under ``tmp_path``;
- ``sqlkv_sync_store``: the same as a :class:`sqlkv.Store`;
- ``sqlkv_memory_store`` / ``sqlkv_sync_memory_store``: the same on a RAM-backed file
  (``/dev/shm`` where there is one) with ``durability="normal"``: the fastest store for tests;
- ``sqlkv_bucket`` / ``sqlkv_sync_bucket``: factories, ``await sqlkv_bucket("name", history=5)``,
  on the store of the test;
- ``nats_kv``: an object with the interface of nats.py's ``KeyValue`` backed by sqlkv, so that
  code written against nats.py can be tested without a server (see ``sqlkv.testing``);
  it needs nats-py (``pip install 'sqlkv[nats]'``);
- ``nats_jetstream``: the key-value part of nats.py's JetStream context on ``sqlkv_store``
  (``await nats_jetstream.create_key_value(bucket="b", history=5)``, ``key_value``,
  ``delete_key_value``), for code that makes its own buckets; it needs nats-py too.

The async fixtures are plain pytest fixtures: each opens and closes its store on
an event loop of its own, in a thread of its own, and the test uses the store on
its own loop (an ``AsyncStore`` is not tied to the loop that opened it). So they
work the same under pytest-asyncio (strict or auto mode: ``@pytest.mark.asyncio``),
anyio's plugin (``@pytest.mark.anyio``, asyncio or trio), both in one session, and
in a sync test that runs a loop itself. (Async fixtures would be claimed by one
runner or the other, and pytest-asyncio's strict mode ignores undecorated ones.)

Every store a fixture opens is closed after its test. A test that opens a store
itself and leaves it open fails, and the store is closed for it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import tempfile
import warnings
from collections.abc import Awaitable, Callable, Generator, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

import sqlkv

__all__ = [
    "nats_jetstream",
    "nats_kv",
    "sqlkv_bucket",
    "sqlkv_memory_store",
    "sqlkv_store",
    "sqlkv_sync_bucket",
    "sqlkv_sync_memory_store",
    "sqlkv_sync_store",
]


T = TypeVar("T")


def _ram_dir() -> str | None:
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None


def _on_own_loop(operation: Callable[[], Awaitable[T]]) -> T:
    """Run ``operation()`` on a new asyncio loop in a thread of its own: no test runner's loop is touched.

    An ``AsyncStore`` is not tied to the loop that opened it (it finds the running
    loop at each call), so a store opened here serves a test on any loop
    (pytest-asyncio's, anyio's on asyncio or trio) and is closed here after it.
    """
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="pytest-sqlkv") as pool:
        return pool.submit(asyncio.run, _awaited(operation)).result()


async def _awaited(operation: Callable[[], Awaitable[T]]) -> T:
    return await operation()


@contextlib.contextmanager
def _async_store(path: Path) -> Iterator[sqlkv.AsyncStore]:
    store = _on_own_loop(sqlkv.AsyncStore(path).open)
    try:
        yield store
    finally:
        _on_own_loop(store.aclose)


@pytest.fixture
def sqlkv_store(tmp_path: Path) -> Iterator[sqlkv.AsyncStore]:
    """An open AsyncStore on a fresh file under ``tmp_path``, closed after the test."""
    with _async_store(tmp_path / "sqlkv.db") as store:
        yield store


@pytest.fixture
def sqlkv_sync_store(tmp_path: Path) -> Iterator[sqlkv.Store]:
    """An open Store on a fresh file under ``tmp_path``, closed after the test."""
    with sqlkv.Store(tmp_path / "sqlkv.db") as store:
        yield store


@pytest.fixture
def sqlkv_memory_store(tmp_path: Path) -> Iterator[sqlkv.AsyncStore]:
    """An open AsyncStore on a RAM-backed file (``/dev/shm`` if present), removed after the test."""
    with (
        tempfile.TemporaryDirectory(dir=_ram_dir() or tmp_path) as folder,
        _async_store(Path(folder) / "sqlkv.db") as store,
    ):
        yield store


@pytest.fixture
def sqlkv_sync_memory_store(tmp_path: Path) -> Iterator[sqlkv.Store]:
    """An open Store on a RAM-backed file (``/dev/shm`` if present), removed after the test."""
    with (
        tempfile.TemporaryDirectory(dir=_ram_dir() or tmp_path) as folder,
        sqlkv.Store(Path(folder) / "sqlkv.db") as store,
    ):
        yield store


@pytest.fixture
def sqlkv_bucket(sqlkv_store: sqlkv.AsyncStore) -> Callable[..., Awaitable[sqlkv.AsyncBucket]]:
    """A factory of buckets on ``sqlkv_store``: ``kv = await sqlkv_bucket("name", history=5)``."""

    async def make(name: str = "test", **config: Any) -> sqlkv.AsyncBucket:
        bucket: sqlkv.AsyncBucket = await sqlkv_store.create_bucket(name, **config)
        return bucket

    return make


@pytest.fixture
def sqlkv_sync_bucket(sqlkv_sync_store: sqlkv.Store) -> Callable[..., sqlkv.Bucket]:
    """A factory of buckets on ``sqlkv_sync_store``: ``kv = sqlkv_sync_bucket("name", history=5)``."""

    def make(name: str = "test", **config: Any) -> sqlkv.Bucket:
        bucket: sqlkv.Bucket = sqlkv_sync_store.create_bucket(name, **config)
        return bucket

    return make


def _nats_missing() -> bool:
    """Whether nats-py is not installed (an installed but broken one raises its own ImportError)."""
    try:
        import nats.js.kv  # noqa: F401 - what NatsKeyValue builds its entries and errors from
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] != "nats":
            raise
        return True
    return False


@pytest.fixture
def nats_kv(sqlkv_store: sqlkv.AsyncStore) -> Any:
    """A nats.py ``KeyValue`` look-alike on a fresh bucket ``test`` (history 1): see ``sqlkv.testing.NatsKeyValue``.

    It returns and raises nats.py's own classes, so it needs nats-py: without it the
    test errors with one line that says what to install.
    """
    if _nats_missing():  # one line, not an ImportError's traceback
        pytest.fail("nats_kv needs nats-py: pip install 'sqlkv[nats]'", pytrace=False)
    from sqlkv.testing import NatsKeyValue

    return NatsKeyValue(_on_own_loop(lambda: sqlkv_store.create_bucket("test")))


@pytest.fixture
def nats_jetstream(sqlkv_store: sqlkv.AsyncStore) -> Any:
    """nats.py's ``js.create_key_value`` / ``key_value`` / ``delete_key_value`` on ``sqlkv_store``.

    See ``sqlkv.testing.NatsJetStream``; like ``nats_kv`` it needs nats-py.
    """
    if _nats_missing():
        pytest.fail("nats_jetstream needs nats-py: pip install 'sqlkv[nats]'", pytrace=False)
    from sqlkv.testing import NatsJetStream

    return NatsJetStream(sqlkv_store)


def _force_close(store: Any) -> None:
    if isinstance(store, sqlkv.Store):
        store.close()
    elif isinstance(store, sqlkv.AsyncStore):
        store.close_nowait()  # its event loop may be gone: ends its threads without one


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Fail a test whose body left a store open or dropped one open (fixtures' stores are theirs to close).

    Stores still open after the test are closed for it; a store garbage-collected
    while open was closed by sqlkv already (``sqlkv.collected_open()``): its
    ResourceWarning is silenced meanwhile, so that the failure is this one line.
    """
    before = set(sqlkv.open_stores())
    sqlkv.collected_open()  # what earlier tests dropped is theirs
    try:
        with warnings.catch_warnings():  # filters only: other warnings reach pytest (and recwarn) as ever
            warnings.filterwarnings("ignore", r"sqlkv\..* was garbage-collected while open", ResourceWarning)
            result = yield
    finally:
        leaked = [store for store in sqlkv.open_stores() if store not in before]
        for store in leaked:
            _force_close(store)
    names = [repr(store) for store in leaked] + [
        f"{name} (garbage-collected while open)" for name in sqlkv.collected_open()
    ]
    if names:
        pytest.fail(f"test left sqlkv stores open (now closed): {', '.join(names)}", pytrace=False)
    return result
