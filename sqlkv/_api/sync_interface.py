"""The synchronous interface: ``Store``, ``Bucket`` and ``Watcher`` for desktop code, scripts and GUI threads.

The twin of ``async_interface``, method for method: the same names,
arguments, checks, entries, errors and semantics, without ``await``. Each
method's docstring *is* its async twin's (see :func:`twin`), and
``tests/test_interface.py`` checks that every signature matches, so the twins
cannot drift. Only the watcher has sync-only parts: a ``timeout``, ``next()``
and a non-blocking ``poll()`` for GUI timers.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import timedelta
from types import TracebackType

from .._model.config import BucketConfig
from .._model.entry import BucketStatus, Entry, Operation
from .._model.errors import KeyNotFoundError, StoreBusyError, WrongLastRevisionError
from .._model.validate import check_bucket_name, check_key, check_revision
from .._model.watch_options import WatchOptions
from . import arguments, registry
from .arguments import UNSET, ImportRow, Unset
from .async_interface import AsyncBucket, AsyncStore, AsyncWatcher
from .lifecycle import State
from .locks import Lock
from .transaction import Step, Transaction, check_increment

__all__ = ["Bucket", "Store", "Watcher", "sync_doc"]

TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing at run time: a command starts sooner)
if TYPE_CHECKING:
    from typing import Any, TypeVar, overload

    from .._model.codecs import Codec
    from .._model.replica import ConflictPolicy, ReplicaStatus
    from .replica_interface import Replica
    from .typed import TypedBucket

    F = TypeVar("F", bound=Callable[..., Any])
    T = TypeVar("T")
    D = TypeVar("D")

_ASYNC_WORDS = (
    ("``async with ", "``with "),
    ("async with ", "with "),
    ("``async for ", "``for "),
    ("async for ", "for "),
    ("await ", ""),
    ("AsyncStore", "Store"),
    ("AsyncBucket", "Bucket"),
    ("AsyncWatcher", "Watcher"),
    ("AsyncLock", "Lock"),
    ("AsyncReplica", "Replica"),
    ("AsyncTypedBucket", "TypedBucket"),
    ("asyncio and trio code", "threads"),
    ("aclose()", "close()"),
    ("StopAsyncIteration", "StopIteration"),
)


def sync_doc(doc: str | None) -> str:
    """An async docstring in sync words (``async with`` -> ``with``, ``await x`` -> ``x``...)."""
    text = doc or ""
    for async_words, sync_words in _ASYNC_WORDS:
        text = text.replace(async_words, sync_words)
    return text


def twin(async_method: Any, extra: str = "") -> Callable[[F], F]:
    """Give a sync method its async twin's docstring (in sync words), plus ``extra``."""

    source = getattr(async_method, "fget", async_method)  # a property: its getter's docstring

    def decorate(method: F) -> F:
        method.__doc__ = sync_doc(getattr(source, "__doc__", None)) + extra
        return method

    return decorate


