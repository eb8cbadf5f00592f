"""A griffe extension: docstrings as ``help()`` shows them, in Markdown.

The sync twins (``sqlkv.Store``, ``sqlkv.Bucket``...) take their async twin's
docstring through a decorator (``twin`` in ``sqlkv/_api/sync_interface.py``),
which static analysis cannot see; this reads ``__doc__`` from the imported object.
Sphinx roles (``:class:`AsyncStore```) become code spans.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

import griffe


def _runtime_doc(path: str) -> str | None:
    parts = path.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            value: Any = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        try:
            for name in parts[split:]:
                value = (
                    value.__dict__[name] if isinstance(value, type) and name in value.__dict__ else getattr(value, name)
                )
        except AttributeError:
            return None
        doc = getattr(value, "__doc__", None)
        if isinstance(value, (staticmethod, classmethod)):
            doc = value.__func__.__doc__
        return doc if isinstance(doc, str) and doc.strip() else None
    return None


ROLE = re.compile(r":(?:class|func|meth|attr|exc|data|mod|obj):`~?([^`]+)`")


def _markdown(doc: str) -> str:
    return ROLE.sub(r"`\1`", doc)


class RuntimeDocstrings(griffe.Extension):
    """Fill each function's and property's missing docstring from the imported object."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        if pkg.name == "sqlkv" or pkg.path.startswith("sqlkv."):
            self._fill(pkg)

    def _fill(self, obj: griffe.Object) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _markdown(obj.docstring.value)
        for member in obj.members.values():
            if member.is_alias:
                continue
            if member.docstring is None and not member.is_module:
                doc = _runtime_doc(member.path)
                if doc is not None:
                    member.docstring = griffe.Docstring(doc, parent=member)
            if member.is_class or member.is_module:
                self._fill(member)
            elif member.docstring is not None:
                member.docstring.value = _markdown(member.docstring.value)
