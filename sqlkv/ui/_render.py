"""Entries, values, histories and statuses as JSON-ready data for the page (no web framework here).

Values are untrusted bytes: they leave as JSON strings (text, pretty JSON,
base64) that the page puts into text nodes, never markup. A value longer than
``SHOWN`` bytes is cut there (``truncated``); the page links to the download
endpoint for the whole of it.
"""

from __future__ import annotations

import difflib

import sqlkv
from sqlkv.views import dumps as _dumps
from sqlkv.views import entry_view, render, value_base64, value_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["SHOWN", "dumps", "entry_summary", "history_view", "value_view"]

SHOWN = 64 * 1024
"""Bytes of a value shown in the page; the rest is downloaded."""
PREVIEW = 200
"""Characters of a value in a list (the live pane, the history)."""
DIFFED = 64 * 1024
"""Text revisions longer than this are not diffed (difflib is quadratic in the worst case)."""


def preview(value: bytes) -> str:
    """A short, one-line look at a value: its start as text, or ``<N bytes of binary>``."""
    start = value[: PREVIEW * 4]
    text = value_text(start) if len(value) <= len(start) else _cut_text(start)
    if text is None:
        return f"<{len(value):,} bytes of binary>"
    flat = " ".join(text.split())
    return flat if len(flat) <= PREVIEW else flat[:PREVIEW] + "…"


def entry_summary(entry: sqlkv.Entry, *, with_preview: bool = False) -> dict[str, Any]:
    """An entry without its value: key, revision, operation, size, time (and a preview when asked)."""
    data = entry_view(entry, value=False)
    if with_preview:
        data["preview"] = preview(entry.value)
    return data


def value_view(value: bytes) -> dict[str, Any]:
    """A value for the entry view: ``kind`` (json, text or binary), the text, pretty JSON, base64 of what is shown."""
    shown = value[:SHOWN]
    truncated = len(value) > SHOWN
    text = value_text(value) if not truncated else _cut_text(shown)
    kind = "binary" if text is None else "text"
    pretty = render(value, "json") if text is not None and not truncated else None
    if pretty is not None:
        kind = "json"
    return {
        "size": len(value),
        "shown": len(shown),
        "truncated": truncated,
        "kind": kind,
        "text": text,
        "pretty": pretty,
        "base64": value_base64(shown),
    }


def _cut_text(shown: bytes) -> str | None:
    """``shown`` as text, maybe cut inside a UTF-8 sequence (an incomplete end is dropped); else None."""
    for end in range(len(shown), max(len(shown) - 4, 0), -1):
        text = value_text(shown[:end])
        if text is not None:
            return text
    return None


def history_view(entries: list[sqlkv.Entry]) -> list[dict[str, Any]]:
    """Every revision, oldest first, with a preview and a unified diff from the previous text revision."""
    views: list[dict[str, Any]] = []
    previous: tuple[int, str] | None = None
    for entry in entries:
        view = entry_summary(entry, with_preview=True)
        text = value_text(entry.value) if len(entry.value) <= DIFFED else None
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
    """A response body: JSON with ``<``, ``>`` and ``&`` escaped (``sqlkv.views.dumps(html=True)``), in UTF-8."""
    return _dumps(data, html=True).encode("utf-8")