class Store:
    """A sqlkv store for threads and scripts: ``with Store(path) as store``.

    ``Store(path)`` opens buckets in one SQLite file (created if needed, mode
    0600, schema migrations applied). Open it with ``with`` (or
    ``store.open()`` and later ``store.close()``). It takes the options of a
    file ``AsyncStore`` — ``durability``, ``busy_timeout``, ``poll_interval``,
    ``clock``, ``auto_sweep``, ``read_only``, with the same meanings and
    defaults — but not ``inline``: every operation runs on the calling thread.
    A NATS server needs ``AsyncStore`` (UnsupportedError here).

    A Store is thread-safe, needs no event loop and suits a GUI thread: a read
    costs tens of microseconds on the calling thread, a write one SQLite commit.
    """

    _state: State = State.UNOPENED

    backend: str | None = None

    def __new__(cls, location: Any, *args: Any, **options: Any) -> Store:
        if cls.backend is None:
            cls = registry.sync_store_class(cls, location)
        return super().__new__(cls)

    def __repr__(self) -> str:
        return f"<Store {self.path!r} {self._state.value}>"

    @twin(AsyncStore.open)
    def open(self) -> Store:
        raise NotImplementedError

    @twin(AsyncStore.aclose)
    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Store:
        return self.open()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    @twin(AsyncStore.closed)
    def closed(self) -> bool:
        return self._state is State.CLOSED

    @property
    @twin(AsyncStore.path)
    def path(self) -> str:
        raise NotImplementedError

    @property
    @twin(AsyncStore.durability)
    def durability(self) -> str:
        raise NotImplementedError

    @property
    @twin(AsyncStore.read_only)
    def read_only(self) -> bool:
        raise NotImplementedError

    @property
    @twin(AsyncStore.schema_version)
    def schema_version(self) -> int:
        raise NotImplementedError

    if TYPE_CHECKING:

        @overload
        def create_bucket(
            self,
            name: str,
            *,
            history: int = 1,
            ttl: float | timedelta | None = None,
            max_value_size: int | None = None,
            max_bytes: int | None = None,
            description: str | None = None,
            metadata: Mapping[str, str] | None = None,
            marker_ttl: float | timedelta | None = None,
            codec: None = None,
        ) -> Bucket: ...

        @overload
        def create_bucket(
            self,
            name: str,
            *,
            history: int = 1,
            ttl: float | timedelta | None = None,
            max_value_size: int | None = None,
            max_bytes: int | None = None,
            description: str | None = None,
            metadata: Mapping[str, str] | None = None,
            marker_ttl: float | timedelta | None = None,
            codec: Codec[T],
        ) -> TypedBucket[T]: ...

    @twin(AsyncStore.create_bucket)
    def create_bucket(
        self,
        name: str,
        *,
        history: int = 1,
        ttl: float | timedelta | None = None,
        max_value_size: int | None = None,
        max_bytes: int | None = None,
        description: str | None = None,
        metadata: Mapping[str, str] | None = None,
        marker_ttl: float | timedelta | None = None,
        codec: Codec[Any] | None = None,
    ) -> Bucket | TypedBucket[Any]:
        config = arguments.bucket_config(
            name, history, ttl, max_value_size, max_bytes, description, metadata, marker_ttl
        )
        if codec is None:
            return self._create_bucket(name, config)
        typed: TypedBucket[Any] = registry.typed_entry("create_sync")(
            self._create_bucket, self._bucket, name, config, codec
        )
        return typed

    @twin(AsyncStore.update_bucket)
    def update_bucket(
        self,
        name: str,
        *,
        history: int | Unset = UNSET,
        ttl: float | timedelta | Unset | None = UNSET,
        max_value_size: int | Unset | None = UNSET,
        max_bytes: int | Unset | None = UNSET,
        description: str | Unset | None = UNSET,
        metadata: Mapping[str, str] | Unset | None = UNSET,
        marker_ttl: float | timedelta | Unset | None = UNSET,
    ) -> Bucket:
        changes = arguments.bucket_changes(
            name,
            history=history,
            ttl=ttl,
            max_value_size=max_value_size,
            max_bytes=max_bytes,
            description=description,
            metadata=metadata,
            marker_ttl=marker_ttl,
        )
        return self._update_bucket(name, changes)

    if TYPE_CHECKING:

        @overload
        def bucket(self, name: str, *, codec: None = None) -> Bucket: ...

        @overload
        def bucket(self, name: str, *, codec: Codec[T]) -> TypedBucket[T]: ...

    @twin(AsyncStore.bucket)
    def bucket(self, name: str, *, codec: Codec[Any] | None = None) -> Bucket | TypedBucket[Any]:
        check_bucket_name(name)
        if codec is None:
            return self._bucket(name)
        typed: TypedBucket[Any] = registry.typed_entry("open_sync")(self._bucket, name, codec)
        return typed

    @twin(AsyncStore.bucket_names)
    def bucket_names(self) -> list[str]:
        raise NotImplementedError

    @twin(AsyncStore.delete_bucket)
    def delete_bucket(self, name: str) -> None:
        check_bucket_name(name)
        self._delete_bucket(name)

    @twin(AsyncStore.sweep)
    def sweep(self) -> int:
        raise NotImplementedError

    @twin(AsyncStore.backup)
    def backup(self, path: str, *, overwrite: bool = False) -> int:
        return self._backup(arguments.path_arg(path), bool(overwrite))

    @twin(AsyncStore.replicate)
    def replicate(
        self,
        bucket: str,
        url: str,
        *,
        mode: str = "mirror",
        remote_bucket: str | None = None,
        resync: bool = False,
        conflict: ConflictPolicy = "remote",
        attach_offline: bool = False,
        **nats_options: Any,
    ) -> Replica:
        check_bucket_name(bucket)
        if remote_bucket is not None:
            check_bucket_name(remote_bucket)
        return self._replicate(
            bucket, url, mode, remote_bucket or bucket, bool(resync), conflict, bool(attach_offline), nats_options
        )

    @twin(AsyncStore.replica_status)
    def replica_status(self, bucket: str) -> ReplicaStatus | None:
        check_bucket_name(bucket)
        return self._replica_status(bucket)

    @twin(AsyncStore.detach_replica)
    def detach_replica(self, bucket: str, *, force: bool = False) -> int:
        check_bucket_name(bucket)
        return self._detach_replica(bucket, bool(force))

    @twin(AsyncStore.atomic)
    def atomic(self) -> Transaction:
        return Transaction(self._atomic)

    def _replicate(
        self,
        bucket: str,
        url: str,
        mode: str,
        remote_bucket: str,
        resync: bool,
        conflict: ConflictPolicy,
        attach_offline: bool,
        nats_options: dict[str, Any],
    ) -> Replica:
        from .._model.errors import UnsupportedError

        raise UnsupportedError("replicate() needs a file store: a nats:// store is the remote side")

    def _replica_status(self, bucket: str) -> ReplicaStatus | None:
        from .._model.errors import UnsupportedError

        raise UnsupportedError("replica_status() needs a file store")

    def _detach_replica(self, bucket: str, force: bool) -> int:
        from .._model.errors import UnsupportedError

        raise UnsupportedError("detach_replica() needs a file store")

    def _atomic(self, checks: list[Step], mutations: list[Step]) -> list[int]:
        raise NotImplementedError

    def _create_bucket(self, name: str, config: BucketConfig) -> Bucket:
        raise NotImplementedError

    def _update_bucket(self, name: str, changes: dict[str, object]) -> Bucket:
        raise NotImplementedError

    def _bucket(self, name: str) -> Bucket:
        raise NotImplementedError

    def _delete_bucket(self, name: str) -> None:
        raise NotImplementedError

    def _backup(self, path: str, overwrite: bool) -> int:
        raise NotImplementedError


