"""The inspector's ASGI app: the page, its static files, a JSON API over the public sqlkv API, and the live stream.

``create_app(store, write=..., token=...)`` serves an open ``sqlkv.AsyncStore``
(the caller opens and closes it). Read endpoints (GET) list buckets with their
status, a page of keys (``entries()``, resumed after the last key shown), an
entry, a key's history, a whole value, and the watch stream. Write endpoints
(POST) answer 403 unless the app was made with ``write=True``. Errors of the
store are JSON ``{"error": message}`` with an HTTP status by the error's kind
(``HTTP_STATUS``: 404 not found, 409 a stale revision or an existing key or
bucket, 413 a limit, 400 invalid input, 501 unsupported...).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from pathlib import Path

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import sqlkv
from sqlkv import ErrorKind
from sqlkv.views import last_update_async, status_view

from ._events import WatchStream
from ._render import SHOWN, dumps, entry_summary, history_view, value_view
from ._security import Gate

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from typing import Any

__all__ = ["HTTP_STATUS", "PAGE_SIZE", "create_app", "request_stop"]

STATIC = Path(__file__).parent / "static"
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
}
ASSETS = {path.name: (path.read_bytes(), _TYPES[path.suffix]) for path in STATIC.iterdir() if path.suffix in _TYPES}
"""The page, its script and its style, read once when the app is imported (a few KiB): served from memory."""
PAGE_SIZE = 100
"""Keys in a page of the key list."""
MAX_PAGE = 1000


async def static(request: Request) -> Response:
    """One of the page's files (404 for any other name)."""
    asset = ASSETS.get(request.path_params["name"])
    if asset is None:
        return Response("not found", status_code=404, media_type="text/plain")
    return Response(asset[0], media_type=asset[1])


class Json(Response):
    """A JSON response whose body never holds ``<``, ``>`` or ``&`` (escaped as ``\\u003c``...)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)


class BadRequest(Exception):
    """A request the API cannot read (a missing or malformed parameter): 400."""


HTTP_STATUS: dict[ErrorKind, int] = {
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.LIMIT: 413,
    ErrorKind.INVALID: 400,
    ErrorKind.UNSUPPORTED: 501,
    ErrorKind.READ_ONLY: 403,
    ErrorKind.GONE: 410,
    ErrorKind.BUSY: 503,
    ErrorKind.CLOSED: 503,
    ErrorKind.STORAGE: 500,
    ErrorKind.REPLICA: 502,
    ErrorKind.OTHER: 500,
}
"""The HTTP status of a response to a request ended by an ``sqlkv`` error, by the error's kind."""


async def _store_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, sqlkv.SqlkvError)
    status = HTTP_STATUS[error.kind]
    message = str(error)
    if isinstance(error, sqlkv.WrongLastRevisionError) and not isinstance(error, sqlkv.KeyExistsError):
        message = f"stale edit refused: the key changed after the revision shown ({message})"
    data: dict[str, Any] = {"error": message, "kind": type(error).__name__, "error_kind": error.kind.value}
    if isinstance(error, sqlkv.KeyDeletedError):
        data["deleted"] = True
    return Json(data, status_code=status)


async def _bad_request(request: Request, error: Exception) -> Response:
    return Json({"error": str(error), "kind": "BadRequest"}, status_code=400)


def _store(request: Request) -> sqlkv.AsyncStore:
    store: sqlkv.AsyncStore = request.app.state.store
    return store


def _text_param(request: Request, name: str) -> str:
    value = request.query_params.get(name)
    if value is None or value == "":
        raise BadRequest(f"missing parameter {name!r}")
    return value


def _int_param(request: Request, name: str, default: int | None = None) -> int | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f"parameter {name!r} must be an integer") from None


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "") in ("1", "true", "yes", "on")


async def _bucket(request: Request) -> sqlkv.AsyncBucket:
    return await _store(request).bucket(request.path_params["bucket"])


# -- reads -------------------------------------------------------------------------------------------------------


async def page(request: Request) -> Response:
    body, media_type = ASSETS["index.html"]
    return Response(body, media_type=media_type)


async def info(request: Request) -> Response:
    store = _store(request)
    return Json(
        {
            "store": store.path,
            "backend": store.backend,
            "read_only": store.read_only,
            "write": request.app.state.write,
            "version": sqlkv.__version__,
            "shown": SHOWN,
            "page_size": PAGE_SIZE,
        }
    )


