"""sqlkv.views: one presentation of statuses, entries, configurations and values for the CLI, inspector and export."""

from __future__ import annotations

import json
from pathlib import Path

import anyio

import sqlkv
from sqlkv import views


def test_a_status_carries_its_config_and_is_shown_from_it(tmp_path: Path) -> None:
    with sqlkv.Store(tmp_path / "v.db") as store:
        kv = store.create_bucket("b", history=3, ttl=60, max_bytes=1000, description="d", metadata={"a": "1"})
        kv.put("k", b"v")
        status = kv.status()
        assert status.config == sqlkv.BucketConfig(
            history=3, ttl=60, max_bytes=1000, description="d", metadata={"a": "1"}
        )
        view = views.status_view(status)
        assert view == {
            "bucket": "b",
            "values": 1,
            "keys": 1,
            "bytes": 2,
            "history": 3,
            "ttl": 60.0,
            "max_value_size": None,
            "max_bytes": 1000,
            "description": "d",
            "metadata": {"a": "1"},
            "marker_ttl": None,
            "created": status.created.isoformat(),
            "last_revision": 1,
        }
        copy = store.create_bucket("c", **views.config_kwargs(views.config_view(status.config)))
        assert copy.status().config == status.config
        assert views.last_update(kv, status) == kv.get("k").created
        assert views.last_update(copy, copy.status()) is None

        async def last_async() -> object:
            async with sqlkv.AsyncStore(tmp_path / "v.db", read_only=True) as astore:
                akv = await astore.bucket("b")
                return await views.last_update_async(akv, await akv.status())

        assert anyio.run(last_async) == kv.get("k").created


def test_entries_and_values_render_one_way(tmp_path: Path) -> None:
    with sqlkv.Store(tmp_path / "v.db") as store:
        kv = store.create_bucket("b")
        kv.put("k", b"\xff\x00")
        entry = kv.get("k")
    view = views.entry_view(entry)
    assert (view["value"], view["value_base64"], view["size"], view["operation"]) == (None, "/wA=", 2, "PUT")
    assert "value" not in views.entry_view(entry, value=False)
    assert views.render(b'{"a":1}', "json") == '{\n  "a": 1\n}'
    assert views.render(b"not json", "json") is None
    assert views.render(b"\xff", "text") is None
    assert views.render(b"\x01\xab", "hex") == "01ab"
    assert views.render(b"hi", "base64") == "aGk="
    assert views.OPERATION_WORDS[sqlkv.Operation.DEL.name] == "DELETE"


def test_one_dumps_for_scripts_and_for_pages() -> None:
    data = {"v": "<b>&é"}
    assert views.dumps(data) == '{"v": "<b>&é"}'
    page = views.dumps(data, html=True)
    assert "<" not in page and ">" not in page and "&" not in page and json.loads(page) == data
