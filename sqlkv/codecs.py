"""Codecs for typed buckets: ``store.create_bucket("users", codec=Msgspec(User))`` stores and returns ``User`` values.

``Bytes()`` (values as they are, the default), ``Text()``, ``Json()``,
``Msgspec(type, format="json" | "msgpack")`` (needs ``sqlkv[msgspec]``),
``Pydantic(model)`` (needs ``sqlkv[pydantic]``) and ``Pickle()`` (trusted
data only: unpickling runs code). Any object with a ``name``, ``encode`` and
``decode`` is a codec (see :class:`Codec`). See docs/semantics.md, "Typed
buckets".
"""

from ._model.codecs import Bytes, Codec, Json, Msgspec, Pickle, Pydantic, Text

__all__ = ["Bytes", "Codec", "Json", "Msgspec", "Pickle", "Pydantic", "Text"]

for _codec in (Bytes, Codec, Json, Msgspec, Pickle, Pydantic, Text):
    _codec.__module__ = __name__
del _codec
