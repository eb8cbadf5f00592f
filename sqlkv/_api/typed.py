"""Typed buckets: a bucket handle whose values are Python objects, through a codec (``sqlkv.codecs``).

``store.create_bucket(name, codec=C)`` and ``store.bucket(name, codec=C)``
return an :class:`AsyncTypedBucket` (or a :class:`TypedBucket`) over the very
bucket an untyped handle sees: the codec runs on the client, the store keeps
bytes, so the same typed code runs on every backend and an untyped handle
(``kv.raw``) always reads the stored bytes. Loaded by name through the
registry when a codec is first given (it sits above the interface modules).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from datetime import timedelta
from types import TracebackType
from typing import Any, Generic, TypeVar, overload

from .._model.codecs import CODEC_METADATA_KEY, Codec, check_counter_codec
from .._model.config import BucketConfig
from .._model.entry import BucketStatus, Entry, Operation, with_value
from .._model.errors import (
    BucketExistsError,
    CodecError,
    CodecMismatchError,
    InvalidArgumentError,
    KeyNotFoundError,
    ValueDecodeError,
)
from .locks import AsyncLock, Lock
from .raw import AsyncBucket, AsyncWatcher, Bucket, Watcher

__all__ = [
    "AsyncTypedBucket",
    "AsyncTypedWatcher",
    "TypedBucket",
    "TypedWatcher",
    "check_codec",
    "create_async",
    "create_sync",
    "open_async",
    "open_sync",
]

T = TypeVar("T")
D = TypeVar("D")
W = TypeVar("W", "AsyncWatcher", "Watcher")

_PUT = Operation.PUT


def check_codec(codec: object) -> Codec[Any]:
    """``codec`` if it has a str ``name`` and callable ``encode`` and ``decode``; else InvalidArgumentError."""
    name = getattr(codec, "name", None)
    if not isinstance(name, str) or not name or not callable(getattr(codec, "encode", None)):
        raise InvalidArgumentError(f"codec must have a name, encode() and decode(), not {codec!r}")
    if not callable(getattr(codec, "decode", None)):
        raise InvalidArgumentError(f"codec must have a name, encode() and decode(), not {codec!r}")
    return codec  # type: ignore[return-value]


def _recorded(codec: Codec[Any]) -> bool:
    """Whether the codec is recorded in the bucket's metadata (``bytes``, every bucket's own view, is not)."""
    return codec.name != "bytes"


def with_codec(config: BucketConfig, codec: Codec[Any]) -> BucketConfig:
    """``config`` with the codec's name recorded in its metadata."""
    metadata = dict(config.metadata)
    given = metadata.get(CODEC_METADATA_KEY)
    if given is not None and given != codec.name:
        raise InvalidArgumentError(f"metadata {CODEC_METADATA_KEY}={given!r} contradicts codec {codec.name!r}")
    metadata[CODEC_METADATA_KEY] = codec.name
    return dataclasses.replace(config, metadata=metadata)


def _check_recorded(raw: AsyncBucket | Bucket, codec: Codec[Any]) -> None:
    """CodecMismatchError if the bucket records another codec than ``codec`` (``Bytes()`` reads any bucket)."""
    recorded = raw.config.metadata.get(CODEC_METADATA_KEY)
    if recorded is not None and _recorded(codec) and recorded != codec.name:
        raise CodecMismatchError(
            f"bucket {raw.name} stores values with codec {recorded!r}, not {codec.name!r} "
            "(open it without a codec to read the bytes)"
        )


async def create_async(
    create: Callable[[str, BucketConfig], Awaitable[AsyncBucket]],
    find: Callable[[str], Awaitable[AsyncBucket]],
    record: bool,
    name: str,
    config: BucketConfig,
    codec: Codec[T],
) -> AsyncTypedBucket[T]:
    """``store.create_bucket(name, ..., codec=codec)``, given the store's own ``create`` and ``find`` of a bucket.

    ``record``: whether the store keeps the codec's name in the bucket's metadata.
    """
    check_codec(codec)
    if _recorded(codec) and record:
        config = with_codec(config, codec)
    try:
        raw = await create(name, config)
    except BucketExistsError:
        _check_recorded(await find(name), codec)
        raise
    return AsyncTypedBucket(raw, codec)