async def _cached_last_update(request: Request, kv: sqlkv.AsyncBucket, status: sqlkv.BucketStatus) -> str | None:
    """When the newest revision was written (cached per revision: refreshing an idle bucket reads nothing)."""
    if status.last_revision == 0:
        return None
    cache: dict[tuple[str, int], str | None] = request.app.state.last_update
    found = cache.get((status.bucket, status.last_revision), "")
    if found != "":
        return found
    written = await last_update_async(kv, status)
    moment = None if written is None else written.isoformat()
    if len(cache) > 10_000:
        cache.clear()
    cache[(status.bucket, status.last_revision)] = moment
    return moment


async def buckets(request: Request) -> Response:
    store = _store(request)
    found = []
    for name in await store.bucket_names():
        try:
            kv = await store.bucket(name)
            status = await kv.status()
        except sqlkv.BucketNotFoundError:  # deleted since it was listed
            continue
        found.append({**status_view(status), "last_update": await _cached_last_update(request, kv, status)})
    return Json({"buckets": found})


async def bucket(request: Request) -> Response:
    kv = await _bucket(request)
    status = await kv.status()
    return Json({**status_view(status), "last_update": await _cached_last_update(request, kv, status)})


async def keys(request: Request) -> Response:
    """A page of the bucket's live keys matching ``filter`` (NATS wildcards, space-separated), after ``after``."""
    kv = await _bucket(request)
    filters = request.query_params.get("filter", "").split()
    after = request.query_params.get("after") or None
    size = min(max(_int_param(request, "limit", PAGE_SIZE) or PAGE_SIZE, 1), MAX_PAGE)
    found: list[dict[str, Any]] = []
    more = False
    # One more than the page (and the key resumed after, which `start` includes): whether there is a next page.
    async for entry in kv.entries(*filters, start=after, limit=size + 1 + (after is not None)):
        if entry.key == after:
            continue
        if len(found) == size:
            more = True
        else:
            found.append(entry_summary(entry))
    return Json({"keys": found, "more": more, "next": found[-1]["key"] if more else None})


async def entry(request: Request) -> Response:
    kv = await _bucket(request)
    got = await kv.get(_text_param(request, "key"), revision=_int_param(request, "revision"))
    return Json({**entry_summary(got), "value": value_view(got.value)})


async def history(request: Request) -> Response:
    kv = await _bucket(request)
    return Json({"history": history_view(await kv.history(_text_param(request, "key")))})


_UNSAFE = re.compile(r"[^A-Za-z0-9._=-]")


