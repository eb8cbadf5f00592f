"""The AsyncStore API on a NATS JetStream server: ``sqlkv.AsyncStore("nats://host:4222")``.

When an application outgrows one machine, the same code can use NATS KV, the
distributed engine sqlkv's model comes from: buckets, entries, operations and
exceptions are sqlkv's, implemented with nats-py (``pip install sqlkv[nats]``).
Semantics are NATS's own; where the SQLite store deliberately differs and the
client can do it correctly, this store behaves like the SQLite store (``keys()``
of an empty bucket is ``[]``, sorted keys, stricter key validation, ``KeyDeletedError``
with the marker's revision, an explicit end of initial watch entries). What it
cannot do is refused with a clear error (see docs/semantics.md, "The NATS store").
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta, timezone
from types import TracebackType
from typing import Any

from ._config import BucketConfig, to_seconds
from ._core import UNSET, State, Unset
from ._entry import BucketStatus, Entry, Operation, make_entry
from ._errors import (
    BucketExistsError,
    BucketFullError,
    BucketNotFoundError,
    InvalidArgumentError,
    KeyDeletedError,
    KeyExistsError,
    KeyNotFoundError,
    StorageError,
    StoreClosedError,
    ValueTooLargeError,
    WrongLastRevisionError,
)
from ._store import AsyncStore
from ._validate import check_bucket_name, check_key, check_revision, coerce_value, compile_filters

__all__ = ["NatsBucket", "NatsStore", "NatsWatcher", "is_nats_url"]

_SEQ_RE = re.compile(r"wrong last sequence: (\d+)")
_OPS = {None: Operation.PUT, "DEL": Operation.DEL, "PURGE": Operation.PURGE}
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def is_nats_url(path: object) -> bool:
    """Whether an AsyncStore location names a NATS server rather than a file."""
    if isinstance(path, (list, tuple)):
        return bool(path) and all(is_nats_url(p) for p in path)
    return isinstance(path, str) and path.startswith(("nats://", "tls://", "ws://", "wss://"))


def _nats() -> Any:
    try:
        import nats
        from nats.js import api, errors
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise StorageError("a nats:// store needs nats-py: pip install 'sqlkv[nats]'") from exc
    return nats, api, errors


@contextlib.contextmanager
def _server_errors(what: str) -> Iterator[None]:
    """Anything else nats-py raises (timeouts, no responders, a lost connection) as a StorageError."""
    import nats.errors

    try:
        yield
    except nats.errors.Error as exc:
        raise StorageError(f"NATS: {what}: {exc}") from None


async def _retry_transient(call: Any, attempts: int = 5) -> Any:
    """Creating a stream: retry the server's transient 10049 "error creating store for stream" (idempotent)."""
    _, _, errors = _nats()
    for attempt in range(attempts):
        try:
            return await call()
        except errors.ServerError as exc:
            if exc.err_code != 10049 or attempt == attempts - 1:
                raise
            await asyncio.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def _revision_of(exc: BaseException) -> int:
    match = _SEQ_RE.search(str(getattr(exc, "description", "") or exc))
    return int(match.group(1)) if match else 0


def _ns(moment: Any) -> int:
    if isinstance(moment, datetime):
        return int((moment - _EPOCH).total_seconds() * 1e9) if moment.tzinfo else int(moment.timestamp() * 1e9)
    return 0