async def open_async(find: Callable[[str], Awaitable[AsyncBucket]], name: str, codec: Codec[T]) -> AsyncTypedBucket[T]:
    """``store.bucket(name, codec=codec)``, given the store's own ``find`` of a bucket."""
    check_codec(codec)
    raw = await find(name)
    _check_recorded(raw, codec)
    return AsyncTypedBucket(raw, codec)


def create_sync(
    create: Callable[[str, BucketConfig], Bucket],
    find: Callable[[str], Bucket],
    name: str,
    config: BucketConfig,
    codec: Codec[T],
) -> TypedBucket[T]:
    """``store.create_bucket(name, ..., codec=codec)`` of a sync store (which always records the codec)."""
    check_codec(codec)
    if _recorded(codec):
        config = with_codec(config, codec)
    try:
        raw = create(name, config)
    except BucketExistsError:
        _check_recorded(find(name), codec)
        raise
    return TypedBucket(raw, codec)


def open_sync(find: Callable[[str], Bucket], name: str, codec: Codec[T]) -> TypedBucket[T]:
    """``store.bucket(name, codec=codec)`` of a sync store."""
    check_codec(codec)
    raw = find(name)
    _check_recorded(raw, codec)
    return TypedBucket(raw, codec)


class _TypedCore(Generic[T]):
    """What both typed buckets share: the codec, and entries decoded."""

    __slots__ = ("_codec_name", "_decode", "_encode", "_name", "codec")

    def __init__(self, name: str, codec: Codec[T]) -> None:
        self.codec = codec
        """The codec that turns values into bytes and back."""
        self._name = name
        self._codec_name = codec.name
        self._encode = codec.encode
        self._decode = codec.decode

    @property
    def name(self) -> str:
        """The bucket's name."""
        return self._name

    def encode(self, value: T) -> bytes:
        """The bytes this bucket stores for ``value``; CodecError if the codec cannot encode it."""
        try:
            return self._encode(value)
        except Exception as exc:
            raise CodecError(
                f"bucket {self._name}: codec {self._codec_name} cannot encode {type(value).__name__}: {exc}"
            ) from exc

    def decode(self, entry: Entry[bytes]) -> Entry[T]:
        """``entry`` with its value decoded; ValueDecodeError (naming the entry, holding its bytes) if it cannot be."""
        try:
            value = self._decode(entry.value)
        except Exception as exc:
            raise ValueDecodeError(
                entry.bucket, entry.key, entry.revision, self._codec_name, entry.value, str(exc) or type(exc).__name__
            ) from exc
        return with_value(entry, value)

    def _decode_any(self, entry: Entry[bytes]) -> Entry[T | None]:
        """A value decoded, or None for a marker (DEL, PURGE, EXPIRE), whose value is empty."""
        if entry.operation is not _PUT:
            return with_value(entry, None)
        return self.decode(entry)  # type: ignore[return-value]  # Entry[T] is an Entry[T | None]

    def _decode_meta(self, entry: Entry[bytes]) -> Entry[T | None]:
        """A ``meta_only`` watch's entry: no value to decode."""
        return with_value(entry, None)

    def _check_counter(self) -> None:
        check_counter_codec(self._codec_name)