async def download(request: Request) -> Response:
    """The whole value, as an attachment (never rendered by the browser)."""
    kv = await _bucket(request)
    got = await kv.get(_text_param(request, "key"), revision=_int_param(request, "revision"))
    name = f"{_UNSAFE.sub('_', got.key)[:100]}.r{got.revision}.bin"
    return Response(
        got.value,
        media_type="application/octet-stream",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


async def watch(request: Request) -> Response | WatchStream:
    """Server-sent events of the bucket's changes; a browser that reconnects resumes after its Last-Event-ID."""
    kv = await _bucket(request)
    filters = request.query_params.get("filter", "").split()
    options: dict[str, Any] = {"ignore_deletes": _flag(request, "ignore_deletes")}
    resume = request.headers.get("last-event-id", "")
    start = _int_param(request, "from_revision")
    if resume.isdigit():
        options["from_revision"] = int(resume) + 1
    elif start is not None:
        options["from_revision"] = start
    elif _flag(request, "include_history"):
        options["include_history"] = True
    elif not _flag(request, "initial"):
        options["updates_only"] = True
    try:  # the options are checked here (making a watcher starts nothing), so that a bad one is a 400
        kv.watch(*filters, **options).close()
    except sqlkv.InvalidArgumentError as error:
        raise BadRequest(str(error)) from None
    return WatchStream(kv, filters, options, request.app.state.stopping)


# -- writes ------------------------------------------------------------------------------------------------------


def _writes(
    handler: Callable[[Request, dict[str, Any]], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """A write endpoint: 403 unless the app may write; the JSON body (an object) goes to the handler."""

    async def endpoint(request: Request) -> Response:
        if not request.app.state.write:
            return Json({"error": "read-only inspector: start it with `sqlkv ui --write` to change the store"}, 403)
        try:
            body = json.loads(await request.body())
        except ValueError:
            raise BadRequest("the body must be JSON") from None
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object")
        return await handler(request, body)

    endpoint.__name__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return endpoint


def _field(body: dict[str, Any], name: str, kind: type | tuple[type, ...], required: bool = False) -> Any:
    value = body.get(name)
    if value is None:
        if required:
            raise BadRequest(f"missing field {name!r}")
        return None
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise BadRequest(f"field {name!r} has the wrong type")
    return value


def _config(body: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for name in ("history", "max_value_size", "max_bytes"):
        if body.get(name) is not None:
            config[name] = _field(body, name, int)
    if body.get("ttl") is not None:
        config["ttl"] = _field(body, "ttl", (int, float)) or None
    if body.get("description") is not None:
        config["description"] = _field(body, "description", str)
    return config


@_writes
async def create_bucket(request: Request, body: dict[str, Any]) -> Response:
    kv = await _store(request).create_bucket(_field(body, "name", str, True), **_config(body))
    return Json(status_view(await kv.status()), 201)


@_writes
async def edit_bucket(request: Request, body: dict[str, Any]) -> Response:
    kv = await _store(request).update_bucket(request.path_params["bucket"], **_config(body))
    return Json(status_view(await kv.status()))


@_writes
async def delete_bucket(request: Request, body: dict[str, Any]) -> Response:
    name = request.path_params["bucket"]
    await _store(request).bucket(name)  # 404 for a bucket that is not there
    await _store(request).delete_bucket(name)
    return Json({"deleted": name})


def _value(body: dict[str, Any]) -> bytes:
    value = _field(body, "value", str, True)
    if body.get("encoding", "text") == "base64":
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("the value is not valid base64") from None
    return str(value).encode("utf-8")


@_writes
async def put(request: Request, body: dict[str, Any]) -> Response:
    """``last`` given: CAS (``update``: 409 if the key changed since); ``create`` true: only if absent; else put."""
    kv = await _bucket(request)
    key, value, last = _field(body, "key", str, True), _value(body), _field(body, "last", int)
    if last is not None:
        revision = await kv.update(key, value, last=last)
    elif body.get("create"):
        revision = await kv.create(key, value)
    else:
        revision = await kv.put(key, value)
    return Json({"key": key, "revision": revision})


@_writes
async def delete(request: Request, body: dict[str, Any]) -> Response:
    kv = await _bucket(request)
    key = _field(body, "key", str, True)
    return Json({"key": key, "revision": await kv.delete(key, last=_field(body, "last", int))})


@_writes
async def purge(request: Request, body: dict[str, Any]) -> Response:
    kv = await _bucket(request)
    key = _field(body, "key", str, True)
    return Json({"key": key, "revision": await kv.purge(key, last=_field(body, "last", int))})


# -- the app -----------------------------------------------------------------------------------------------------


def create_app(store: sqlkv.AsyncStore, *, write: bool, token: str) -> Gate:
    """The inspector of the open ``store``, behind its gate (call it on the event loop that will serve it)."""
    bucket_path = "/api/buckets/{bucket}"
    routes = [
        Route("/", page),
        Route("/favicon.ico", lambda request: Response(status_code=204)),
        Route("/api/info", info),
        Route("/api/buckets", buckets),
        Route("/api/buckets", create_bucket, methods=["POST"]),
        Route(bucket_path, bucket),
        Route(bucket_path + "/keys", keys),
        Route(bucket_path + "/entry", entry),
        Route(bucket_path + "/history", history),
        Route(bucket_path + "/value", download),
        Route(bucket_path + "/watch", watch),
        Route(bucket_path + "/config", edit_bucket, methods=["POST"]),
        Route(bucket_path + "/drop", delete_bucket, methods=["POST"]),
        Route(bucket_path + "/put", put, methods=["POST"]),
        Route(bucket_path + "/delete", delete, methods=["POST"]),
        Route(bucket_path + "/purge", purge, methods=["POST"]),
        Route("/static/{name}", static),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={sqlkv.SqlkvError: _store_error, BadRequest: _bad_request},
    )
    app.state.store = store
    app.state.write = write
    app.state.stopping = anyio.Event()
    app.state.last_update = {}
    return Gate(app, token)


def request_stop(app: Gate) -> None:
    """End every live stream now (the server is shutting down: it waits for open responses to finish)."""
    state = getattr(app.app, "state", None)
    stopping = getattr(state, "stopping", None)
    if stopping is not None:
        stopping.set()
