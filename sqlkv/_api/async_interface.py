"""The async interface: ``AsyncStore``, ``AsyncBucket`` and ``AsyncWatcher``, whatever the backend.

Each public method is written here once: its signature, its docstring and its
argument checks (``arguments``); it then calls one abstract ``_method`` that
an implementation provides (SQLite in ``sqlite/``, NATS in ``sqlkv._backends.nats``).
``AsyncStore(location)`` returns the implementation its location names (see
``registry``), so ``isinstance(store, sqlkv.AsyncStore)`` holds for every backend.

(Over 400 lines, and on purpose: this is the whole public async API, every
signature and docstring, in the one place users and implementers read it.)
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping
from datetime import timedelta
from types import TracebackType

from .._model.config import BucketConfig
from .._model.entry import BucketStatus, Entry, Operation
from .._model.errors import KeyNotFoundError
from .._model.validate import check_bucket_name, check_key, check_revision
from .._model.watch_options import WatchOptions
from . import arguments, registry
from .arguments import UNSET, ImportRow, Unset
from .lifecycle import State
from .locks import AsyncLock
from .transaction import AsyncTransaction, Step, check_increment

TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing at run time: a command starts sooner)
if TYPE_CHECKING:
    from typing import Any, TypeVar, overload

    from .._model.codecs import Codec
    from .._model.replica import ConflictPolicy, ReplicaStatus
    from .replica_interface import AsyncReplica
    from .typed import AsyncTypedBucket

    T = TypeVar("T")
    D = TypeVar("D")

__all__ = ["AsyncBucket", "AsyncStore", "AsyncWatcher"]


class AsyncStore:
    """A sqlkv store for asyncio and trio code: ``async with AsyncStore(path) as store``.

    ``AsyncStore(path)`` opens buckets in one SQLite file (created if needed,
    mode 0600, schema migrations applied); ``AsyncStore("nats://host:4222")``
    gives the same API on a NATS JetStream server (needs nats-py; see
    docs/semantics.md). Open it with ``async with`` (or ``await store.open()``
    and later ``await store.aclose()``).

    Options of a file store: ``durability="normal"`` (WAL,
    ``synchronous=NORMAL``) survives a crash of the process, a power loss may
    lose the last commits; ``"full"`` syncs the WAL on every commit (group
    commit shares one sync among the writes of a batch). ``busy_timeout``
    bounds how long a write waits for another process's lock before
    StoreBusyError. ``poll_interval`` is how often watchers look for commits
    made by other processes (commits through this store reach them at once).
    ``clock`` (nanoseconds since the epoch, default ``time.time_ns``) stamps
    entries and decides expiry: tests can drive time. ``auto_sweep=False``
    turns the background sweeper off (expired entries are still never
    returned; ``await store.sweep()`` removes them). ``read_only=True`` opens an
    existing store without ever writing the file: reads and watches work,
    every write raises StorageError. ``inline=True`` (the default) lets a lone
    small operation (a get, or a write of one key with a value up to 16 KiB)
    run on the event loop's thread while the database thread is idle, instead
    of paying a thread hop: it holds the loop for the operation's SQL (tens of
    microseconds) and never waits there on another process's lock.
    ``inline=False`` sends every operation to the database threads.
    """

    _state: State = State.UNOPENED

    backend: str | None = None
    """The implementation's name (``"file"``, ``"nats"``); None on the interface and a user's subclass of it."""

    def __new__(cls, location: Any, *args: Any, **options: Any) -> AsyncStore:
        if cls.backend is None:
            cls = registry.async_store_class(cls, location)
        return super().__new__(cls)

    def __repr__(self) -> str:
        return f"<AsyncStore {self.path!r} {self._state.value}>"

    # -- life ------------------------------------------------------------------------------------

    async def open(self) -> AsyncStore:
        """Open the store (start its threads, or connect to the server) and return it; a store opens once."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Finish queued operations, end every watcher and close everything the store opened (idempotent)."""
        raise NotImplementedError

    def close_nowait(self) -> None:
        """Close without an event loop and without waiting (e.g. after the loop ended): later calls fail.

        Operations already queued still run; prefer ``aclose()`` where you can.
        """
        raise NotImplementedError

    async def __aenter__(self) -> AsyncStore:
        return await self.open()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    @property
    def closed(self) -> bool:
        """Whether the store was closed (a store that was never opened is not closed)."""
        return self._state is State.CLOSED

    @property
    def path(self) -> str:
        """The database file (or the server URLs)."""
        raise NotImplementedError

    @property
    def durability(self) -> str:
        """``"normal"`` or ``"full"`` (``"nats"``: the server's)."""
        raise NotImplementedError

    @property
    def read_only(self) -> bool:
        """Whether the store was opened read-only (it never writes the file)."""
        raise NotImplementedError

    @property
    def inline(self) -> bool:
        """Whether lone small operations may run on the event loop's thread (see the class docstring)."""
        raise NotImplementedError

    @property
    def schema_version(self) -> int:
        """The schema version of the file (the number of migrations applied); UnsupportedError on NATS."""
        raise NotImplementedError

    # -- buckets ---------------------------------------------------------------------------------

    _codec_in_metadata = True
    """Whether a typed bucket's codec is recorded in the bucket's metadata (not where metadata is refused: NATS)."""

    if TYPE_CHECKING:

        @overload
        async def create_bucket(
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
        ) -> AsyncBucket: ...

        @overload
        async def create_bucket(
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
        ) -> AsyncTypedBucket[T]: ...

    async def create_bucket(
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
    ) -> AsyncBucket | AsyncTypedBucket[Any]:
        """Create a bucket, or return it if it exists with the same configuration.

        A bucket of that name with another configuration raises
        BucketExistsError. ``history`` (1-64) is how many revisions each key
        keeps, delete and purge markers included; ``ttl`` (seconds or a
        timedelta) the maximum age of every entry; ``max_value_size`` and
        ``max_bytes`` limit a value and the whole bucket; ``marker_ttl`` how
        long the marker an expiry leaves lives (see BucketConfig).
        With ``codec`` (``sqlkv.codecs``) the handle is a typed bucket whose
        values are the codec's objects; the codec's name is recorded in the
        bucket's metadata (``sqlkv.codec``; not on NATS), so that opening it
        with another codec raises CodecMismatchError.
        """
        config = arguments.bucket_config(
            name, history, ttl, max_value_size, max_bytes, description, metadata, marker_ttl
        )
        if codec is None:
            return await self._create_bucket(name, config)
        typed: AsyncTypedBucket[Any] = await registry.typed_entry("create_async")(
            self._create_bucket, self._bucket, self._codec_in_metadata, name, config, codec
        )
        return typed

    async def update_bucket(
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
    ) -> AsyncBucket:
        """Change the given settings of bucket ``name`` (the others stay) and return the bucket.

        A smaller ``history`` trims every key at once; a new ``ttl`` applies to
        existing entries at once; ``None`` removes a limit. BucketNotFoundError
        if there is no such bucket.
        """
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
        return await self._update_bucket(name, changes)

    if TYPE_CHECKING:

        @overload
        async def bucket(self, name: str, *, codec: None = None) -> AsyncBucket: ...

        @overload
        async def bucket(self, name: str, *, codec: Codec[T]) -> AsyncTypedBucket[T]: ...

    async def bucket(self, name: str, *, codec: Codec[Any] | None = None) -> AsyncBucket | AsyncTypedBucket[Any]:
        """The existing bucket ``name``; BucketNotFoundError if there is none.

        With ``codec``, a typed bucket (see create_bucket); CodecMismatchError
        if the bucket records another codec. Without, the bytes of any bucket.
        """
        check_bucket_name(name)
        if codec is None:
            return await self._bucket(name)
        typed: AsyncTypedBucket[Any] = await registry.typed_entry("open_async")(self._bucket, name, codec)
        return typed

    async def bucket_names(self) -> list[str]:
        """Names of every bucket, sorted."""
        raise NotImplementedError

    async def delete_bucket(self, name: str) -> None:
        """Delete bucket ``name`` and all its data; BucketNotFoundError if there is none."""
        check_bucket_name(name)
        await self._delete_bucket(name)

    async def sweep(self) -> int:
        """Remove every expired entry now (the sweeper does it on its own); return how many keys expired.

        Each batch is one short write transaction; watchers receive an EXPIRE
        entry for every key whose value expired.
        """
        raise NotImplementedError

    async def backup(self, path: str, *, overwrite: bool = False) -> int:
        """Copy the store to a new file ``path`` as one consistent snapshot, while others write; return its pages.

        The copy holds every write acknowledged before the backup started, is
        private (0600) and opens as a store. ``overwrite=True`` replaces an
        existing file. UnsupportedError on NATS.
        """
        return await self._backup(arguments.path_arg(path), bool(overwrite))

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
    ) -> AsyncReplica:
        """Make bucket ``bucket`` follow the NATS KV bucket ``remote_bucket`` (default: the same name) at ``url``.

        ``async with store.replicate("config", "nats://hub:4222") as rep: await rep.synced()``.
        ``mode="mirror"``: a read-only copy with the remote's revisions, operations,
        history and times (local writes raise ReplicaReadOnlyError). ``mode="sync"``:
        local writes are accepted (also offline) and sent up as CAS writes; a
        conflict is settled by ``conflict`` (``"remote"``, ``"local"`` or a callable
        ``(key, local_entry, remote_entry) -> "local" | "remote"``) and recorded.
        The bucket is created (with the remote's history) if missing; it
        becomes a replica once a session with the hub has succeeded (the hub
        answered and has the bucket), or at once with ``attach_offline=True``;
        until then a mistyped URL changes nothing (``rep.status().last_error``
        says why it fails). A remote bucket that was deleted and re-created
        raises ReplicaError from ``synced()``, or is copied afresh with
        ``resync=True``. Other keyword arguments go to ``nats.connect``.
        UnsupportedError on NATS.
        """
        check_bucket_name(bucket)
        if remote_bucket is not None:
            check_bucket_name(remote_bucket)
        return self._replicate(
            bucket, url, mode, remote_bucket or bucket, bool(resync), conflict, bool(attach_offline), nats_options
        )

    async def replica_status(self, bucket: str) -> ReplicaStatus | None:
        """The stored state of bucket ``bucket``'s replica (as its last run left it), or None if it is none.

        For another process's replica (``sqlkv kv info``): ``connected`` is
        false and ``lag`` is what it last knew. UnsupportedError on NATS.
        """
        check_bucket_name(bucket)
        return await self._replica_status(bucket)

    async def detach_replica(self, bucket: str, *, force: bool = False) -> int:
        """Make replica bucket ``bucket`` a plain local bucket again, its entries kept; return the writes dropped.

        Its replica state, queued writes and recorded conflicts go; local writes
        are accepted again and nothing is sent anywhere. A sync replica with
        local writes not yet sent up raises ReplicaError saying how many, unless
        ``force=True`` (they are dropped; their values stay local). A replica of
        the bucket still running stops with ReplicaError. A bucket that is no
        replica is left as it is (-1). UnsupportedError on NATS.
        """
        check_bucket_name(bucket)
        return await self._detach_replica(bucket, bool(force))

    def atomic(self) -> AsyncTransaction:
        """An atomic transaction across any buckets of this store: ``async with store.atomic() as tx:``.

        Inside the block, ``tx.check(bucket, key, last=rev)``, ``tx.put``,
        ``tx.create``, ``tx.update``, ``tx.delete``, ``tx.purge`` and
        ``tx.incr`` (each as the bucket's own method, with the bucket first)
        only record. At a clean exit every check is evaluated against the
        state before any mutation, then the mutations apply in order: all or
        nothing, serialisable with every other write, from any process. A
        failing check raises AtomicCheckError listing every failing check; a
        mutation refused by its own rule raises that rule's error, naming the
        mutation (``error.mutation`` is its index). ``tx.revisions`` then holds
        each mutation's revision; watchers see the mutations in revision order,
        none before the commit. At most 1,000 checks and mutations
        (TransactionTooLargeError). On NATS: one bucket's puts, creates,
        updates, deletes and purges, as the server's atomic batch.
        """
        return AsyncTransaction(self._atomic)

    # -- what an implementation provides ---------------------------------------------------------

    async def _atomic(self, checks: list[Step], mutations: list[Step]) -> list[int]:
        raise NotImplementedError

    async def _create_bucket(self, name: str, config: BucketConfig) -> AsyncBucket:
        raise NotImplementedError

    async def _update_bucket(self, name: str, changes: dict[str, object]) -> AsyncBucket:
        raise NotImplementedError

    async def _bucket(self, name: str) -> AsyncBucket:
        raise NotImplementedError

    async def _delete_bucket(self, name: str) -> None:
        raise NotImplementedError

    async def _backup(self, path: str, overwrite: bool) -> int:
        raise NotImplementedError

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
    ) -> AsyncReplica:
        from .._model.errors import UnsupportedError

        raise UnsupportedError("replicate() needs a file store: a nats:// store is the remote side")

    async def _replica_status(self, bucket: str) -> ReplicaStatus | None:
        from .._model.errors import UnsupportedError

        raise UnsupportedError("replica_status() needs a file store")

    async def _detach_replica(self, bucket: str, force: bool) -> int:
        from .._model.errors import UnsupportedError

        raise UnsupportedError("detach_replica() needs a file store")


