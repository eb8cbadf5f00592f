"""Entries, values, histories and statuses as JSON-ready data for the page (no web framework here).

Values are untrusted bytes: they leave as JSON strings (text, pretty JSON,
base64) that the page puts into text nodes, never markup. A value longer than
``SHOWN`` bytes is cut there (``truncated``); the page links to the download
endpoint for the whole of it.
"""

from __future__ import annotations

import base64
import dataclasses
import difflib
import json

import sqlkv

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["SHOWN", "entry_summary", "history_view", "status_view", "value_view"]

SHOWN = 64 * 1024
"""Bytes of a value shown in the page; the rest is downloaded."""
PREVIEW = 200
"""Characters of a value in a list (the live pane, the history)."""
DIFFED = 64 * 1024
"""Text revisions longer than this are not diffed (difflib is quadratic in the worst case)."""


def status_view(status: sqlkv.BucketStatus) -> dict[str, Any]:
    """A bucket's status: every field, ``created`` as ISO 8601."""
    return {**dataclasses.asdict(status), "created": status.created.isoformat()}


def _text(value: bytes) -> str | None:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return None


def preview(value: bytes) -> str:
    """A short, one-line look at a value: its start as text, or ``<N bytes of binary>``."""
    start = value[: PREVIEW * 4]
    text = _text(start) if len(value) <= len(start) else _cut_text(start)
    if text is None:
        return f"<{len(value):,} bytes of binary>"
    flat = " ".join(text.split())
    return flat if len(flat) <= PREVIEW else flat[:PREVIEW] + "…"


def entry_summary(entry: sqlkv.Entry, *, with_preview: bool = False) -> dict[str, Any]:
    """An entry without its value: key, revision, operation, size, time (and a preview when asked)."""
    data: dict[str, Any] = {
        "bucket": entry.bucket,
        "key": entry.key,
        "revision": entry.revision,
        "operation": entry.operation.name,
        "size": len(entry.value),
        "created": entry.created.isoformat(),
        "expires": None if entry.expires is None else entry.expires.isoformat(),
    }
    if with_preview:
        data["preview"] = preview(entry.value)
    return data


def value_view(value: bytes) -> dict[str, Any]:
    """A value for the entry view: ``kind`` (json, text or binary), the text, pretty JSON, base64 of what is shown."""
    shown = value[:SHOWN]
    truncated = len(value) > SHOWN
    text = _text(value) if not truncated else _cut_text(shown)
    kind = "binary" if text is None else "text"
    pretty = None
    if text is not None and not truncated:
        try:
            pretty = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
            kind = "json"
        except ValueError:
            pass
    return {
        "size": len(value),
        "shown": len(shown),
        "truncated": truncated,
        "kind": kind,
        "text": text,
        "pretty": pretty,
        "base64": base64.b64encode(shown).decode("ascii"),
    }


def _cut_text(shown: bytes) -> str | None:
    """``shown`` as text, maybe cut inside a UTF-8 sequence (an incomplete end is dropped); else None."""
    for end in range(len(shown), max(len(shown) - 4, 0), -1):
        text = _text(shown[:end])
        if text is not None:
            return text
    return None


def history_view(entries: list[sqlkv.Entry]) -> list[dict[str, Any]]:
    """Every revision, oldest first, with a preview and a unified diff from the previous text revision."""
    views: list[dict[str, Any]] = []
    previous: tuple[int, str] | None = None
    for entry in entries:
        view = entry_summary(entry, with_preview=True)
        text = _text(entry.value) if len(entry.value) <= DIFFED else None
        if entry.operation is sqlkv.Operation.PUT and text is not None:
            if previous is not None:
                view["diff"] = list(
                    difflib.unified_diff(
                        previous[1].splitlines(),
                        text.splitlines(),
                        f"revision {previous[0]}",
                        f"revision {entry.revision}",
                        lineterm="",
                    )
                )
            previous = (entry.revision, text)
        views.append(view)
    return views


def dumps(data: object) -> bytes:
    """JSON with ``<``, ``>`` and ``&`` escaped, so no response body ever holds markup from a value."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode("utf-8")
