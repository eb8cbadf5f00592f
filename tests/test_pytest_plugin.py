"""The pytest plugin, tested the way pytest plugins are: in a pytester sandbox."""

from __future__ import annotations

import importlib.util
import sys

import pytest

import sqlkv
from sqlkv.testing import NatsKeyValue

pytest_plugins = ["pytester"]


def test_fixtures_work_and_close_their_stores(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest, sqlkv
        from sqlkv import open_stores

        @pytest.fixture
        def anyio_backend():
            return "asyncio"

        @pytest.mark.anyio
        async def test_async(sqlkv_store, sqlkv_bucket):
            kv = await sqlkv_bucket("orders", history=3)
            assert await kv.put("a", b"1") == 1
            assert sqlkv_store in open_stores()

        def test_sync(sqlkv_sync_store, sqlkv_sync_bucket):
            kv = sqlkv_sync_bucket("prefs")
            assert kv.put("w", b"1") == 1
            assert sqlkv_sync_store.bucket_names() == ["prefs"]

        @pytest.mark.anyio
        async def test_memory(sqlkv_memory_store):
            kv = await sqlkv_memory_store.create_bucket("m")
            assert await kv.put("k", b"v") == 1

        def test_sync_memory(sqlkv_sync_memory_store):
            assert sqlkv_sync_memory_store.create_bucket("m").put("k", b"v") == 1

        def test_all_closed_afterwards():
            assert len(open_stores()) == 0
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:asyncio")
    result.assert_outcomes(passed=5)


def test_a_leaked_store_fails_its_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import sqlkv
        from sqlkv import open_stores

        def test_leaks(tmp_path):
            sqlkv.Store(tmp_path / "x.db").open()

        def test_closed_for_it():
            assert len(open_stores()) == 0

        def test_closing_is_fine(tmp_path):
            with sqlkv.Store(tmp_path / "y.db"):
                pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:asyncio")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*test left sqlkv stores open*"])


# One module of async tests, run under each test runner: {mark} is the runner's marker (or none, in auto mode).
ASYNC_TESTS = """
import threading

import importlib.util

import pytest
import sqlkv


{mark}
async def test_a_failing_test_first(sqlkv_store):
    await sqlkv_store.create_bucket("x")
    assert False, "this test fails"


{mark}
async def test_store_and_bucket_factory(sqlkv_store, sqlkv_bucket):
    kv = await sqlkv_bucket("orders", history=3)
    assert await kv.put("a", b"1") == 1
    assert await sqlkv_store.bucket_names() == ["orders"]
    assert sqlkv_store in sqlkv.open_stores()


{mark}
async def test_memory_store(sqlkv_memory_store):
    kv = await sqlkv_memory_store.create_bucket("m")
    assert await kv.put("k", b"v") == 1


{mark}
async def test_nats_kv(nats_kv):
    from nats.js.errors import KeyNotFoundError

    assert await nats_kv.put("cart.42", b"[]") == 1
    assert (await nats_kv.get("cart.42")).value == b"[]"
    with pytest.raises(KeyNotFoundError):
        await nats_kv.get("cart.43")


{mark}
async def test_nats_jetstream(nats_jetstream, sqlkv_store):
    from nats.js.errors import BucketNotFoundError

    kv = await nats_jetstream.create_key_value(bucket="carts", history=5, limit_marker_ttl=60)
    assert await kv.put("cart.42", b"[]") == 1
    assert (await (await nats_jetstream.key_value("carts")).status()).marker_ttl == 60
    assert await sqlkv_store.bucket_names() == ["carts"]
    assert await nats_jetstream.delete_key_value("carts") is True
    with pytest.raises(BucketNotFoundError):
        await nats_jetstream.key_value("carts")


{mark}
async def test_a_watcher_left_open_is_ended_with_the_store(sqlkv_store):
    kv = await sqlkv_store.create_bucket("w")
    watcher = kv.watch()
    await watcher.start()
    await kv.put("k", b"v")
    assert (await watcher.__anext__()).key == "k"


def test_every_store_and_thread_is_gone_afterwards():
    assert sqlkv.open_stores() == []
    assert [t.name for t in threading.enumerate() if t.name.startswith("sqlkv-")] == []
"""

ANYIO_BACKENDS = """
import importlib.util

import importlib.util

import pytest


@pytest.fixture(params=["asyncio", "trio"] if importlib.util.find_spec("trio") else ["asyncio"])
def anyio_backend(request):
    return request.param
"""

ASYNCIO_INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"