class AsyncBucket(abc.ABC):
    """A handle on one bucket of an :class:`AsyncStore`.

    Every write returns the new revision once it is committed; every read
    sees every write acknowledged before it started, from any task or process.
    """

    __slots__ = ()

    config: BucketConfig
    """The configuration the bucket had when this handle was made (``status()`` has the current one)."""

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """The bucket's name."""

    def __repr__(self) -> str:
        return f"<AsyncBucket {self.name!r} history={self.config.history}>"

    async def put(self, key: str, value: bytes | str, *, ttl: float | timedelta | None = None) -> int:
        """Store ``value`` as the key's new revision; return the revision.

        With ``ttl`` (seconds or a timedelta) the whole key, history included,
        expires that long from now unless it is written again (a later write
        without ``ttl`` keeps it for good). ``str`` values are stored as UTF-8.
        """
        key, data, seconds = arguments.value_args(key, value, ttl)
        return await self._put(key, data, seconds)

    async def create(self, key: str, value: bytes | str, *, ttl: float | timedelta | None = None) -> int:
        """Put only if the key is absent (or deleted, or expired); else KeyExistsError. ``ttl`` as for put."""
        key, data, seconds = arguments.value_args(key, value, ttl)
        return await self._create(key, data, seconds)

    async def update(self, key: str, value: bytes | str, last: int, *, ttl: float | timedelta | None = None) -> int:
        """Put only if ``last`` is the key's latest revision (0: the key is absent). ``ttl`` as for put.

        Mismatch: WrongLastRevisionError, carrying the expected and actual revision.
        """
        key, data, seconds = arguments.value_args(key, value, ttl)
        last = check_revision(last, name="last", minimum=0)
        return await self._update(key, data, last, seconds)

    async def delete(self, key: str, *, last: int | None = None) -> int:
        """Write a delete marker (history kept); with ``last``, only if it is the latest revision."""
        key, last = arguments.marker_args(key, last)
        return await self._marker(key, Operation.DEL, last)

    async def purge(self, key: str, *, last: int | None = None, ttl: float | timedelta | None = None) -> int:
        """Write a purge marker and drop the key's earlier revisions; ``last`` as for delete.

        With ``ttl`` (seconds or a timedelta) the marker itself expires that long
        after, silently: the key then has no entry at all (NATS's purge TTL).
        """
        key, last, seconds = arguments.purge_args(key, last, ttl)
        return await self._marker(key, Operation.PURGE, last, seconds)

    async def incr(self, key: str, by: int = 1, *, ttl: float | timedelta | None = None) -> int:
        """Add ``by`` to the key's integer value and return the new value, as one write (no retry loop).

        The value is stored as ASCII decimal (``get`` reads ``b"42"``; any NATS
        client can read it), as a new revision; an absent, deleted or expired
        key counts from 0. A value that is not a decimal integer, or a result
        outside the signed 64-bit range, raises NotACounterError and changes
        nothing. ``ttl`` as for put. On NATS: a bounded compare-and-set loop.
        """
        key = check_key(key)
        by = check_increment(by)
        _, value = await self._incr(key, by, arguments.ttl_seconds(ttl))
        return value

    async def touch(self, key: str, ttl: float | timedelta | None) -> int:
        """Move the key's expiry to ``ttl`` from now (None: it no longer expires), writing no new revision.

        The whole key is concerned, as with ``put(..., ttl=)``; the bucket's own
        ``ttl`` still counts from the last write. Returns the key's latest
        revision. KeyNotFoundError if the key is absent or expired,
        KeyDeletedError if it is deleted. UnsupportedError on NATS (its
        deadlines belong to each message).
        """
        return await self._touch(check_key(key), arguments.ttl_seconds(ttl))

    async def get(self, key: str, *, revision: int | None = None) -> Entry:
        """The key's latest value, or the value at ``revision`` if that revision is this key's.

        KeyNotFoundError when there is none (or it expired); KeyDeletedError (a
        subclass) when the entry is a delete or purge marker.
        """
        check_key(key)
        if revision is not None:
            check_revision(revision)
        return await self._get(key, revision)

    if TYPE_CHECKING:

        @overload
        async def value(self, key: str) -> bytes | None: ...

        @overload
        async def value(self, key: str, default: D) -> bytes | D: ...

    async def value(self, key: str, default: Any = None) -> Any:
        """The key's latest value, or ``default`` (None) when it is missing, deleted or expired: no exception."""
        try:
            entry = await self.get(key)
        except KeyNotFoundError:
            return default
        return entry.value

    async def history(self, key: str) -> list[Entry]:
        """Every retained revision of the key, oldest first; KeyNotFoundError if none."""
        return await self._history(check_key(key))

    async def keys(self, *filters: str) -> list[str]:
        """Live keys, sorted, optionally only those matching any of ``filters``.

        Filters use NATS wildcards: ``*`` one token, ``>`` (last) the rest.
        An empty bucket gives ``[]``.
        """
        return await self._keys(WatchOptions.make(filters))

    def entries(
        self,
        *filters: str,
        start: str | None = None,
        end: str | None = None,
        limit: int | None = None,
        reverse: bool = False,
    ) -> AsyncIterator[Entry]:
        """The latest live entry of each key, in key order: ``async for entry in kv.entries("orders.>")``.

        Keys from ``start`` (inclusive) to ``end`` (exclusive), matching any of
        ``filters`` (as for keys()), at most ``limit`` of them, descending with
        ``reverse``. Read page by page: memory stays that of a page (1,000
        entries) whatever the bucket's size; each page is one consistent
        snapshot, and the next resumes after the last key seen, so no key is
        returned twice and a key present throughout is never missed. On NATS
        the whole listing is read first.
        """
        options = WatchOptions.make(filters)
        return self._scan(options, *arguments.scan_args(start, end, limit, reverse), True)

    def iter_keys(
        self,
        *filters: str,
        start: str | None = None,
        end: str | None = None,
        limit: int | None = None,
        reverse: bool = False,
    ) -> AsyncIterator[str]:
        """Live keys in key order, as ``entries()`` reads them (values are not read): for very large buckets."""
        options = WatchOptions.make(filters)
        return self._scan(options, *arguments.scan_args(start, end, limit, reverse), False)

    async def get_many(self, keys: Iterable[str]) -> dict[str, Entry]:
        """The latest entry of each of ``keys``, read from one snapshot, as ``{key: entry}``.

        Absent, deleted and expired keys are left out of the result. On NATS
        the keys are read one by one (not one snapshot).
        """
        return await self._get_many(arguments.many_keys(keys))

    async def purge_deletes(self, *, older_than: float | timedelta | None = None) -> int:
        """Drop the history of deleted keys, and their markers once older than ``older_than``.

        ``older_than`` defaults to 30 minutes (as NATS); ``0`` removes every
        marker. Returns the number of rows removed. Watchers are not notified.
        """
        return await self._purge_deletes(arguments.older_than_seconds(older_than))

    async def status(self) -> BucketStatus:
        """Counts, sizes and configuration of the bucket, as reads see them now (O(1) counters on a file store)."""
        return await self._status()

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
    ) -> AsyncWatcher:
        """A live stream of the bucket's changes: ``async with kv.watch() as w: async for e in w``.

        Initial entries first (latest entry of each matching key; every retained
        entry with ``include_history``; every entry from revision
        ``from_revision`` on; none with ``updates_only``), then live entries, all
        in revision order. ``watcher.initial_done`` / ``await watcher.initial()``
        mark the end of the initial entries. ``ignore_deletes`` drops delete,
        purge and expiry markers; ``meta_only`` leaves values empty. Filters as for keys().
        Revisions the watcher can never see (from ``from_revision`` on, or while it
        lagged: trimmed, purged or expired) are a *gap*: ``on_gap="skip"`` passes
        over them, ``"raise"`` ends the iteration with RevisionGapError after the
        entries before the gap; ``watcher.gaps`` counts them either way.
        """
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
        return self._watch(options)

    def lock(
        self, key: str, *, ttl: float | timedelta = 10.0, wait: bool = True, timeout: float | None = None
    ) -> AsyncLock:
        """An exclusive lock on ``key``: ``async with kv.lock("file.txt", ttl=10) as lock: ...``.

        Taken with ``create`` (the value names the holder), kept alive by
        ``update`` with the revision it holds every ``ttl/3``, released by a
        CAS ``delete``; if the holder dies, the key expires after ``ttl`` and
        the lock is free. ``wait=False`` fails at once with
        LockNotAcquiredError when the lock is held; otherwise it waits, for at
        most ``timeout`` seconds when given. UnsupportedError on NATS.
        """
        self._check_lock()
        return AsyncLock(self, *arguments.lock_args(key, ttl, wait, timeout))

    async def import_entries(self, entries: Iterable[Entry]) -> int:
        """Store exported entries with their own revisions, operations and times; return how many.

        Every revision must be above the bucket's last one and they must
        increase (an export of another bucket into an empty one). All are
        written in one transaction: all or nothing. UnsupportedError on NATS.
        """
        return await self._import_entries(arguments.import_rows(entries))

    # -- what an implementation provides ---------------------------------------------------------

    @abc.abstractmethod
    def _put(self, key: str, data: bytes, ttl: float | None) -> Awaitable[int]: ...

    @abc.abstractmethod
    def _create(self, key: str, data: bytes, ttl: float | None) -> Awaitable[int]: ...

    @abc.abstractmethod
    def _update(self, key: str, data: bytes, last: int, ttl: float | None) -> Awaitable[int]: ...

    @abc.abstractmethod
    def _marker(self, key: str, op: Operation, last: int | None, ttl: float | None = None) -> Awaitable[int]: ...

    @abc.abstractmethod
    def _incr(self, key: str, by: int, ttl: float | None) -> Awaitable[tuple[int, int]]: ...

    @abc.abstractmethod
    def _touch(self, key: str, ttl: float | None) -> Awaitable[int]: ...

    @abc.abstractmethod
    def _scan(
        self, options: WatchOptions, start: str, end: str | None, limit: int | None, reverse: bool, values: bool
    ) -> AsyncIterator[Any]: ...

    @abc.abstractmethod
    def _get_many(self, keys: list[str]) -> Awaitable[dict[str, Entry]]: ...

    @abc.abstractmethod
    def _get(self, key: str, revision: int | None) -> Awaitable[Entry]: ...

    @abc.abstractmethod
    def _history(self, key: str) -> Awaitable[list[Entry]]: ...

    @abc.abstractmethod
    def _keys(self, options: WatchOptions) -> Awaitable[list[str]]: ...

    @abc.abstractmethod
    def _purge_deletes(self, older_than: float) -> Awaitable[int]: ...

    @abc.abstractmethod
    def _status(self) -> Awaitable[BucketStatus]: ...

    @abc.abstractmethod
    def _watch(self, options: WatchOptions) -> AsyncWatcher: ...

    @abc.abstractmethod
    def _import_entries(self, rows: list[ImportRow]) -> Awaitable[int]: ...

    def _check_lock(self) -> None:  # noqa: B027 - a hook: most backends have nothing to check
        """UnsupportedError where the lock recipe cannot work (NATS)."""


