"""The one place that loads a module by name: backends by location, the replica layer, public names.

``AsyncStore(location)`` and ``Store(location)`` look their implementation up
here by URL scheme, as anyio picks a backend by name: a file path is the SQLite
store (``sqlkv._backends.sqlite``), a ``nats://`` URL the NATS JetStream store
(``sqlkv._backends.nats``). Implementations are named by module path and
imported on first use, so there is no import edge from the interface to any
backend (and ``import sqlkv`` loads none of them). The SQLite stores reach the
replica layer above them through ``replica_entry``, the interface its typed
buckets (``typed``, which wraps it) through ``typed_entry``, and ``sqlkv/__init__.py``
loads each public name on first use through ``load``.
"""

from __future__ import annotations

import importlib

from .._model.errors import InvalidArgumentError, UnsupportedError

TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing at run time: a command starts sooner)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "NATS_SCHEMES",
    "async_store_class",
    "backend_of",
    "load",
    "replica_entry",
    "sync_store_class",
    "typed_entry",
]

NATS_SCHEMES = ("nats", "tls", "ws", "wss")
"""URL schemes of a NATS server."""

_ASYNC: dict[str, str] = {
    "file": "sqlkv._backends.sqlite.async_store:SqliteAsyncStore",
    "nats": "sqlkv._backends.nats.store:NatsStore",
}
_SYNC: dict[str, str] = {
    "file": "sqlkv._backends.sqlite.sync_store:SqliteStore",
}
_REPLICA = "sqlkv._replica"
"""The replica layer's package: it sits above the backends, so the SQLite stores reach it through here."""
_TYPED = "sqlkv._api.typed"
"""The typed buckets: they wrap the interface's buckets, so the interface reaches them through here."""


def backend_of(location: object) -> str:
    """``"nats"`` for a NATS URL (or a list of them), else ``"file"``; InvalidArgumentError for another URL scheme."""
    if isinstance(location, (list, tuple)):
        return "nats" if location and all(backend_of(one) == "nats" for one in location) else "file"
    if isinstance(location, str):
        scheme, sep, _ = location.partition("://")
        if sep and scheme.lower() in NATS_SCHEMES:
            return "nats"
        if sep and len(scheme) > 1 and scheme.isascii() and scheme[0].isalpha() and _is_scheme(scheme):
            supported = ", ".join(f"{name}://" for name in NATS_SCHEMES)
            raise InvalidArgumentError(
                f"unknown URL scheme {scheme}:// in {location!r}: "
                f"sqlkv opens a file path or a NATS server ({supported})"
            )
    return "file"


def _is_scheme(text: str) -> bool:
    """Whether ``text`` has the characters of a URL scheme (RFC 3986: letters, digits, ``+ - .``)."""
    return all(c.isalnum() or c in "+-." for c in text)


def load(where: str) -> Any:
    """The object ``"package.module:name"`` names, importing its module on first use."""
    module, _, name = where.partition(":")
    return getattr(importlib.import_module(module), name)


def replica_entry(name: str) -> Any:
    """The replica layer's entry point ``name`` (``open_async``, ``stored_status``, ...), loaded on first use.

    Reading a replica's stored state loads only ``_replica.stored`` (no nats-py, no event loop).
    """
    module = "stored" if name.startswith("stored_status") else "entry_points"
    return load(f"{_REPLICA}.{module}:{name}")


def typed_entry(name: str) -> Any:
    """The typed buckets' entry point ``name`` (``create_async``, ``open_sync``, ...), loaded on first use."""
    return load(f"{_TYPED}:{name}")


_COMBINED: dict[tuple[type, type], type] = {}


def _with_backend(cls: type, implementation: type) -> type:
    """``cls`` itself when it is (or derives from) a backend; for a user's subclass of the interface, one that is."""
    if issubclass(implementation, cls):  # the interface itself
        return implementation
    if getattr(cls, "backend", None) is not None:  # a backend, or a subclass of one
        return cls
    combined = _COMBINED.get((cls, implementation))
    if combined is None:  # class MyStore(sqlkv.AsyncStore): its methods first, then the backend's
        namespace = {"__module__": cls.__module__, "__qualname__": cls.__qualname__, "__doc__": cls.__doc__}
        combined = _COMBINED[(cls, implementation)] = type(cls.__name__, (cls, implementation), namespace)
    return combined


def async_store_class(cls: type, location: object) -> Any:
    """The class to instantiate for ``cls(location)``: the AsyncStore implementation ``location`` names."""
    return _with_backend(cls, load(_ASYNC[backend_of(location)]))


def sync_store_class(cls: type, location: object) -> Any:
    """The class to instantiate for ``cls(location)``; UnsupportedError where there is no sync backend."""
    backend = backend_of(location)
    if backend not in _SYNC:
        raise UnsupportedError(f"the synchronous Store works on files; use AsyncStore for a {backend}:// store")
    return _with_backend(cls, load(_SYNC[backend]))