class AsyncTypedBucket(_TypedCore[T]):
    """An :class:`AsyncBucket` whose values are ``T``: ``await store.create_bucket("users", codec=Msgspec(User))``.

    Values are encoded by ``codec`` on put, create and update, and decoded
    on every read (get, get_many, entries, history, watch). Markers (delete,
    purge, expiry) in history and watch carry ``None``. Everything else —
    revisions, compare-and-set, TTLs, locks, errors — is the bytes bucket's,
    which ``raw`` is: an untyped handle on the same bucket.
    """

    __slots__ = ("raw",)

    def __init__(self, raw: AsyncBucket, codec: Codec[T]) -> None:
        super().__init__(raw.name, codec)
        self.raw = raw
        """The untyped handle on the same bucket (values as bytes)."""

    @property
    def config(self) -> BucketConfig:
        """The configuration the bucket had when this handle was made."""
        return self.raw.config

    def __repr__(self) -> str:
        return f"<AsyncTypedBucket {self._name!r} codec={self.codec!r}>"

    async def put(self, key: str, value: T, *, ttl: float | timedelta | None = None) -> int:
        """Store ``value`` (encoded) as the key's new revision; return the revision (see ``AsyncBucket.put``)."""
        return await self.raw.put(key, self.encode(value), ttl=ttl)

    async def create(self, key: str, value: T, *, ttl: float | timedelta | None = None) -> int:
        """Put only if the key is absent (or deleted, or expired); else KeyExistsError (see ``AsyncBucket.create``)."""
        return await self.raw.create(key, self.encode(value), ttl=ttl)

    async def update(self, key: str, value: T, last: int, *, ttl: float | timedelta | None = None) -> int:
        """Put only if ``last`` is the key's latest revision (see ``AsyncBucket.update``)."""
        return await self.raw.update(key, self.encode(value), last, ttl=ttl)

    async def delete(self, key: str, *, last: int | None = None) -> int:
        """Write a delete marker (see ``AsyncBucket.delete``)."""
        return await self.raw.delete(key, last=last)

    async def purge(self, key: str, *, last: int | None = None, ttl: float | timedelta | None = None) -> int:
        """Write a purge marker and drop the key's earlier revisions (see ``AsyncBucket.purge``)."""
        return await self.raw.purge(key, last=last, ttl=ttl)

    async def incr(self, key: str, by: int = 1, *, ttl: float | timedelta | None = None) -> int:
        """Add ``by`` to the key's decimal counter (see ``AsyncBucket.incr``); CodecError unless text or JSON."""
        self._check_counter()
        return await self.raw.incr(key, by, ttl=ttl)

    async def touch(self, key: str, ttl: float | timedelta | None) -> int:
        """Move the key's expiry (see ``AsyncBucket.touch``)."""
        return await self.raw.touch(key, ttl)

    async def get(self, key: str, *, revision: int | None = None) -> Entry[T]:
        """The key's latest entry (or the one at ``revision``), its value decoded (see ``AsyncBucket.get``)."""
        return self.decode(await self.raw.get(key, revision=revision))

    @overload
    async def value(self, key: str) -> T | None: ...

    @overload
    async def value(self, key: str, default: D) -> T | D: ...

    async def value(self, key: str, default: Any = None) -> Any:
        """The key's latest value, decoded, or ``default`` when it is missing, deleted or expired."""
        try:
            entry = await self.raw.get(key)
        except KeyNotFoundError:
            return default
        return self.decode(entry).value

    async def history(self, key: str) -> list[Entry[T | None]]:
        """Every retained revision, oldest first, values decoded; markers carry None (see ``AsyncBucket.history``)."""
        return [self._decode_any(entry) for entry in await self.raw.history(key)]

    async def keys(self, *filters: str) -> list[str]:
        """Live keys, sorted (see ``AsyncBucket.keys``)."""
        return await self.raw.keys(*filters)

    async def entries(
        self,
        *filters: str,
        start: str | None = None,
        end: str | None = None,
        limit: int | None = None,
        reverse: bool = False,
    ) -> AsyncIterator[Entry[T]]:
        """The latest live entry of each key in key order, values decoded (see ``AsyncBucket.entries``)."""
        decode = self.decode
        entries = self.raw.entries(*filters, start=start, end=end, limit=limit, reverse=reverse)
        try:
            async for entry in entries:
                yield decode(entry)
        finally:  # a value that does not decode, or a consumer that stops early: the scan ends too
            close = getattr(entries, "aclose", None)
            if close is not None:
                await close()

    def iter_keys(
        self,
        *filters: str,
        start: str | None = None,
        end: str | None = None,
        limit: int | None = None,
        reverse: bool = False,
    ) -> AsyncIterator[str]:
        """Live keys in key order (see ``AsyncBucket.iter_keys``)."""
        return self.raw.iter_keys(*filters, start=start, end=end, limit=limit, reverse=reverse)

    async def get_many(self, keys: Iterable[str]) -> dict[str, Entry[T]]:
        """The latest entry of each of ``keys``, values decoded (see ``AsyncBucket.get_many``)."""
        decode = self.decode
        return {key: decode(entry) for key, entry in (await self.raw.get_many(keys)).items()}

    async def purge_deletes(self, *, older_than: float | timedelta | None = None) -> int:
        """Drop the history of deleted keys (see ``AsyncBucket.purge_deletes``)."""
        return await self.raw.purge_deletes(older_than=older_than)

    async def status(self) -> BucketStatus:
        """Counts, sizes and configuration of the bucket (see ``AsyncBucket.status``)."""
        return await self.raw.status()

    def watch(
        self,
        *filters: str,
        include_history: bool = False,
        ignore_deletes: bool = False,
        meta_only: bool = False,
        updates_only: bool = False,
        from_revision: int | None = None,
        buffer_size: int = 1024,
        on_gap: str = "skip",
    ) -> AsyncTypedWatcher[T]:
        """A live stream of the bucket's changes, values decoded; markers carry None (see ``AsyncBucket.watch``)."""
        raw = self.raw.watch(
            *filters,
            include_history=include_history,
            ignore_deletes=ignore_deletes,
            meta_only=meta_only,
            updates_only=updates_only,
            from_revision=from_revision,
            buffer_size=buffer_size,
            on_gap=on_gap,
        )
        return AsyncTypedWatcher(raw, self._decode_meta if meta_only else self._decode_any)

    def lock(
        self, key: str, *, ttl: float | timedelta = 10.0, wait: bool = True, timeout: float | None = None
    ) -> AsyncLock:
        """An exclusive lock on ``key`` (see ``AsyncBucket.lock``; its value names the holder, not a ``T``)."""
        return self.raw.lock(key, ttl=ttl, wait=wait, timeout=timeout)


