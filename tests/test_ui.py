"""``sqlkv ui`` at the HTTP level: the gate (token, same origin), read-only refusal, CAS, inert values, large values.

The app is driven in process through httpx's ASGI transport (the JSON API), and
as the real ``sqlkv ui`` command in a subprocess where signals and streams
matter. The browser tests are in test_ui_browser.py.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

import sqlkv
from tests.support.inspector import run_inspector
from tests.support.nats_server import NatsServer


def _need(module: str) -> Any:
    """The module, or a skip where it is not installed; in CI (CI=true) a missing one fails instead."""
    if os.environ.get("CI") == "true":
        return __import__(module)
    return pytest.importorskip(module)


httpx = _need("httpx")
_need("starlette")
_need("uvicorn")

pytestmark = pytest.mark.anyio
TOKEN = "t0ken-for-tests"
ORIGIN = "http://127.0.0.1:8000"
SCRIPT = "<script>window.pwned=1</script><img src=x onerror=window.pwned=1>"


async def _fill(store: sqlkv.AsyncStore) -> None:
    kv = await store.create_bucket("orders", history=5, description="test orders")
    await kv.put("orders.1", b'{"id": 1, "items": ["a", "b"]}')
    await kv.put("orders.2", b"plain text")
    await kv.put("orders.2", b"plain text, edited")
    await kv.put("users.alice", SCRIPT.encode())
    await kv.put("blob", bytes(range(256)))
    await store.create_bucket("empty")


def _client(app: Any, *, cookie: bool = True) -> Any:
    cookies = {"sqlkv_ui_8000": TOKEN} if cookie else {}
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ORIGIN, cookies=cookies)


@pytest.fixture
async def filled(tmp_path: Path) -> AsyncIterator[sqlkv.AsyncStore]:
    async with sqlkv.AsyncStore(tmp_path / "ui.db") as store:
        await _fill(store)
        yield store


def _app(store: sqlkv.AsyncStore, write: bool) -> Any:
    from sqlkv.ui._app import create_app

    return create_app(store, write=write, token=TOKEN)


@pytest.fixture
async def reader(filled: sqlkv.AsyncStore) -> AsyncIterator[Any]:
    async with _client(_app(filled, write=False)) as client:
        yield client


@pytest.fixture
async def writer(filled: sqlkv.AsyncStore) -> AsyncIterator[Any]:
    async with _client(_app(filled, write=True)) as client:
        client.headers["origin"] = ORIGIN
        yield client


# -- the gate ----------------------------------------------------------------------------------------------------


async def test_every_request_needs_the_token(filled: sqlkv.AsyncStore) -> None:
    app = _app(filled, write=True)
    async with _client(app, cookie=False) as anonymous:
        for path in ("/", "/api/info", "/api/buckets", "/static/app.js", "/api/buckets/orders/watch"):
            response = await anonymous.get(path)
            assert response.status_code == 401, path
            assert "token" in response.text
            assert response.headers["x-content-type-options"] == "nosniff"
        assert (await anonymous.get("/api/buckets", params={"token": "wrong"})).status_code == 403
        anonymous.cookies.set("sqlkv_ui_8000", "wrong")
        assert (await anonymous.get("/api/buckets")).status_code == 403
        assert (await anonymous.post("/api/buckets/orders/put", json={"key": "k", "value": "v"})).status_code == 403
    assert await (await filled.bucket("orders")).keys("k") == []


async def test_the_token_in_the_url_becomes_a_strict_cookie_and_leaves_the_address(filled: sqlkv.AsyncStore) -> None:
    async with _client(_app(filled, write=False), cookie=False) as client:
        response = await client.get("/", params={"token": TOKEN})
        assert response.status_code == 303 and response.headers["location"] == "/"
        cookie = response.headers["set-cookie"]
        assert cookie.startswith(f"sqlkv_ui_8000={TOKEN};")
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        page = await client.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "/static/app.js" in page.text and "<script>" not in page.text.replace('<script src="/static/app.js"', "")


async def test_every_response_carries_a_strict_policy_and_no_cors(reader: Any) -> None:
    for path in ("/", "/api/info", "/static/app.js", "/api/buckets/orders/keys", "/api/buckets/nope"):
        response = await reader.get(path, headers={"origin": "http://evil.example"})
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
        assert response.headers["x-content-type-options"] == "nosniff"
        assert not [name for name in response.headers if name.startswith("access-control-")]
    html = (await reader.get("/")).text
    assert "http://" not in html and "https://" not in html  # no CDN: everything is served from the package


async def test_a_change_must_come_from_the_page_itself(filled: sqlkv.AsyncStore) -> None:
    async with _client(_app(filled, write=True)) as client:
        put = "/api/buckets/orders/put"
        body = {"key": "csrf", "value": "x"}
        refused = [
            ({"origin": "http://evil.example"}, 403),
            ({"origin": "http://127.0.0.1:9999"}, 403),  # another local port is another origin
            ({"sec-fetch-site": "cross-site"}, 403),
            ({"sec-fetch-site": "same-site"}, 403),
            ({}, 403),  # neither header: cannot tell, refused
        ]
        for headers, status in refused:
            response = await client.post(put, json=body, headers=headers)
            assert response.status_code == status, headers
        form = await client.post(put, data=body, headers={"origin": ORIGIN})  # a cross-site form's content type
        assert form.status_code == 415
        assert await (await filled.bucket("orders")).keys("csrf") == []
        assert (await client.post(put, json=body, headers={"origin": ORIGIN})).status_code == 200
        assert (await client.post(put, json=body, headers={"sec-fetch-site": "same-origin"})).status_code == 200
        assert (await (await filled.bucket("orders")).get("csrf")).value == b"x"


async def test_a_websocket_is_refused_before_anything_else(filled: sqlkv.AsyncStore) -> None:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "websocket", "path": "/", "headers": [], "query_string": f"token={TOKEN}".encode()}
    await _app(filled, write=True)(scope, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008}]


# -- read-only by default ----------------------------------------------------------------------------------------

WRITES = [
    ("/api/buckets", {"name": "new"}),
    ("/api/buckets/orders/config", {"history": 2}),
    ("/api/buckets/orders/drop", {}),
    ("/api/buckets/orders/put", {"key": "orders.9", "value": "v"}),
    ("/api/buckets/orders/put", {"key": "orders.1", "value": "v", "last": 1}),
    ("/api/buckets/orders/delete", {"key": "orders.1"}),
    ("/api/buckets/orders/purge", {"key": "orders.1"}),
]


async def test_without_write_every_write_endpoint_refuses(reader: Any, filled: sqlkv.AsyncStore) -> None:
    before = await (await filled.bucket("orders")).status()
    assert (await reader.get("/api/info")).json()["write"] is False
    for path, body in WRITES:
        response = await reader.post(path, json=body, headers={"origin": ORIGIN})
        assert response.status_code == 403, path
        assert "sqlkv ui --write" in response.json()["error"]
    assert await filled.bucket_names() == ["empty", "orders"]
    assert await (await filled.bucket("orders")).status() == before


async def test_with_write_buckets_and_keys_change(writer: Any, filled: sqlkv.AsyncStore) -> None:
    created = await writer.post("/api/buckets", json={"name": "new", "history": 3, "description": "made in the ui"})
    assert created.status_code == 201 and created.json()["history"] == 3
    assert (await writer.post("/api/buckets", json={"name": "new"})).status_code == 409
    assert (await writer.post("/api/buckets/new/config", json={"history": 4})).json()["history"] == 4
    revision = (await writer.post("/api/buckets/new/put", json={"key": "a", "value": "1"})).json()["revision"]
    binary = {"key": "b", "value": base64.b64encode(b"\x00\xff").decode(), "encoding": "base64"}
    assert (await writer.post("/api/buckets/new/put", json=binary)).status_code == 200
    assert (
        await writer.post("/api/buckets/new/put", json={"key": "a", "value": "2", "create": True})
    ).status_code == 409
    assert (await writer.post("/api/buckets/new/delete", json={"key": "a", "last": revision})).status_code == 200
    assert (await writer.post("/api/buckets/new/purge", json={"key": "b"})).status_code == 200
    kv = await filled.bucket("new")
    assert await kv.keys() == [] and [e.operation.name for e in await kv.history("a")] == ["PUT", "DEL"]
    assert (await writer.post("/api/buckets/new/drop", json={})).status_code == 200
    assert (await writer.post("/api/buckets/new/drop", json={})).status_code == 404
    assert "new" not in await filled.bucket_names()
    assert (await writer.post("/api/buckets/orders/put", json={"key": "bad key!", "value": "v"})).status_code == 400
    assert (await writer.post("/api/buckets/orders/put", json={"key": "k"})).status_code == 400


async def test_a_stale_edit_is_refused_with_409_and_says_so(writer: Any, filled: sqlkv.AsyncStore) -> None:
    shown = (await writer.get("/api/buckets/orders/entry", params={"key": "orders.2"})).json()
    await (await filled.bucket("orders")).put("orders.2", b"changed behind the page")
    stale = await writer.post(
        "/api/buckets/orders/put", json={"key": "orders.2", "value": "mine", "last": shown["revision"]}
    )
    assert stale.status_code == 409
    assert "stale edit refused" in stale.json()["error"]
    assert (await (await filled.bucket("orders")).get("orders.2")).value == b"changed behind the page"
    fresh = (await writer.get("/api/buckets/orders/entry", params={"key": "orders.2"})).json()
    edit = await writer.post(
        "/api/buckets/orders/put", json={"key": "orders.2", "value": "mine", "last": fresh["revision"]}
    )
    assert edit.status_code == 200 and edit.json()["revision"] > fresh["revision"]
    assert (await (await filled.bucket("orders")).get("orders.2")).value == b"mine"


# -- reading -----------------------------------------------------------------------------------------------------


async def test_buckets_list_their_status(reader: Any) -> None:
    buckets = {b["bucket"]: b for b in (await reader.get("/api/buckets")).json()["buckets"]}
    assert set(buckets) == {"orders", "empty"}
    orders = buckets["orders"]
    assert (orders["keys"], orders["values"], orders["history"], orders["last_revision"]) == (4, 5, 5, 5)
    assert orders["description"] == "test orders" and orders["last_update"] is not None
    assert buckets["empty"]["last_update"] is None
    assert (await reader.get("/api/buckets/nope")).status_code == 404


async def test_keys_are_filtered_with_wildcards_and_paged_after_the_last_key(
    reader: Any, filled: sqlkv.AsyncStore
) -> None:
    kv = await filled.create_bucket("many")
    for i in range(250):
        await kv.put(f"k.{i:04d}", b"x" * i)
    await kv.put("other.x", b"y")
    seen: list[str] = []
    after = None
    while True:
        params = {"filter": "k.*", **({"after": after} if after else {})}
        page = (await reader.get("/api/buckets/many/keys", params=params)).json()
        seen += [k["key"] for k in page["keys"]]
        assert len(page["keys"]) <= 100
        if not page["more"]:
            break
        after = page["next"]
    assert seen == [f"k.{i:04d}" for i in range(250)]
    first = (await reader.get("/api/buckets/orders/keys", params={"filter": "orders.>"})).json()["keys"]
    assert [(k["key"], k["revision"], k["operation"]) for k in first] == [
        ("orders.1", 1, "PUT"),
        ("orders.2", 3, "PUT"),
    ]
    assert first[1]["size"] == len(b"plain text, edited")
    both = (await reader.get("/api/buckets/orders/keys", params={"filter": "users.* blob"})).json()["keys"]
    assert [k["key"] for k in both] == ["blob", "users.alice"]
    assert (await reader.get("/api/buckets/orders/keys", params={"filter": "a.>.b"})).status_code == 400


async def test_a_value_with_markup_leaves_as_escaped_json_data(reader: Any) -> None:
    response = await reader.get("/api/buckets/orders/entry", params={"key": "users.alice"})
    assert response.headers["content-type"] == "application/json"
    assert b"<" not in response.content and b">" not in response.content  # escaped as \u003c, \u003e
    value = response.json()["value"]
    assert value["kind"] == "text" and value["text"] == SCRIPT
    assert base64.b64decode(value["base64"]) == SCRIPT.encode()
    for path in ("/api/buckets/orders/history", "/api/buckets/orders/keys"):
        raw = await reader.get(path, params={"key": "users.alice"})
        assert b"<" not in raw.content


async def test_values_show_as_pretty_json_text_or_binary(reader: Any) -> None:
    def value(key: str) -> Any:
        return reader.get("/api/buckets/orders/entry", params={"key": key})

    doc = (await value("orders.1")).json()["value"]
    assert doc["kind"] == "json" and doc["pretty"] == json.dumps({"id": 1, "items": ["a", "b"]}, indent=2)
    blob = (await value("blob")).json()["value"]
    assert blob["kind"] == "binary" and blob["text"] is None and base64.b64decode(blob["base64"]) == bytes(range(256))
    assert (await value("nope")).status_code == 404
    older = await reader.get("/api/buckets/orders/entry", params={"key": "orders.2", "revision": 2})
    assert older.json()["value"]["text"] == "plain text"


async def test_a_large_value_is_cut_in_the_page_and_downloaded_whole(reader: Any, filled: sqlkv.AsyncStore) -> None:
    from sqlkv.ui._render import SHOWN

    big = ("é" * 100_000).encode()  # 200,000 bytes; the cut falls inside a character
    await (await filled.bucket("orders")).put("big", big)
    value = (await reader.get("/api/buckets/orders/entry", params={"key": "big"})).json()["value"]
    assert value["truncated"] is True and value["size"] == len(big) and value["shown"] == SHOWN
    assert value["kind"] == "text" and value["text"] == "é" * (SHOWN // 2)
    assert base64.b64decode(value["base64"]) == big[:SHOWN]
    download = await reader.get("/api/buckets/orders/value", params={"key": "big"})
    assert download.status_code == 200 and download.content == big
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-disposition"].startswith('attachment; filename="big.r')


async def test_history_has_every_revision_and_text_diffs(reader: Any, filled: sqlkv.AsyncStore) -> None:
    kv = await filled.bucket("orders")
    await kv.put("doc", b"line one\nline two\n")
    await kv.put("doc", b"line one\nline 2\n")
    await kv.delete("doc")
    history = (await reader.get("/api/buckets/orders/history", params={"key": "doc"})).json()["history"]
    assert [h["operation"] for h in history] == ["PUT", "PUT", "DEL"]
    assert "diff" not in history[0] and "diff" not in history[2]
    assert [line for line in history[1]["diff"] if line[:1] in "+-" and line[:3] not in ("+++", "---")] == [
        "-line two",
        "+line 2",
    ]
    deleted = await reader.get("/api/buckets/orders/entry", params={"key": "doc"})
    assert deleted.status_code == 404 and deleted.json()["deleted"] is True


@pytest.mark.nats
@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # nats-py runs on asyncio only
async def test_the_same_api_on_a_nats_server(nats_server: NatsServer, anyio_backend: str) -> None:
    async with sqlkv.AsyncStore(nats_server.url) as store:
        for name in await store.bucket_names():
            await store.delete_bucket(name)
        await _fill(store)
        async with _client(_app(store, write=True)) as client:
            client.headers["origin"] = ORIGIN
            info = (await client.get("/api/info")).json()
            assert info["backend"] == "nats"
            names = [b["bucket"] for b in (await client.get("/api/buckets")).json()["buckets"]]
            assert sorted(names) == ["empty", "orders"]
            keys = (await client.get("/api/buckets/orders/keys", params={"filter": "orders.*"})).json()["keys"]
            assert [k["key"] for k in keys] == ["orders.1", "orders.2"]
            entry = (await client.get("/api/buckets/orders/entry", params={"key": "users.alice"})).json()
            assert entry["value"]["text"] == SCRIPT
            history = (await client.get("/api/buckets/orders/history", params={"key": "orders.2"})).json()["history"]
            assert len(history) == 2 and history[1]["diff"]
            stale = {"key": "orders.2", "value": "x", "last": history[0]["revision"]}
            assert (await client.post("/api/buckets/orders/put", json=stale)).status_code == 409
            fresh = {**stale, "last": history[1]["revision"]}
            assert (await client.post("/api/buckets/orders/put", json=fresh)).status_code == 200
        for name in await store.bucket_names():
            await store.delete_bucket(name)


# -- the command -------------------------------------------------------------------------------------------------


def _sqlkv(*args: str) -> list[str]:
    return [sys.executable, "-m", "sqlkv.cli", *args]


@pytest.fixture
def ui_store(tmp_path: Path) -> Path:
    path = tmp_path / "cmd.db"
    with sqlkv.Store(path) as store:
        store.create_bucket("orders").put("a", b"1")
    return path


@pytest.fixture
def running(ui_store: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    with run_inspector(ui_store) as started:
        yield started


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_ends_the_command_cleanly_while_a_stream_is_open(
    running: tuple[subprocess.Popen[str], str], sig: signal.Signals, anyio_backend: str
) -> None:
    process, url = running
    with httpx.Client() as client:
        assert client.get(url, follow_redirects=True).status_code == 200  # the cookie
        base = url.split("?")[0]
        with client.stream("GET", base + "api/buckets/orders/watch", params={"initial": "1"}) as stream:
            lines = stream.iter_lines()
            assert next(line for line in lines if line.startswith("data:")).startswith('data: {"bucket":"orders"')
            started = time.monotonic()
            process.send_signal(sig)
            for _ in lines:  # the server ends the stream
                pass
    assert process.wait(10) == 0
    assert time.monotonic() - started < 5
    assert process.stderr is not None and process.stderr.read() == ""


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_sqlkv(*args), capture_output=True, text=True, timeout=60, env={**os.environ, **env})


def test_a_host_that_is_not_loopback_is_refused(ui_store: Path) -> None:
    for host in ("0.0.0.0", "192.168.1.10", "example.com", "::"):
        result = _run("--db", str(ui_store), "ui", "--host", host, "--no-browser")
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith("sqlkv: error: --host must be a loopback address") and result.stdout == ""


def test_a_missing_store_is_not_created(tmp_path: Path) -> None:
    result = _run("--db", str(tmp_path / "typo.db"), "ui", "--no-browser")
    assert result.returncode == 3 and "no store at" in result.stderr
    assert os.listdir(tmp_path) == []


def test_without_the_extra_it_says_how_to_install_it(ui_store: Path) -> None:
    code = "import sys; sys.modules['starlette'] = None; from sqlkv.cli import main; sys.exit(main(sys.argv[1:]))"
    result = subprocess.run(
        [sys.executable, "-c", code, "--db", str(ui_store), "ui", "--no-browser"], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert result.stderr == "sqlkv: error: sqlkv ui needs the 'ui' extra: pip install 'sqlkv[ui]'\n"


def test_import_sqlkv_and_the_other_commands_never_load_the_web_stack(ui_store: Path) -> None:
    code = """
