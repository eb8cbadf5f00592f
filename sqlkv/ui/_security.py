"""The inspector's gate: a token on every request, same-origin writes, and strict headers on every response.

The token (``secrets.token_urlsafe``) is printed once in the URL. ``?token=``
on a visit sets an HttpOnly, SameSite=Strict cookie (and redirects to the same
page without the token in its address); every later request carries the cookie.
No token: 401; a wrong one: 403 (compared in constant time). A request that
changes anything (POST, PUT, PATCH, DELETE) must also come from the page's own
origin: its ``Origin`` header equals the server's, or, without one,
``Sec-Fetch-Site`` is ``same-origin``; and its body must be JSON, which a
cross-site form cannot send. There are no CORS headers: other origins cannot
read a response.
"""

from __future__ import annotations

import hmac
import secrets
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlencode

TYPE_CHECKING = False
if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["HEADERS", "Gate", "new_token"]

HEADERS = [
    (b"content-security-policy", b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
     b"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]  # fmt: skip
"""Added to every response."""

_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def new_token() -> str:
    """A fresh random token (32 bytes, URL-safe)."""
    return secrets.token_urlsafe(32)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class Gate:
    """ASGI middleware: the token check, the same-origin check for writes, and :data:`HEADERS` on every response."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode("ascii")

    def cookie_name(self, scope: Scope) -> str:
        """One cookie per port: two inspectors on one host keep their own tokens."""
        server = scope.get("server") or (None, None)
        return f"sqlkv_ui_{server[1] or 0}"

    def _matches(self, given: str) -> bool:
        return hmac.compare_digest(given.encode("utf-8", "replace"), self.token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # no WebSocket endpoint: refused before anything else
            await send({"type": "websocket.close", "code": 1008})
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], *HEADERS]
            await send(message)

        refusal = self._refusal(scope)
        if refusal is not None:
            status, text = refusal
            await _plain(send_with_headers, status, text)
            return
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        if "token" in query and scope["method"] == "GET":  # the first visit: a cookie, and the token leaves the URL
            del query["token"]
            location = scope.get("root_path", "") + scope["path"] + (f"?{urlencode(query)}" if query else "")
            cookie = f"{self.cookie_name(scope)}={self.token.decode()}; Path=/; HttpOnly; SameSite=Strict"
            await send_with_headers(
                {
                    "type": "http.response.start",
                    "status": 303,
                    "headers": [
                        (b"location", location.encode("latin-1")),
                        (b"set-cookie", cookie.encode("latin-1")),
                        (b"content-length", b"0"),
                    ],
                }
            )
            await send_with_headers({"type": "http.response.body", "body": b""})
            return
        await self.app(scope, receive, send_with_headers)

    def _refusal(self, scope: Scope) -> tuple[int, str] | None:
        """(status, reason) when the request may not proceed; None when it may."""
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        given = query.get("token")
        if given is None:
            cookies = SimpleCookie()
            try:
                cookies.load(_header(scope, b"cookie") or "")
            except Exception:  # a malformed Cookie header is no token
                cookies = SimpleCookie()
            morsel = cookies.get(self.cookie_name(scope))
            given = morsel.value if morsel is not None else None
        if given is None:
            return 401, "this inspector needs its token: open the URL `sqlkv ui` printed"
        if not self._matches(given):
            return 403, "wrong token: open the URL `sqlkv ui` printed"
        if scope["method"] in _WRITES:
            if not _same_origin(scope):
                return 403, "a change must come from the inspector's own page (same origin)"
            content_type = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
            if content_type != "application/json":
                return 415, "a change is sent as application/json"
        return None


def _same_origin(scope: Scope) -> bool:
    """``Origin`` is this server's own origin; or, without ``Origin``, ``Sec-Fetch-Site`` says same-origin."""
    origin = _header(scope, b"origin")
    if origin is not None:
        host = _header(scope, b"host")
        return host is not None and hmac.compare_digest(origin, f"{scope.get('scheme', 'http')}://{host}")
    return _header(scope, b"sec-fetch-site") == "same-origin"


async def _plain(send: Send, status: int, text: str) -> None:
    body = (text + "\n").encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