class TypedBucket(_TypedCore[T]):
    """A :class:`Bucket` whose values are ``T``: ``store.create_bucket("users", codec=Msgspec(User))``.

    The sync twin of :class:`AsyncTypedBucket`, with the dict-style access
    of :class:`Bucket` on decoded values: ``kv[key]``, ``kv[key] = value``,
    ``del kv[key]``, ``key in kv``, ``len(kv)``, ``iter(kv)``.
    """

    __slots__ = ("raw",)

    def __init__(self, raw: Bucket, codec: Codec[T]) -> None:
        super().__init__(raw.name, codec)
        self.raw = raw
        """The untyped handle on the same bucket (values as bytes)."""

    @property
    def config(self) -> BucketConfig:
        """The configuration the bucket had when this handle was made."""
        return self.raw.config

    def __repr__(self) -> str:
        return f"<TypedBucket {self._name!r} codec={self.codec!r}>"

    def put(self, key: str, value: T, *, ttl: float | timedelta | None = None) -> int:
        """Store ``value`` (encoded) as the key's new revision; return the revision (see ``Bucket.put``)."""
        return self.raw.put(key, self.encode(value), ttl=ttl)

    def create(self, key: str, value: T, *, ttl: float | timedelta | None = None) -> int:
        """Put only if the key is absent (or deleted, or expired); else KeyExistsError (see ``Bucket.create``)."""
        return self.raw.create(key, self.encode(value), ttl=ttl)

    def update(self, key: str, value: T, last: int, *, ttl: float | timedelta | None = None) -> int:
        """Put only if ``last`` is the key's latest revision (see ``Bucket.update``)."""
        return self.raw.update(key, self.encode(value), last, ttl=ttl)

    def delete(self, key: str, *, last: int | None = None) -> int:
        """Write a delete marker (see ``Bucket.delete``)."""
        return self.raw.delete(key, last=last)

    def purge(self, key: str, *, last: int | None = None, ttl: float | timedelta | None = None) -> int:
        """Write a purge marker and drop the key's earlier revisions (see ``Bucket.purge``)."""
        return self.raw.purge(key, last=last, ttl=ttl)

    def incr(self, key: str, by: int = 1, *, ttl: float | timedelta | None = None) -> int:
        """Add ``by`` to the key's decimal counter (see ``Bucket.incr``); CodecError unless text or JSON."""
        self._check_counter()
        return self.raw.incr(key, by, ttl=ttl)

    def touch(self, key: str, ttl: float | timedelta | None) -> int:
        """Move the key's expiry (see ``Bucket.touch``)."""
        return self.raw.touch(key, ttl)

    def get(self, key: str, *, revision: int | None = None) -> Entry[T]:
        """The key's latest entry (or the one at ``revision``), its value decoded (see ``Bucket.get``)."""
        return self.decode(self.raw.get(key, revision=revision))

    @overload
    def value(self, key: str) -> T | None: ...

    @overload
    def value(self, key: str, default: D) -> T | D: ...

    def value(self, key: str, default: Any = None) -> Any:
        """The key's latest value, decoded, or ``default`` when it is missing, deleted or expired."""
        try:
            entry = self.raw.get(key)
        except KeyNotFoundError:
            return default
        return self.decode(entry).value

    def history(self, key: str) -> list[Entry[T | None]]:
        """Every retained revision, oldest first, values decoded; markers carry None (see ``Bucket.history``)."""
        return [self._decode_any(entry) for entry in self.raw.history(key)]

    def keys(self, *filters: str) -> list[str]:
        """Live keys, sorted (see ``Bucket.keys``)."""
        return self.raw.keys(*filters)

    def entries(
        self,
        *filters: str,
        start: str | None = None,
        end: str | None = None,
        limit: int | None = None,
        reverse: bool = False,
    ) -> Iterator[Entry[T]]:
        """The latest live entry of each key in key order, values decoded (see ``Bucket.entries``)."""
        return map(self.decode, self.raw.entries(*filters, start=start, end=end, limit=limit, reverse=reverse))

    def iter_keys(
        self,
        *filters: str,
        start: str | None = None,
        end: str | None = None,
        limit: int | None = None,
        reverse: bool = False,
    ) -> Iterator[str]:
        """Live keys in key order (see ``Bucket.iter_keys``)."""
        return self.raw.iter_keys(*filters, start=start, end=end, limit=limit, reverse=reverse)

    def get_many(self, keys: Iterable[str]) -> dict[str, Entry[T]]:
        """The latest entry of each of ``keys``, values decoded (see ``Bucket.get_many``)."""
        decode = self.decode
        return {key: decode(entry) for key, entry in self.raw.get_many(keys).items()}

    def purge_deletes(self, *, older_than: float | timedelta | None = None) -> int:
        """Drop the history of deleted keys (see ``Bucket.purge_deletes``)."""
        return self.raw.purge_deletes(older_than=older_than)

    def status(self) -> BucketStatus:
        """Counts, sizes and configuration of the bucket (see ``Bucket.status``)."""
        return self.raw.status()

    def watch(
        self,
        *filters: str,
        include_history: bool = False,
        ignore_deletes: bool = False,
        meta_only: bool = False,
        updates_only: bool = False,
        from_revision: int | None = None,
        buffer_size: int = 1024,
        on_gap: str = "skip",
        timeout: float | None = None,
    ) -> TypedWatcher[T]:
        """A live stream of the bucket's changes, values decoded; markers carry None (see ``Bucket.watch``)."""
        raw = self.raw.watch(
            *filters,
            include_history=include_history,
            ignore_deletes=ignore_deletes,
            meta_only=meta_only,
            updates_only=updates_only,
            from_revision=from_revision,
            buffer_size=buffer_size,
            on_gap=on_gap,
            timeout=timeout,
        )
        return TypedWatcher(raw, self._decode_meta if meta_only else self._decode_any)

    def lock(self, key: str, *, ttl: float | timedelta = 10.0, wait: bool = True, timeout: float | None = None) -> Lock:
        """An exclusive lock on ``key`` (see ``Bucket.lock``; its value names the holder, not a ``T``)."""
        return self.raw.lock(key, ttl=ttl, wait=wait, timeout=timeout)

    # -- dict-style access (see Bucket) -----------------------------------------------------------

    def __getitem__(self, key: str) -> T:
        """The key's latest value, decoded; KeyError (KeyNotFoundError) when it is missing, deleted or expired."""
        return self.decode(self.raw.get(key)).value

    def __setitem__(self, key: str, value: T) -> None:
        """Put ``value``."""
        self.raw.put(key, self.encode(value))

    def __delitem__(self, key: str) -> None:
        """Delete the key (a DEL marker); KeyError when it is missing, deleted or expired."""
        del self.raw[key]

    def __contains__(self, key: object) -> bool:
        """Whether the key has a live value."""
        return key in self.raw

    def __len__(self) -> int:
        """How many live keys the bucket holds (from the counters: O(1) on a file store)."""
        return len(self.raw)

    def __iter__(self) -> Iterator[str]:
        """The live keys in key order, read page by page."""
        return iter(self.raw)

    def __bool__(self) -> bool:
        """Always true: a handle is a handle, even on an empty bucket (truth costs no read)."""
        return True