def run_sandbox(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """Run the sandbox's tests; any warning (pytest-asyncio's about async fixtures in strict mode...) is an error."""
    return pytester.runpytest("-p", "no:cacheprovider", "-W", "error", *args)


@pytest.mark.parametrize("mode", ["strict", "auto"])
def test_async_fixtures_under_pytest_asyncio(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makeini(ASYNCIO_INI + f"asyncio_mode = {mode}\n")
    pytester.makepyfile(ASYNC_TESTS.format(mark="@pytest.mark.asyncio" if mode == "strict" else ""))
    result = run_sandbox(pytester, "-p", "no:anyio")
    result.assert_outcomes(passed=6, failed=1)
    result.stdout.fnmatch_lines(["*AssertionError: this test fails*"])


def test_async_fixtures_under_anyio_alone(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(ANYIO_BACKENDS)
    pytester.makepyfile(ASYNC_TESTS.format(mark="@pytest.mark.anyio"))
    result = run_sandbox(pytester, "-p", "no:asyncio")
    backends = 2 if importlib.util.find_spec("trio") else 1
    result.assert_outcomes(passed=5 * backends + 1, failed=backends)


@pytest.mark.parametrize("mode", ["strict", "auto"])
def test_async_fixtures_in_a_session_mixing_pytest_asyncio_and_anyio(pytester: pytest.Pytester, mode: str) -> None:
    """pytest-asyncio's tests and anyio's, in either order, in one session: each fixture works in each."""
    pytester.makeini(ASYNCIO_INI + f"asyncio_mode = {mode}\n")
    pytester.makeconftest(ANYIO_BACKENDS)
    pytester.makepyfile(
        test_1_asyncio=ASYNC_TESTS.format(mark="@pytest.mark.asyncio"),
        test_2_anyio=ASYNC_TESTS.format(mark="@pytest.mark.anyio"),
        test_3_asyncio_again=ASYNC_TESTS.format(mark="@pytest.mark.asyncio"),
    )
    result = run_sandbox(pytester)
    # In auto mode pytest-asyncio runs every async test (anyio's trio case too); anyio's still use both backends.
    backends = 2 if importlib.util.find_spec("trio") else 1
    result.assert_outcomes(passed=5 * (2 + backends) + 3, failed=2 + backends)
    assert "AssertionError: this test fails" in result.stdout.str()
    assert "ERROR" not in result.stdout.str()


def test_nats_kv_without_nats_py_is_a_one_line_error_naming_the_extra(pytester: pytest.Pytester) -> None:
    pytest.importorskip("nats.js.kv")  # already imported: hiding it must hide the loaded modules too
    pytester.makepyfile(
        """
        import sys

        import pytest

        @pytest.fixture(autouse=True)
        def no_nats(monkeypatch):
            for name in ["nats", *(name for name in sys.modules if name.startswith("nats."))]:
                monkeypatch.setitem(sys.modules, name, None)  # `import nats...` fails, as if it were not installed

        @pytest.fixture
        def anyio_backend():
            return "asyncio"

        @pytest.mark.anyio
        async def test_uses_nats_kv(nats_kv):
            pass

        def test_next():
            import sqlkv
            assert sqlkv.open_stores() == []
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:asyncio")
    result.assert_outcomes(passed=1, errors=1)
    errors = result.stdout.str().partition("= ERRORS =")[2].partition("short test summary")[0]
    assert errors.strip("= \n").splitlines()[1:] == ["nats_kv needs nats-py: pip install 'sqlkv[nats]'"], errors


@pytest.mark.anyio
async def test_the_stand_in_without_nats_py_says_what_to_install(
    kv: sqlkv.AsyncBucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ["nats", *(name for name in sys.modules if name.startswith("nats."))]:
        monkeypatch.setitem(sys.modules, name, None)  # as if nats-py were not installed
    with pytest.raises(RuntimeError, match=r"^sqlkv.testing.NatsKeyValue needs nats-py: pip install 'sqlkv\[nats\]'$"):
        NatsKeyValue(kv)


@pytest.mark.anyio
async def test_the_jetstream_stand_in_without_nats_py_says_what_to_install(
    store: sqlkv.AsyncStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlkv.testing import NatsJetStream

    for name in ["nats", *(name for name in sys.modules if name.startswith("nats."))]:
        monkeypatch.setitem(sys.modules, name, None)  # as if nats-py were not installed
    with pytest.raises(RuntimeError, match=r"^sqlkv.testing.NatsJetStream needs nats-py: pip install 'sqlkv\[nats\]'$"):
        NatsJetStream(store)