_DELETE_ATTEMPTS = 100
"""``del kv[key]`` retries its compare-and-set delete this often while other writers change the key."""


class Bucket(abc.ABC):
    __doc__ = (
        sync_doc(AsyncBucket.__doc__)
        + """
    Also dict-style access (sync only): ``kv[key]`` (the latest value;
    KeyError when missing, deleted or expired), ``kv[key] = value``, ``del
    kv[key]`` (KeyError when missing), ``key in kv``, ``len(kv)`` (live keys)
    and ``iter(kv)`` (live keys in key order). ``get`` and ``keys`` keep their
    KV meaning (an Entry; a sorted list): ``kv.value(key, default)`` is the
    dict's ``get``. A handle is always true.
    """
    )

    __slots__ = ()

    config: BucketConfig

    @property
    @abc.abstractmethod
    @twin(AsyncBucket.name)
    def name(self) -> str: ...

    def __repr__(self) -> str:
        return f"<Bucket {self.name!r} history={self.config.history}>"

    @twin(AsyncBucket.put)
    def put(self, key: str, value: bytes | str, *, ttl: float | timedelta | None = None) -> int:
        key, data, seconds = arguments.value_args(key, value, ttl)
        return self._put(key, data, seconds)

    @twin(AsyncBucket.create)
    def create(self, key: str, value: bytes | str, *, ttl: float | timedelta | None = None) -> int:
        key, data, seconds = arguments.value_args(key, value, ttl)
        return self._create(key, data, seconds)

    @twin(AsyncBucket.update)
    def update(self, key: str, value: bytes | str, last: int, *, ttl: float | timedelta | None = None) -> int:
        key, data, seconds = arguments.value_args(key, value, ttl)
        last = check_revision(last, name="last", minimum=0)
        return self._update(key, data, last, seconds)

    @twin(AsyncBucket.delete)
    def delete(self, key: str, *, last: int | None = None) -> int:
        key, last = arguments.marker_args(key, last)
        return self._marker(key, Operation.DEL, last)

    @twin(AsyncBucket.purge)
    def purge(self, key: str, *, last: int | None = None, ttl: float | timedelta | None = None) -> int:
        key, last, seconds = arguments.purge_args(key, last, ttl)
        return self._marker(key, Operation.PURGE, last, seconds)

    @twin(AsyncBucket.incr)
    def incr(self, key: str, by: int = 1, *, ttl: float | timedelta | None = None) -> int:
        key = check_key(key)
        by = check_increment(by)
        _, value = self._incr(key, by, arguments.ttl_seconds(ttl))
        return value

    @twin(AsyncBucket.touch)
    def touch(self, key: str, ttl: float | timedelta | None) -> int:
        return self._touch(check_key(key), arguments.ttl_seconds(ttl))

    @twin(AsyncBucket.get)
    def get(self, key: str, *, revision: int | None = None) -> Entry:
        check_key(key)
        if revision is not None:
            check_revision(revision)
        return self._get(key, revision)

    if TYPE_CHECKING:

        @overload
        def value(self, key: str) -> bytes | None: ...

        @overload
        def value(self, key: str, default: D) -> bytes | D: ...

    @twin(AsyncBucket.value)
    def value(self, key: str, default: Any = None) -> Any:
        try:
            entry = self.get(key)
        except KeyNotFoundError:
            return default
        return entry.value

    @twin(AsyncBucket.history)
    def history(self, key: str) -> list[Entry]:
        return self._history(check_key(key))

    @twin(AsyncBucket.keys)
    def keys(self, *filters: str) -> list[str]:
        return self._keys(WatchOptions.make(filters))

    @twin(AsyncBucket.entries)
    def entries(
        self,
        *filters: str,
        start: str | None = None,
        end: str | None = None,
        limit: int | None = None,
        reverse: bool = False,
    ) -> Iterator[Entry]:
        options = WatchOptions.make(filters)
        return self._scan(options, *arguments.scan_args(start, end, limit, reverse), True)

    @twin(AsyncBucket.iter_keys)
    def iter_keys(
        self,
        *filters: str,
        start: str | None = None,
        end: str | None = None,
        limit: int | None = None,
        reverse: bool = False,
    ) -> Iterator[str]:
        options = WatchOptions.make(filters)
        return self._scan(options, *arguments.scan_args(start, end, limit, reverse), False)

    @twin(AsyncBucket.get_many)
    def get_many(self, keys: Iterable[str]) -> dict[str, Entry]:
        return self._get_many(arguments.many_keys(keys))

    @twin(AsyncBucket.purge_deletes)
    def purge_deletes(self, *, older_than: float | timedelta | None = None) -> int:
        return self._purge_deletes(arguments.older_than_seconds(older_than))

    @twin(AsyncBucket.status)
    def status(self) -> BucketStatus:
        return self._status()

    @twin(
        AsyncBucket.watch,
        extra="""
        ``timeout`` (sync only) ends the iteration when no entry came for that
        many seconds (None: wait for ever). For a GUI main loop, call
        ``watcher.poll()`` from a timer instead: it never blocks.
        """,
    )
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
    ) -> Watcher:
        options = WatchOptions.make(
            filters,
            include_history=include_history,
            ignore_deletes=ignore_deletes,
            meta_only=meta_only,
            updates_only=updates_only,
            from_revision=from_revision,
            buffer_size=buffer_size,
            on_gap=on_gap,
        )
        return self._watch(options, arguments.check_timeout(timeout))

    @twin(AsyncBucket.lock)
    def lock(self, key: str, *, ttl: float | timedelta = 10.0, wait: bool = True, timeout: float | None = None) -> Lock:
        return Lock(self, *arguments.lock_args(key, ttl, wait, timeout))

    @twin(AsyncBucket.import_entries)
    def import_entries(self, entries: Iterable[Entry]) -> int:
        return self._import_entries(arguments.import_rows(entries))

    # -- dict-style access (sync only) ----------------------------------------------------------
    # As collections.abc.MutableMapping where NATS semantics allow: get() and keys() keep their KV meaning
    # (an Entry; a sorted list with filters), so the class is not registered as a MutableMapping.

    def __getitem__(self, key: str) -> bytes:
        """``kv[key]``: the key's latest value; KeyError (KeyNotFoundError) when missing, deleted or expired."""
        return self.get(key).value

    def __setitem__(self, key: str, value: bytes | str) -> None:
        """``kv[key] = value``: put."""
        self.put(key, value)

    def __delitem__(self, key: str) -> None:
        """``del kv[key]``: a compare-and-set delete (a DEL marker) of a live key; KeyError when there is none."""
        for _ in range(_DELETE_ATTEMPTS):
            entry = self.get(key)  # KeyNotFoundError (a KeyError) when missing, deleted or expired
            try:
                self.delete(key, last=entry.revision)
            except WrongLastRevisionError:
                continue  # written meanwhile: look again
            return
        raise StoreBusyError(f"del kv[{key!r}]: the key changed under each of {_DELETE_ATTEMPTS} attempts")

    def __contains__(self, key: object) -> bool:
        """``key in kv``: whether the key has a live value (not missing, deleted or expired)."""
        try:
            self.get(key)  # type: ignore[arg-type]  # checked there: InvalidKeyError for a non-key
        except KeyNotFoundError:
            return False
        return True

    def __len__(self) -> int:
        """``len(kv)``: how many live keys the bucket holds (``status().keys``: O(1) counters)."""
        return self.status().keys

    def __iter__(self) -> Iterator[str]:
        """``iter(kv)``: the live keys in key order, read page by page (``iter_keys()``)."""
        return self.iter_keys()

    def __bool__(self) -> bool:
        """Always true, even for an empty bucket (as sqlitedict): a truth test costs no read."""
        return True

    @abc.abstractmethod
    def _put(self, key: str, data: bytes, ttl: float | None) -> int: ...

    @abc.abstractmethod
    def _create(self, key: str, data: bytes, ttl: float | None) -> int: ...

    @abc.abstractmethod
    def _update(self, key: str, data: bytes, last: int, ttl: float | None) -> int: ...

    @abc.abstractmethod
    def _marker(self, key: str, op: Operation, last: int | None, ttl: float | None = None) -> int: ...

    @abc.abstractmethod
    def _incr(self, key: str, by: int, ttl: float | None) -> tuple[int, int]: ...

    @abc.abstractmethod
    def _touch(self, key: str, ttl: float | None) -> int: ...

    @abc.abstractmethod
    def _scan(
        self, options: WatchOptions, start: str, end: str | None, limit: int | None, reverse: bool, values: bool
    ) -> Iterator[Any]: ...

    @abc.abstractmethod
    def _get_many(self, keys: list[str]) -> dict[str, Entry]: ...

    @abc.abstractmethod
    def _get(self, key: str, revision: int | None) -> Entry: ...

    @abc.abstractmethod
    def _history(self, key: str) -> list[Entry]: ...

    @abc.abstractmethod
    def _keys(self, options: WatchOptions) -> list[str]: ...

    @abc.abstractmethod
    def _purge_deletes(self, older_than: float) -> int: ...

    @abc.abstractmethod
    def _status(self) -> BucketStatus: ...

    @abc.abstractmethod
    def _watch(self, options: WatchOptions, timeout: float | None) -> Watcher: ...

    @abc.abstractmethod
    def _import_entries(self, rows: list[ImportRow]) -> int: ...


