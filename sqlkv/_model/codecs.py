"""Codecs: how a typed bucket turns a value into the bytes it stores, and back (public as ``sqlkv.codecs``).

A codec is any object with a ``name`` (the stored format: ``"json"``,
``"msgpack"``, ...), ``encode(value) -> bytes`` and ``decode(bytes) ->
value``. The name describes the bytes, not the Python type: ``Json()`` and
``Msgspec(User)`` both store JSON, so either can read what the other wrote.
``msgspec`` and ``pydantic`` are optional extras, imported when their codec
is made.
"""

from __future__ import annotations

import json
import pickle
from typing import Any, Generic, Literal, Protocol, TypeVar

from .errors import CodecError, InvalidArgumentError

__all__ = ["CODEC_METADATA_KEY", "TEXT_COMPATIBLE", "Bytes", "Codec", "Json", "Msgspec", "Pickle", "Pydantic", "Text"]

T = TypeVar("T")

CODEC_METADATA_KEY = "sqlkv.codec"
"""The bucket metadata entry that records the codec a bucket was created with (file stores)."""

TEXT_COMPATIBLE = frozenset({"bytes", "text", "json"})
"""Codec names whose stored bytes may be a decimal counter written by ``incr`` (it decodes as text and as JSON)."""


def check_counter_codec(name: str) -> None:
    """CodecError unless a bucket of codec ``name`` can read the decimal counter ``incr`` writes."""
    if name not in TEXT_COMPATIBLE:
        raise CodecError(
            f"incr() writes a decimal counter, which codec {name} cannot read: use an untyped "
            "bucket (or a text or JSON one) for counters"
        )


def _plain_class(kind: object) -> type | None:
    """``kind`` if values of it are its instances (a class, not ``list[int]`` or a union): checked on encode."""
    return kind if isinstance(kind, type) and kind.__module__ != "builtins" else None


class Codec(Protocol[T]):
    """What a typed bucket needs of a codec: a ``name`` and a way to bytes and back.

    ``name`` names the stored format (it is recorded in the bucket's metadata
    on a file store, and shown by ``sqlkv kv info``); ``encode`` must return
    ``bytes``; ``decode`` may raise any exception for bytes it cannot read
    (the bucket turns it into ValueDecodeError).
    """

    @property
    def name(self) -> str:
        """The stored format, e.g. ``"json"``."""
        ...

    def encode(self, value: T, /) -> bytes:
        """The bytes to store for ``value``."""
        ...

    def decode(self, data: bytes, /) -> T:
        """The value stored as ``data``."""
        ...


class Bytes:
    """Values are ``bytes``, stored as they are: an untyped bucket's behaviour (and the default)."""

    name = "bytes"

    def encode(self, value: bytes, /) -> bytes:
        """``value`` itself."""
        return value

    def decode(self, data: bytes, /) -> bytes:
        """``data`` itself."""
        return data

    def __repr__(self) -> str:
        return "Bytes()"


class Text:
    """Values are ``str``, stored in ``encoding`` (UTF-8 by default)."""

    name = "text"

    def __init__(self, encoding: str = "utf-8") -> None:
        self.encoding = encoding

    def encode(self, value: str, /) -> bytes:
        """``value`` in the codec's encoding."""
        return value.encode(self.encoding)

    def decode(self, data: bytes, /) -> str:
        """``data`` as text."""
        return data.decode(self.encoding)

    def __repr__(self) -> str:
        return f"Text({self.encoding!r})"


class Json:
    """Values are anything the standard ``json`` module writes: compact UTF-8 JSON, keys sorted if asked.

    ``default`` is called for objects ``json`` cannot serialise (as in ``json.dumps``).
    """

    name = "json"

    def __init__(self, *, sort_keys: bool = False, default: Any = None) -> None:
        self.sort_keys = sort_keys
        self._encode = json.JSONEncoder(
            separators=(",", ":"), sort_keys=sort_keys, ensure_ascii=False, default=default
        ).encode
        self._decode = json.JSONDecoder().decode

    def encode(self, value: Any, /) -> bytes:
        """``value`` as compact JSON."""
        return self._encode(value).encode()

    def decode(self, data: bytes, /) -> Any:
        """The JSON value of ``data``."""
        return self._decode(data.decode())

    def __repr__(self) -> str:
        return f"Json(sort_keys={self.sort_keys})"


class _Validating(Generic[T]):
    """A codec of a library that encodes values of one type and validates what it decodes (msgspec, pydantic)."""

    _encode: Any
    _decode: Any
    _class: type | None

    def encode(self, value: T, /) -> bytes:
        """``value`` in the codec's format; TypeError for a value that is not of the codec's type (a class)."""
        if self._class is not None and not isinstance(value, self._class):
            raise TypeError(f"expected {self._class.__name__}, got {value.__class__.__name__}")
        data: bytes = self._encode(value)
        return data

    def decode(self, data: bytes, /) -> T:
        """The value stored as ``data``, validated against the codec's type (ValueError if it does not fit)."""
        value: T = self._decode(data)
        return value


class Msgspec(_Validating[T]):
    """Values of ``type`` (a ``msgspec.Struct``, a dataclass, ``list[int]``...), as JSON or MessagePack via msgspec.

    Decoding validates: stored bytes that do not fit ``type`` raise
    ValueDecodeError. Needs ``pip install 'sqlkv[msgspec]'``.
    """

    def __init__(self, type: type[T], format: Literal["json", "msgpack"] = "json") -> None:
        try:
            import msgspec
        except ImportError:
            raise CodecError("the Msgspec codec needs msgspec: pip install 'sqlkv[msgspec]'") from None
        if format == "json":
            module: Any = msgspec.json
        elif format == "msgpack":
            module = msgspec.msgpack
        else:
            raise InvalidArgumentError(f'format must be "json" or "msgpack", not {format!r}')
        self.type = type
        self.name: str = format
        self._encode = module.Encoder().encode
        self._decode = module.Decoder(type).decode
        self._class = _plain_class(type)

    def __repr__(self) -> str:
        return f"Msgspec({getattr(self.type, '__name__', self.type)}, format={self.name!r})"


class Pydantic(_Validating[T]):
    """Values of ``model`` (a pydantic model, or any type pydantic validates), stored as JSON.

    Decoding validates (``TypeAdapter.validate_json``). Needs ``pip install 'sqlkv[pydantic]'``.
    """

    name = "json"

    def __init__(self, model: type[T]) -> None:
        try:
            import pydantic
        except ImportError:
            raise CodecError("the Pydantic codec needs pydantic: pip install 'sqlkv[pydantic]'") from None
        self.model = model
        adapter: Any = pydantic.TypeAdapter(model)
        self._encode = adapter.dump_json
        self._decode = adapter.validate_json
        self._class = _plain_class(model)

    def __repr__(self) -> str:
        return f"Pydantic({getattr(self.model, '__name__', self.model)})"


class Pickle:
    """Any picklable value, stored with ``pickle``. Opt-in, and only for data you trust.

    Unpickling runs code named by the stored bytes: anyone who can write the
    store file (or the NATS bucket) can make every reader run their code.
    """

    name = "pickle"

    def __init__(self, protocol: int = pickle.HIGHEST_PROTOCOL) -> None:
        self.protocol = protocol

    def encode(self, value: Any, /) -> bytes:
        """``value`` pickled."""
        return pickle.dumps(value, self.protocol)

    def decode(self, data: bytes, /) -> Any:
        """The unpickled value (runs whatever code ``data`` names: trusted data only)."""
        return pickle.loads(data)

    def __repr__(self) -> str:
        return f"Pickle(protocol={self.protocol})"