class AsyncWatcher(abc.ABC):
    """Entries of one bucket as they change: ``async with kv.watch() as w: async for entry in w``."""

    @property
    @abc.abstractmethod
    def initial_done(self) -> bool:
        """True once every initial entry has been taken (at once if there were none)."""

    @property
    @abc.abstractmethod
    def last_revision(self) -> int:
        """The highest revision this watcher has considered so far: resume a later watch after it."""

    @property
    @abc.abstractmethod
    def gaps(self) -> int:
        """How many revisions in this watcher's range it can never see (trimmed, purged, expired): see watch()."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Subscribe to the bucket's changes and load the initial entries (``async with`` does it)."""

    @abc.abstractmethod
    async def initial(self) -> list[Entry]:
        """Take the initial entries not yet taken, as a list; iteration then yields live entries."""

    @abc.abstractmethod
    def close(self) -> None:
        """Stop watching (idempotent); iteration then ends."""

    async def aclose(self) -> None:
        """Stop watching and wait until the backend let go (idempotent); iteration then ends."""
        self.close()

    async def __aenter__(self) -> AsyncWatcher:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncWatcher:
        return self

    @abc.abstractmethod
    async def __anext__(self) -> Entry:
        """The next entry (initial ones first), waiting for one; StopAsyncIteration once closed."""