class NatsStore(AsyncStore):
    """An AsyncStore whose buckets live on a NATS server (or cluster) with JetStream.

    ``AsyncStore("nats://host:4222", **options)`` returns one; ``options`` other
    than sqlkv's go to ``nats.connect`` (credentials, TLS, several servers...);
    ``open_timeout`` bounds how long opening waits for a server (default 10 s);
    ``replicas`` is how many servers keep each new bucket (a cluster: 3).
    """

    def __init__(self, path: str | list[str], *, open_timeout: float = 10.0, replicas: int = 1, **options: Any) -> None:
        self._replicas = replicas
        self._inline = False  # nothing runs on the loop: every call is a network round trip
        for sqlkv_only in ("durability", "busy_timeout", "poll_interval", "clock", "auto_sweep", "read_only", "inline"):
            options.pop(sqlkv_only, None)
        self._open_timeout = open_timeout
        self._servers = list(path) if isinstance(path, (list, tuple)) else [path]
        self._connect_options = options
        self._state = State.UNOPENED
        self._nc: Any = None
        self._js: Any = None
        self._watchers: set[NatsWatcher] = set()

    @property
    def path(self) -> str:
        """The server URL(s)."""
        return ",".join(self._servers)

    @property
    def durability(self) -> str:
        """Durability is the server's: ``"nats"``."""
        return "nats"

    @property
    def read_only(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"<NatsStore {self.path!r} {self._state.value}>"

    async def open(self) -> NatsStore:
        """Connect to the server."""
        if self._state is not State.UNOPENED:
            raise StoreClosedError(f"store is {self._state.value}; a store can be opened once")
        nats, _, _ = _nats()
        try:
            # nats-py keeps retrying an initial connection that is refused: bound the wait ourselves.
            self._nc = await asyncio.wait_for(
                nats.connect(servers=self._servers, **self._connect_options), self._open_timeout
            )
        except (Exception, asyncio.TimeoutError) as exc:
            self._state = State.CLOSED
            raise StorageError(f"cannot connect to {self.path}: {exc or 'timed out'}") from None
        self._js = self._nc.jetstream()
        self._state = State.OPEN
        return self

    async def aclose(self) -> None:
        """Stop every watcher and close the connection."""
        if self._state is State.CLOSED:
            return
        self._state = State.CLOSED
        for watcher in list(self._watchers):
            await watcher.aclose()
        if self._nc is not None:
            await self._nc.close()

    async def __aenter__(self) -> NatsStore:
        return await self.open()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def _js_open(self) -> Any:
        self._check_open()
        return self._js

    async def create_bucket(  # type: ignore[override]
        self,
        name: str,
        *,
        history: int = 1,
        ttl: float | timedelta | None = None,
        max_value_size: int | None = None,
        max_bytes: int | None = None,
        description: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> NatsBucket:
        """Create a bucket (a KV_<name> stream); the same config again returns it, another: BucketExistsError."""
        check_bucket_name(name)
        config = self._bucket_config(history, ttl, max_value_size, max_bytes, description, metadata)
        if config.metadata:
            raise InvalidArgumentError("bucket metadata is not supported on a nats:// store (nats-py lacks it)")
        _, _, errors = _nats()
        js = self._js_open()
        with _server_errors(f"create bucket {name}"):
            try:
                kv = await _retry_transient(
                    lambda: js.create_key_value(
                        bucket=name,
                        history=config.history,
                        ttl=config.ttl,
                        max_value_size=config.max_value_size if config.max_value_size is not None else -1,
                        max_bytes=config.max_bytes if config.max_bytes is not None else -1,
                        description=config.description,
                        direct=True,
                        replicas=self._replicas,
                    )
                )
            except errors.BadRequestError as exc:
                if exc.err_code == 10058:
                    raise BucketExistsError(
                        f"bucket name already in use with a different configuration: {name}"
                    ) from None
                raise StorageError(str(exc)) from None
        return NatsBucket(self, name, kv, config)

    async def bucket(self, name: str) -> NatsBucket:  # type: ignore[override]
        """The existing bucket ``name``; BucketNotFoundError if there is none."""
        check_bucket_name(name)
        _, _, errors = _nats()
        with _server_errors(f"bucket {name}"):
            try:
                kv = await self._js_open().key_value(name)
            except (errors.BucketNotFoundError, errors.NotFoundError):
                raise BucketNotFoundError(f"bucket not found: {name}") from None
            status = await kv.status()
        return NatsBucket(self, name, kv, _config_of(status.stream_info))

    async def bucket_names(self) -> list[str]:
        """Names of every bucket (every KV_ stream), sorted."""
        with _server_errors("list buckets"):
            infos = await self._js_open().streams_info()
        return sorted(i.config.name[3:] for i in infos if i.config.name and i.config.name.startswith("KV_"))

    async def delete_bucket(self, name: str) -> None:
        """Delete bucket ``name`` and all its data; BucketNotFoundError if there is none."""
        check_bucket_name(name)
        _, _, errors = _nats()
        with _server_errors(f"delete bucket {name}"):
            try:
                await self._js_open().delete_key_value(name)
            except errors.NotFoundError:
                raise BucketNotFoundError(f"bucket not found: {name}") from None

    async def update_bucket(  # type: ignore[override]
        self,
        name: str,
        *,
        history: int | Unset = UNSET,
        ttl: float | timedelta | Unset | None = UNSET,
        max_value_size: int | Unset | None = UNSET,
        max_bytes: int | Unset | None = UNSET,
        description: str | Unset | None = UNSET,
        metadata: Mapping[str, str] | Unset | None = UNSET,
    ) -> NatsBucket:
        """Change the given settings (a stream update: a smaller history trims at once, as on SQLite)."""
        current = await self.bucket(name)
        changes = self._bucket_changes(
            history=history, ttl=ttl, max_value_size=max_value_size, max_bytes=max_bytes,
            description=description, metadata=metadata,
        )  # fmt: skip
        new = dataclasses.replace(current.config, **changes)  # type: ignore[arg-type]
        if new.metadata:
            raise InvalidArgumentError("bucket metadata is not supported on a nats:// store (nats-py lacks it)")
        js = self._js_open()
        with _server_errors(f"update bucket {name}"):
            info = await js.stream_info(f"KV_{name}")
        config = info.config
        config.max_msgs_per_subject = new.history
        config.max_age = new.ttl or 0
        config.max_msg_size = new.max_value_size if new.max_value_size is not None else -1
        config.max_bytes = new.max_bytes if new.max_bytes is not None else -1
        config.description = new.description
        if new.ttl and (config.duplicate_window or 120) > new.ttl:
            config.duplicate_window = new.ttl
        with _server_errors(f"update bucket {name}"):
            await js.update_stream(config)
        return await self.bucket(name)

    async def sweep(self) -> int:
        """Nothing to do: the server expires entries itself."""
        self._check_open()
        return 0


def _config_of(info: Any) -> BucketConfig:
    config = info.config
    return BucketConfig(
        history=max(1, config.max_msgs_per_subject or 1),
        ttl=config.max_age or None,
        max_value_size=None if (config.max_msg_size or -1) < 0 else config.max_msg_size,
        max_bytes=None if (config.max_bytes or -1) < 0 else config.max_bytes,
        description=config.description or None,
    )


class NatsBucket:
    """A bucket of a NatsStore: the methods of AsyncBucket."""

    def __init__(self, store: NatsStore, name: str, kv: Any, config: BucketConfig) -> None:
        self._store = store
        self._kv = kv
        self.name = name
        self.config = config
        self._stream = f"KV_{name}"

    def __repr__(self) -> str:
        return f"<NatsBucket {self.name!r} history={self.config.history}>"

    def _entry(self, key: str, value: bytes | None, revision: int, created: Any, delta: int, op: Operation) -> Entry:
        return make_entry(self.name, key, value or b"", revision, _ns(created), delta, int(op))

    async def _call(self, coroutine: Any) -> Any:
        import nats.errors as nats_errors

        _, _, errors = _nats()
        self._store._check_open()
        try:
            return await coroutine
        except errors.KeyWrongLastSequenceError as exc:
            raise WrongLastRevisionError("", 0, _revision_of(exc)) from None
        except errors.BadRequestError as exc:
            if exc.err_code == 10071:
                raise WrongLastRevisionError("", 0, _revision_of(exc)) from None
            if exc.err_code == 10054:
                raise ValueTooLargeError(f"value exceeds the bucket's max_value_size ({self.name})") from None
            raise StorageError(str(exc)) from None
        except errors.ServiceUnavailableError as exc:
            if exc.err_code == 10077:
                raise BucketFullError(f"maximum bytes exceeded: bucket {self.name} is full") from None
            raise StorageError(str(exc)) from None
        except (errors.BucketNotFoundError, errors.NotFoundError) as exc:
            if isinstance(exc, (errors.KeyNotFoundError,)):
                raise
            raise BucketNotFoundError(f"bucket not found: {self.name}") from None
        except nats_errors.Error as exc:  # timeouts, no responders, a connection gone: the server's trouble
            if isinstance(exc, (errors.KeyNotFoundError, errors.NoKeysError)):
                raise
            raise StorageError(f"NATS: {exc}") from None

    @staticmethod
    def _no_ttl(ttl: object, operation: str) -> None:
        if ttl is not None:
            raise InvalidArgumentError(
                f"per-key TTL on {operation} is not supported on a nats:// store: NATS keeps a TTL per revision, "
                "so older history would come back when it expires; use create(..., ttl=)"
            )

    async def put(self, key: str, value: bytes | str, *, ttl: float | timedelta | None = None) -> int:
        """Store ``value`` as the key's new revision; return the revision."""
        self._no_ttl(ttl, "put")
        revision: int = await self._call(self._kv.put(check_key(key), coerce_value(value)))
        return revision

    async def create(self, key: str, value: bytes | str, *, ttl: float | timedelta | None = None) -> int:
        """Put only if the key is absent or deleted; else KeyExistsError. ``ttl``: the revision's TTL (NATS)."""
        seconds = None if ttl is None else to_seconds(ttl, "ttl")
        try:
            revision: int = await self._call(self._kv.create(check_key(key), coerce_value(value), msg_ttl=seconds))
        except WrongLastRevisionError as exc:
            raise KeyExistsError(key, exc.actual) from None
        return revision

    async def update(self, key: str, value: bytes | str, last: int, *, ttl: float | timedelta | None = None) -> int:
        """Put only if ``last`` is the key's latest revision (0: no entry); else WrongLastRevisionError."""
        self._no_ttl(ttl, "update")
        last = check_revision(last, name="last", minimum=0)
        try:
            revision: int = await self._call(self._kv.update(check_key(key), coerce_value(value), last=last))
        except WrongLastRevisionError as exc:
            raise WrongLastRevisionError(key, last, exc.actual) from None
        return revision

    async def _marker(self, key: str, op: str, last: int | None) -> int:
        check_key(key)
        headers = {"KV-Operation": op}
        if op == "PURGE":
            headers["Nats-Rollup"] = "sub"
        if last is not None:
            headers["Nats-Expected-Last-Subject-Sequence"] = str(check_revision(last, name="last", minimum=0))
        try:
            ack = await self._call(self._store._js.publish(f"$KV.{self.name}.{key}", b"", headers=headers))
        except WrongLastRevisionError as exc:
            raise WrongLastRevisionError(key, last or 0, exc.actual) from None
        return int(ack.seq)

    async def delete(self, key: str, *, last: int | None = None) -> int:
        """Write a delete marker; with ``last``, only if it is the key's latest revision."""
        return await self._marker(key, "DEL", last)

    async def purge(self, key: str, *, last: int | None = None) -> int:
        """Write a purge marker (the server drops earlier revisions); ``last`` as for delete."""
        return await self._marker(key, "PURGE", last)

    async def get(self, key: str, *, revision: int | None = None) -> Entry:
        """The key's latest value, or that revision of it (KeyNotFoundError / KeyDeletedError)."""
        _, _, errors = _nats()
        check_key(key)
        if revision is not None:
            check_revision(revision)
        subject = f"$KV.{self.name}.{key}"
        self._store._check_open()
        js = self._store._js
        try:
            if revision is None:
                msg = await js.get_msg(self._stream, subject=subject, direct=True)
            else:
                msg = await js.get_msg(self._stream, seq=revision, direct=True)
        except errors.NotFoundError:  # no message: the key (or that revision) does not exist
            raise KeyNotFoundError(key) from None
        if msg.subject != subject:
            raise KeyNotFoundError(key, f"key not found: {key} (no revision {revision} of this key)")
        op = _OPS.get((msg.headers or {}).get("KV-Operation"), Operation.PURGE)
        if (msg.headers or {}).get("Nats-Marker-Reason"):
            raise KeyNotFoundError(key)  # a limit marker: the key expired
        if op is not Operation.PUT:
            raise KeyDeletedError(key, msg.seq, op)
        return self._entry(key, msg.data, msg.seq, msg.time, 0, op)

    async def history(self, key: str) -> list[Entry]:
        """Every retained revision of the key, oldest first; KeyNotFoundError if none.

        Read with this store's own watcher rather than nats-py's ``history()``,
        whose end-of-initial signal can come too early (nats.py#842).
        """
        async with self.watch(check_key(key), include_history=True) as watcher:
            entries = await watcher.initial()
        if not entries:
            raise KeyNotFoundError(key)
        return entries

    async def keys(self, *filters: str) -> list[str]:
        """Live keys, sorted, matching any of ``filters`` (server-side subject filters); [] if none."""
        compile_filters(filters)
        found: set[str] = set()
        for pattern in filters or (">",):
            async with self.watch(pattern, ignore_deletes=True, meta_only=True) as watcher:
                found.update(entry.key for entry in await watcher.initial())
        return sorted(found)

    async def purge_deletes(self, *, older_than: float | timedelta | None = None) -> int:
        """Drop the history of deleted keys (their markers too once older than ``older_than``, 30 min)."""
        threshold = 1800.0 if older_than is None else (0.0 if older_than == 0 else to_seconds(older_than, "older_than"))
        await self._call(self._kv.purge_deletes(olderthan=threshold if threshold > 0 else -1))
        return 0

    async def status(self) -> BucketStatus:
        """Counts and configuration, from the stream (``keys`` is counted by listing them)."""
        info = await self._call(self._store._js.stream_info(self._stream))
        config = _config_of(info)
        return BucketStatus(
            bucket=self.name,
            values=info.state.messages,
            keys=len(await self.keys()),
            bytes=info.state.bytes,
            history=config.history,
            ttl=config.ttl,
            max_value_size=config.max_value_size,
            max_bytes=config.max_bytes,
            created=info.created if isinstance(info.created, datetime) else _EPOCH,
            description=config.description,
            metadata={},
            last_revision=info.state.last_seq,
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
    ) -> NatsWatcher:
        """The AsyncBucket.watch interface on an ordered consumer."""
        if updates_only and (include_history or from_revision is not None):
            raise InvalidArgumentError("updates_only cannot be combined with include_history or from_revision")
        matcher, _ = compile_filters(filters)
        if from_revision is not None:
            check_revision(from_revision, name="from_revision")
        subject = f"$KV.{self.name}.{filters[0]}" if len(filters) == 1 else f"$KV.{self.name}.>"
        return NatsWatcher(
            self, subject, None if len(filters) <= 1 else matcher,
            include_history=include_history, ignore_deletes=ignore_deletes, meta_only=meta_only,
            updates_only=updates_only, from_revision=from_revision,
        )  # fmt: skip

    def lock(self, *args: Any, **kwargs: Any) -> Any:
        """Not available on NATS: keeping a lock alive needs a TTL on update, which NATS does not offer."""
        raise InvalidArgumentError("kv.lock() needs per-key TTL on update, which a nats:// store cannot provide")


class NatsWatcher:
    """The AsyncWatcher interface (initial_done, initial(), async iteration) on a JetStream ordered consumer."""

    def __init__(self, bucket: NatsBucket, subject: str, matcher: Any, **options: Any) -> None:
        self._bucket = bucket
        self._subject = subject
        self._matcher = matcher
        self._options = options
        self._sub: Any = None
        self._initial_left: int | None = None
        self._pending: list[Entry] = []
        self._closed = False
        self.last_revision = 0

    @property
    def initial_done(self) -> bool:
        """True once every initial entry has been taken."""
        return self._initial_left == 0 and not self._pending

    async def __aenter__(self) -> NatsWatcher:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Create the ordered consumer and learn how many initial entries it has."""
        _, api, _ = _nats()
        store = self._bucket._store
        store._check_open()
        o = self._options
        if o["updates_only"]:
            policy, extra = api.DeliverPolicy.NEW, {}
        elif o["from_revision"] is not None:
            policy, extra = api.DeliverPolicy.BY_START_SEQUENCE, {"opt_start_seq": o["from_revision"]}
        elif o["include_history"]:
            policy, extra = api.DeliverPolicy.ALL, {}
        else:
            policy, extra = api.DeliverPolicy.LAST_PER_SUBJECT, {}
        self._sub = await store._js.subscribe(
            self._subject,
            stream=self._bucket._stream,
            ordered_consumer=True,
            deliver_policy=policy,
            headers_only=o["meta_only"] or None,
            config=api.ConsumerConfig(deliver_policy=policy, **extra) if extra else None,
        )
        store._watchers.add(self)
        self._initial_left = 0
        if o["updates_only"]:
            return
        await asyncio.sleep(0)
        info = await self._sub.consumer_info()
        if info.num_pending == 0 and self._sub.delivered == 0 and not await self._stream_has_matches():
            return  # nothing to deliver initially
        self._initial_left = 1
        while self._initial_left:  # the initial entries, until one says nothing more is pending
            self._collect(await self._sub.next_msg(timeout=30), initial=True)

    async def _stream_has_matches(self) -> bool:
        """Whether the stream holds messages on the watched subjects (latest/all modes).

        A consumer's first info can report 0 pending before it has counted them;
        the stream's per-subject counts settle the question.
        """
        if self._options["from_revision"] is not None:
            return False
        info = await self._bucket._store._js.stream_info(self._bucket._stream, subjects_filter=self._subject)
        return bool(info.state.subjects)

    def _collect(self, msg: Any, *, initial: bool) -> None:
        meta = msg.metadata
        if initial:
            self._initial_left = meta.num_pending
        key = msg.subject.split(".", 2)[2]
        headers = msg.headers or {}
        op = _OPS.get(headers.get("KV-Operation"), Operation.PURGE)
        self.last_revision = meta.sequence.stream
        if self._options["ignore_deletes"] and op is not Operation.PUT:
            return
        if self._matcher is not None and not self._matcher(key):
            return
        value = b"" if self._options["meta_only"] else msg.data
        self._pending.append(
            self._bucket._entry(key, value, meta.sequence.stream, meta.timestamp, meta.num_pending, op)
        )

    async def initial(self) -> list[Entry]:
        """The initial entries not yet taken; iteration then yields live entries."""
        taken, self._pending = self._pending, []
        return [
            make_entry(e.bucket, e.key, e.value, e.revision, _ns(e.created), len(taken) - 1 - i, int(e.operation))
            for i, e in enumerate(taken)
        ]

    def __aiter__(self) -> NatsWatcher:
        return self

    async def __anext__(self) -> Entry:
        nats, _, _ = _nats()
        while not self._pending:
            if self._closed or self._bucket._store._state is not State.OPEN:
                raise StopAsyncIteration
            try:
                msg = await self._sub.next_msg(timeout=None)
            except (nats.errors.ConnectionClosedError, nats.errors.BadSubscriptionError, asyncio.CancelledError):
                if self._closed:
                    raise StopAsyncIteration from None
                raise
            self._collect(msg, initial=False)
        return self._pending.pop(0)

    async def aclose(self) -> None:
        """Stop watching."""
        if self._closed:
            return
        self._closed = True
        self._bucket._store._watchers.discard(self)
        if self._sub is not None:
            try:
                await self._sub.unsubscribe()
            except Exception:
                pass

    def close(self) -> None:
        """Stop watching (schedules the unsubscribe)."""
        asyncio.ensure_future(self.aclose())  # noqa: RUF006 - nats-py runs on asyncio; fire and forget