import sys, sqlkv, sqlkv.cli
for name in sqlkv.__all__:
    getattr(sqlkv, name)
assert sqlkv.cli.main(["--db", sys.argv[1], "ls"]) == 0
assert sqlkv.cli.main(["--db", sys.argv[1], "get", "orders", "a"]) == 0
print([m for m in sys.modules if m.split(".")[0] in ("starlette", "uvicorn", "httpx") or m.startswith("sqlkv.ui")])
"""
    result = subprocess.run([sys.executable, "-c", code, str(ui_store)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


async def test_a_stalled_live_stream_never_holds_writers_back_and_catches_up(filled: sqlkv.AsyncStore) -> None:
    """A browser that stops reading: the store's writes go on, and once it reads again it gets every change, in order.

    The stream is driven directly as ASGI: its ``send`` blocks after the first entry (a full socket), while 5x
    the watcher's buffer is written; the watcher meanwhile lags and later reads what it missed from the table.
    """
    import anyio

    from sqlkv.ui._events import BUFFER, WatchStream

    kv = await filled.bucket("orders")
    count = BUFFER * 5
    ready, resume, done, stopping = anyio.Event(), anyio.Event(), anyio.Event(), anyio.Event()
    revisions: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        body = message.get("body", b"")
        if b"event: ready" in body:
            ready.set()
        elif b"event: entry" in body:
            revisions.append(json.loads(body.split(b"data: ", 1)[1])["revision"])
            if len(revisions) == 1:
                await resume.wait()  # the browser stops reading
            if len(revisions) == count:
                done.set()

    async def receive() -> dict[str, Any]:
        await anyio.sleep_forever()
        raise AssertionError

    stream = WatchStream(kv, ["load.>"], {"updates_only": True}, stopping)
    with anyio.fail_after(30):
        async with anyio.create_task_group() as group:
            group.start_soon(stream, {"type": "http"}, receive, send)
            await ready.wait()
            first = await kv.put("load.0", b"0")
            for i in range(1, count):  # the stream is stuck in send(): writers never wait for it
                await kv.put(f"load.{i}", b"x")
            resume.set()
            await done.wait()
            stopping.set()
    assert revisions == list(range(first, first + count))


async def test_an_entry_shows_when_it_expires(filled: sqlkv.AsyncStore, reader: Any) -> None:
    kv = await filled.bucket("orders")
    await kv.put("session", b"x", ttl=60)
    shown = (await reader.get("/api/buckets/orders/entry", params={"key": "session"})).json()
    assert shown["expires"] == (await kv.get("session")).expires.isoformat()  # type: ignore[union-attr]
    plain = (await reader.get("/api/buckets/orders/entry", params={"key": "orders.1"})).json()
    assert plain["expires"] is None
