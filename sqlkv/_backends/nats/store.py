"""``AsyncStore`` on a NATS JetStream server: ``sqlkv.AsyncStore("nats://host:4222")``.

When an application outgrows one machine, the same code can use NATS KV, the
distributed engine sqlkv's model comes from. Where the SQLite store
deliberately differs and the client can do it correctly, this store behaves
like the SQLite store (``keys()`` of an empty bucket is ``[]``, sorted keys,
stricter key validation, ``KeyDeletedError`` with the marker's revision, an
explicit end of initial watch entries). What it cannot do raises
UnsupportedError (see docs/semantics.md, "The NATS store").
"""

from __future__ import annotations

import asyncio
import dataclasses
import weakref
from typing import Any

from ..._api.async_interface import AsyncStore
from ..._api.lifecycle import State, Tracker
from ..._api.transaction import Step
from ..._model.config import BucketConfig
from ..._model.errors import (
    BucketExistsError,
    BucketNotFoundError,
    InvalidArgumentError,
    StorageError,
    StoreClosedError,
    UnsupportedError,
)
from .batch import publish_batch, refuse_unsupported
from .bucket import NatsBucket, config_of, nats_ttl
from .errors import nats, retry_transient, server_errors
from .session import Session

__all__ = ["NatsStore"]

_SQLITE_ONLY = ("durability", "busy_timeout", "poll_interval", "clock", "auto_sweep", "read_only", "inline")


def _reason(exc: BaseException) -> str:
    """Why a connection failed, in words: nats-py's message, else the error's kind."""
    text = str(exc).strip()
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return "no server answered in time"
    return text or type(exc).__name__