class _TypedWatcherFacts(Generic[W]):
    """What both typed watchers share: the untyped watcher, the decoder, and the facts read from the former."""

    __slots__ = ("_convert", "raw")

    def __init__(self, raw: W, convert: Any) -> None:
        self.raw: W = raw
        """The untyped watcher (entries with bytes)."""
        self._convert = convert

    @property
    def initial_done(self) -> bool:
        """True once every initial entry has been taken (see ``AsyncWatcher.initial_done``)."""
        return self.raw.initial_done

    @property
    def last_revision(self) -> int:
        """The highest revision this watcher has considered so far (see ``AsyncWatcher.last_revision``)."""
        return self.raw.last_revision

    @property
    def gaps(self) -> int:
        """Revisions this watcher can never see (see ``AsyncWatcher.gaps``)."""
        return self.raw.gaps


class AsyncTypedWatcher(_TypedWatcherFacts[AsyncWatcher], Generic[T]):
    """An :class:`AsyncWatcher` whose entries carry decoded values (None for markers and ``meta_only``)."""

    __slots__ = ()

    async def start(self) -> None:
        """Subscribe and load the initial entries (``async with`` does it)."""
        await self.raw.start()

    async def initial(self) -> list[Entry[T | None]]:
        """Take the initial entries not yet taken, values decoded."""
        convert = self._convert
        return [convert(entry) for entry in await self.raw.initial()]

    def close(self) -> None:
        """Stop watching (idempotent); iteration then ends."""
        self.raw.close()

    async def aclose(self) -> None:
        """Stop watching and wait until the backend let go (idempotent)."""
        await self.raw.aclose()

    async def __aenter__(self) -> AsyncTypedWatcher[T]:
        await self.raw.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.raw.aclose()

    def __aiter__(self) -> AsyncTypedWatcher[T]:
        return self

    async def __anext__(self) -> Entry[T | None]:
        """The next entry, its value decoded; StopAsyncIteration once closed."""
        entry: Entry[T | None] = self._convert(await self.raw.__anext__())
        return entry


