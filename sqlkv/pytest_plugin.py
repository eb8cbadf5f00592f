"""sqlkv's pytest plugin (installed with sqlkv through the ``pytest11`` entry point).

Fixtures:

- ``sqlkv_store``: an open :class:`sqlkv.AsyncStore` on a fresh file under ``tmp_path``
  (async tests: ``@pytest.mark.anyio``);
- ``sqlkv_sync_store``: the same as a :class:`sqlkv.Store`;
- ``sqlkv_memory_store`` / ``sqlkv_sync_memory_store``: the same on a RAM-backed file
  (``/dev/shm`` where there is one) with ``durability="normal"``: the fastest store for tests;
- ``sqlkv_bucket`` / ``sqlkv_sync_bucket``: factories, ``await sqlkv_bucket("name", history=5)``,
  on the store of the test;
- ``nats_kv``: an object with the interface of nats.py's ``KeyValue`` backed by sqlkv, so that
  code written against nats.py can be tested without a server (see ``sqlkv.testing``).

Every store a fixture opens is closed after its test. A test that opens a store
itself and leaves it open fails, and the store is closed for it.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

import sqlkv

__all__ = [
    "nats_kv",
    "sqlkv_bucket",
    "sqlkv_memory_store",
    "sqlkv_store",
    "sqlkv_sync_bucket",
    "sqlkv_sync_memory_store",
    "sqlkv_sync_store",
]


def _ram_dir() -> str | None:
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None


@pytest.fixture
async def sqlkv_store(tmp_path: Path) -> AsyncIterator[sqlkv.AsyncStore]:
    """An open AsyncStore on a fresh file under ``tmp_path``, closed after the test."""
    async with sqlkv.AsyncStore(tmp_path / "sqlkv.db") as store:
        yield store


@pytest.fixture
def sqlkv_sync_store(tmp_path: Path) -> Iterator[sqlkv.Store]:
    """An open Store on a fresh file under ``tmp_path``, closed after the test."""
    with sqlkv.Store(tmp_path / "sqlkv.db") as store:
        yield store


@pytest.fixture
async def sqlkv_memory_store(tmp_path: Path) -> AsyncIterator[sqlkv.AsyncStore]:
    """An open AsyncStore on a RAM-backed file (``/dev/shm`` if present), removed after the test."""
    with tempfile.TemporaryDirectory(dir=_ram_dir() or tmp_path) as folder:
        async with sqlkv.AsyncStore(Path(folder) / "sqlkv.db") as store:
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
        return await sqlkv_store.create_bucket(name, **config)

    return make


@pytest.fixture
def sqlkv_sync_bucket(sqlkv_sync_store: sqlkv.Store) -> Callable[..., sqlkv.Bucket]:
    """A factory of buckets on ``sqlkv_sync_store``: ``kv = sqlkv_sync_bucket("name", history=5)``."""

    def make(name: str = "test", **config: Any) -> sqlkv.Bucket:
        return sqlkv_sync_store.create_bucket(name, **config)

    return make


@pytest.fixture
async def nats_kv(sqlkv_store: sqlkv.AsyncStore) -> Any:
    """A nats.py ``KeyValue`` look-alike on a fresh bucket ``test`` (history 1): see ``sqlkv.testing.NatsKeyValue``."""
    from sqlkv.testing import NatsKeyValue

    return NatsKeyValue(await sqlkv_store.create_bucket("test"))


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
