"""The pytest plugin, tested the way pytest plugins are: in a pytester sandbox."""

from __future__ import annotations

import pytest

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