class TypedWatcher(_TypedWatcherFacts[Watcher], Generic[T]):
    """A :class:`Watcher` whose entries carry decoded values (None for markers and ``meta_only``)."""

    __slots__ = ()

    def start(self) -> TypedWatcher[T]:
        """Subscribe and load the initial entries (``with`` does it)."""
        self.raw.start()
        return self

    def initial(self) -> list[Entry[T | None]]:
        """Take the initial entries not yet taken, values decoded."""
        convert = self._convert
        return [convert(entry) for entry in self.raw.initial()]

    def close(self) -> None:
        """Stop watching (idempotent); iteration then ends."""
        self.raw.close()

    def __enter__(self) -> TypedWatcher[T]:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.raw.close()

    def __iter__(self) -> Iterator[Entry[T | None]]:
        return self

    def __next__(self) -> Entry[T | None]:
        """The next entry, its value decoded, waiting up to the watch's ``timeout``; else StopIteration."""
        entry: Entry[T | None] = self._convert(next(self.raw))
        return entry

    def next(self, timeout: float | None = None) -> Entry[T | None] | None:
        """The next entry, waiting up to ``timeout`` seconds; None if none came or closed."""
        entry = self.raw.next(timeout)
        return None if entry is None else self._convert(entry)

    def poll(self) -> list[Entry[T | None]]:
        """Every entry available now, values decoded, without blocking."""
        convert = self._convert
        return [convert(entry) for entry in self.raw.poll()]