class Watcher(abc.ABC):
    __doc__ = (
        sync_doc(AsyncWatcher.__doc__)
        + """
    Also a non-blocking ``poll()`` for GUI timers, and ``next(timeout)``.
    """
    )

    @property
    @abc.abstractmethod
    @twin(AsyncWatcher.initial_done)
    def initial_done(self) -> bool: ...

    @property
    @abc.abstractmethod
    @twin(AsyncWatcher.last_revision)
    def last_revision(self) -> int: ...

    @property
    @abc.abstractmethod
    @twin(AsyncWatcher.gaps)
    def gaps(self) -> int: ...

    @abc.abstractmethod
    @twin(AsyncWatcher.start)
    def start(self) -> Watcher: ...

    @abc.abstractmethod
    @twin(AsyncWatcher.initial)
    def initial(self) -> list[Entry]: ...

    @abc.abstractmethod
    @twin(AsyncWatcher.close)
    def close(self) -> None: ...

    def __enter__(self) -> Watcher:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __iter__(self) -> Iterator[Entry]:
        return self

    def __next__(self) -> Entry:
        """The next entry (initial ones first), waiting up to the watch's ``timeout``; else StopIteration."""
        entry = self.next(self._iteration_timeout())
        if entry is None:
            raise StopIteration
        return entry

    def _iteration_timeout(self) -> float | None:
        return None

    @abc.abstractmethod
    def next(self, timeout: float | None = None) -> Entry | None:
        """The next entry, waiting up to ``timeout`` seconds (None: for ever); None if none came or closed."""

    @abc.abstractmethod
    def poll(self) -> list[Entry]:
        """Every entry available now, without blocking (catching up from the table if needed): for GUI timers."""