class NatsStore(AsyncStore):
    """An AsyncStore whose buckets live on a NATS server (or cluster) with JetStream.

    ``AsyncStore("nats://host:4222", **options)`` returns one; ``options`` other
    than sqlkv's go to ``nats.connect`` (credentials, TLS, several servers...);
    ``open_timeout`` bounds how long opening waits for a server (default 10 s);
    ``replicas`` is how many servers keep each new bucket (a cluster: 3).
    """

    backend = "nats"
    _codec_in_metadata = False  # nats-py's KeyValueConfig has no metadata: a typed bucket's codec is not recorded

    def __init__(self, path: str | list[str], *, open_timeout: float = 10.0, replicas: int = 1, **options: Any) -> None:
        self._replicas = replicas
        for sqlkv_only in _SQLITE_ONLY:
            options.pop(sqlkv_only, None)
        self._open_timeout = open_timeout
        self._servers = list(path) if isinstance(path, (list, tuple)) else [path]
        self._connect_options = options
        self._session = Session()
        self._tracker = Tracker()
        self._issued: weakref.WeakSet[NatsBucket] = weakref.WeakSet()
        """The bucket handles this store gave out."""

    @property
    def _state(self) -> State:  # type: ignore[override]  # the session keeps it, for buckets and watchers too
        return self._session.state

    @property
    def path(self) -> str:
        return ",".join(self._servers)

    @property
    def durability(self) -> str:
        return "nats"

    @property
    def read_only(self) -> bool:
        return False

    @property
    def inline(self) -> bool:
        return False  # nothing runs on the loop: every call is a network round trip

    @property
    def schema_version(self) -> int:
        raise UnsupportedError("a nats:// store has no schema version: the server keeps streams, not a file")

    async def open(self) -> NatsStore:
        if self._session.state is not State.UNOPENED:
            raise StoreClosedError(f"store is {self._state.value}; a store can be opened once")
        client, _, _ = nats()
        errors: list[str] = []

        async def record_error(exc: Exception) -> None:  # instead of nats-py printing tracebacks to stderr
            errors.append(_reason(exc))

        options = {"error_cb": record_error, **self._connect_options}
        try:
            # nats-py keeps retrying an initial connection that is refused: bound the wait ourselves.
            nc = await asyncio.wait_for(client.connect(servers=self._servers, **options), self._open_timeout)
        except (Exception, asyncio.TimeoutError) as exc:
            self._session.state = State.CLOSED
            reason = errors[-1] if errors and isinstance(exc, asyncio.TimeoutError) else _reason(exc)
            raise StorageError(f"cannot connect to {self.path}: {reason}") from None
        self._session.connected(nc)
        self._tracker.opened(self, _forget, f"sqlkv.AsyncStore({self.path!r})")
        return self

    def _closing(self) -> list[Any]:
        """Mark the store closed (once): its watchers, to end; none when it was closed already."""
        session = self._session
        if session.state is State.CLOSED:
            return []
        session.state = State.CLOSED
        self._tracker.closed(self)
        return list(session.watchers)

    async def aclose(self) -> None:
        for watcher in self._closing():
            await watcher.aclose()
        nc = self._session.nc
        if nc is not None and not nc.is_closed:  # also after close_nowait() without a loop
            await nc.close()

    def close_nowait(self) -> None:
        for watcher in self._closing():
            watcher.close()
        nc = self._session.nc
        if nc is not None and not nc.is_closed:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return  # no loop: its tasks cannot run; aclose() on its loop closes it
            asyncio.ensure_future(nc.close())  # noqa: RUF006 - fire and forget, as close_nowait promises

    async def _create_bucket(self, name: str, config: BucketConfig) -> NatsBucket:
        if config.metadata:
            raise UnsupportedError(
                "bucket metadata is not supported on a nats:// store (nats-py 2.16.0's KeyValueConfig has none)"
            )
        if config.marker_ttl is not None:
            nats_ttl(config.marker_ttl, "a marker_ttl")
        _, _, errors = nats()
        js = self._session.js
        with server_errors(f"create bucket {name}"):
            try:
                kv = await retry_transient(
                    lambda: js.create_key_value(
                        bucket=name,
                        history=config.history,
                        ttl=config.ttl,
                        max_value_size=config.max_value_size if config.max_value_size is not None else -1,
                        max_bytes=config.max_bytes if config.max_bytes is not None else -1,
                        description=config.description,
                        direct=True,
                        replicas=self._replicas,
                        limit_marker_ttl=config.marker_ttl,
                    )
                )
            except errors.BadRequestError as exc:
                if exc.err_code != 10058:
                    raise StorageError(str(exc)) from None
                existing = await self._bucket(name)  # sqlkv's own bucket allows atomic publish: compare the rest
                if existing.config != config:
                    raise BucketExistsError(
                        f"bucket name already in use with a different configuration: {name}"
                    ) from None
                return existing
            await allow_atomic_publish(js, f"KV_{name}")
        return self._issue(NatsBucket(self._session, name, kv, config))

    async def _atomic(self, checks: list[Step], mutations: list[Step]) -> list[int]:
        """One bucket's writes as the server's atomic batch (see ``batch``)."""
        self._session.check_open()
        if not mutations and not checks:
            return []
        name = refuse_unsupported(checks, mutations)
        bucket = mutations[0].bucket
        if isinstance(bucket, str) or not isinstance(bucket, NatsBucket) or bucket not in self._issued:
            if not isinstance(bucket, str):
                raise InvalidArgumentError(f"bucket {name} is not a bucket of this store")
            bucket = await self._bucket(name)
        return await publish_batch(self._session.nc, bucket, mutations)

    async def _bucket(self, name: str) -> NatsBucket:
        _, _, errors = nats()
        js = self._session.js
        with server_errors(f"bucket {name}"):
            try:
                kv = await js.key_value(name)
            except (errors.BucketNotFoundError, errors.NotFoundError):
                raise BucketNotFoundError(f"bucket not found: {name}") from None
            status = await kv.status()
        return self._issue(NatsBucket(self._session, name, kv, config_of(status.stream_info)))

    def _issue(self, bucket: NatsBucket) -> NatsBucket:
        """A bucket handle of this store (its transactions accept only these)."""
        self._issued.add(bucket)
        return bucket

    async def bucket_names(self) -> list[str]:
        js = self._session.js
        with server_errors("list buckets"):
            infos = await js.streams_info()
        return sorted(i.config.name[3:] for i in infos if i.config.name and i.config.name.startswith("KV_"))

    async def _delete_bucket(self, name: str) -> None:
        _, _, errors = nats()
        js = self._session.js
        with server_errors(f"delete bucket {name}"):
            try:
                await js.delete_key_value(name)
            except errors.NotFoundError:
                raise BucketNotFoundError(f"bucket not found: {name}") from None

    async def _update_bucket(self, name: str, changes: dict[str, object]) -> NatsBucket:
        # A stream update: a smaller history trims at once, as on SQLite.
        current = await self._bucket(name)
        new = dataclasses.replace(current.config, **changes)  # type: ignore[arg-type]
        if new.metadata:
            raise UnsupportedError(
                "bucket metadata is not supported on a nats:// store (nats-py 2.16.0's KeyValueConfig has none)"
            )
        if new.marker_ttl is not None:
            nats_ttl(new.marker_ttl, "a marker_ttl")
        js = self._session.js
        with server_errors(f"update bucket {name}"):
            info = await js.stream_info(f"KV_{name}")
        config = info.config
        config.max_msgs_per_subject = new.history
        config.max_age = new.ttl or 0
        config.max_msg_size = new.max_value_size if new.max_value_size is not None else -1
        config.max_bytes = new.max_bytes if new.max_bytes is not None else -1
        config.description = new.description
        config.subject_delete_marker_ttl = new.marker_ttl
        if new.marker_ttl is not None:
            config.allow_msg_ttl = True  # (it cannot be turned off again, but the markers can)
        if new.ttl and (config.duplicate_window or 120) > new.ttl:
            config.duplicate_window = new.ttl
        with server_errors(f"update bucket {name}"):
            await js.update_stream(config)
        return await self._bucket(name)

    async def sweep(self) -> int:
        self._session.check_open()  # nothing to do: the server expires entries itself
        return 0

    async def _backup(self, path: str, overwrite: bool) -> int:
        raise UnsupportedError("backup() copies a store file; for a nats:// store use `nats stream backup`")


async def allow_atomic_publish(js: Any, stream: str) -> None:
    """Let the bucket's stream take atomic batches (transactions); a server before 2.12 keeps it off."""
    info = await js.stream_info(stream)
    if not getattr(info.config, "allow_atomic", None):
        await js.update_stream(dataclasses.replace(info.config, allow_atomic=True))


def _forget() -> None:
    """A NATS store dropped open: its connection's tasks belong to a loop that may be gone; nothing to stop here."""
