"""``NatsKeyValue``: the interface of nats.py's ``KeyValue`` on an sqlkv bucket, and its ``KeyWatcher``."""

from __future__ import annotations

import warnings
from typing import Any

import anyio

import sqlkv

from ._convert import entry, msg_ttl_seconds, nats, nats_errors

__all__ = ["NatsKeyValue", "NatsKeyWatcher"]

_WILDCARDS = ("*", ">")


class NatsKeyWatcher:
    """nats.py's ``KeyValue.KeyWatcher`` over an sqlkv watcher: ``updates()``, ``stop()``, async iteration.

    In a bucket without a limit-marker TTL an expiry is silent, as on a NATS
    server: sqlkv's EXPIRE entries are left out (with one they read as PURGE).
    """

    def __init__(self, watcher: sqlkv.AsyncWatcher, *, expiry_markers: bool = True) -> None:
        self._watcher = watcher
        self._marker_due = True
        self._stopped = False
        self._expiry_markers = expiry_markers

    async def _next(self) -> Any:
        while True:
            if self._stopped:
                raise StopAsyncIteration
            if self._marker_due and self._watcher.initial_done:
                self._marker_due = False
                return None  # the end of the initial values, exactly once
            try:
                found = await self._watcher.__anext__()
            except StopAsyncIteration:
                self._stopped = True
                raise
            if self._expiry_markers or found.operation is not sqlkv.Operation.EXPIRE:
                return entry(found)

    async def updates(self, timeout: float = 5.0) -> Any:  # noqa: ASYNC109 - nats.py's signature
        """The next entry, ``None`` once after the initial values; nats.errors.TimeoutError after ``timeout``."""
        import nats.errors

        try:
            with anyio.fail_after(timeout):
                return await self._next()
        except TimeoutError:
            raise nats.errors.TimeoutError from None

    async def stop(self) -> None:
        """Stop watching; iteration ends. Never blocks."""
        self._stopped = True
        self._watcher.close()

    def __aiter__(self) -> NatsKeyWatcher:
        return self

    async def __anext__(self) -> Any:
        return await self._next()


class NatsKeyValue:
    """The interface of ``nats.js.kv.KeyValue`` on an sqlkv bucket (see ``sqlkv.testing``)."""

    def __init__(self, bucket: sqlkv.AsyncBucket) -> None:
        nats("sqlkv.testing.NatsKeyValue")  # no nats-py: fail now, not at the first call
        self._kv = bucket
        self._name = bucket.name

    async def put(self, key: str, value: bytes, validate_keys: bool = True) -> int:
        """Store ``value``; the new revision (nats.py's ``KeyValue.put``)."""
        with nats_errors(self._name):
            return await self._kv.put(key, value)

    async def get(self, key: str, revision: int | None = None, validate_keys: bool = True) -> Any:
        """The latest entry of ``key``, or that revision; ``KeyNotFoundError`` (``.entry`` and ``.op`` on a marker)."""
        _, errors, _ = nats()
        try:
            with nats_errors(self._name):
                return entry(await self._kv.get(key, revision=revision or None), from_get=True)
        except errors.KeyNotFoundError as exc:
            if revision and exc.op is None:
                other = await self._key_of(revision)
                if other is not None and other != key:  # the revision is another key's: nats.py names both
                    expected, got = f"$KV.{self._name}.{key}", f"$KV.{self._name}.{other}"
                    raise errors.KeyNotFoundError(message=f"expected '{expected}', but got '{got}'") from None
            raise

    async def _key_of(self, revision: int) -> str | None:
        """The key whose entry has ``revision``, if it is still stored."""
        async with self._kv.watch(from_revision=revision) as watcher:
            if watcher.initial_done:
                return None
            first = await watcher.__anext__()
        return first.key if first.revision == revision else None

    async def _key_ttl(self, msg_ttl: float | None) -> int | None:
        """A create's TTL as the server applies it: nats.py's whole seconds, raised to the marker TTL when
        the bucket keeps history (ADR-48: an older revision must not outlive the marker that hides it)."""
        seconds = msg_ttl_seconds(msg_ttl)
        if seconds is None:
            return None
        status = await self._kv.status()
        if status.marker_ttl is not None and status.history > 1:
            return max(seconds, int(status.marker_ttl))
        return seconds

    async def create(self, key: str, value: bytes, validate_keys: bool = True, msg_ttl: float | None = None) -> int:
        """Store ``value`` only if ``key`` is absent or deleted; ``KeyWrongLastSequenceError`` otherwise."""
        ttl = await self._key_ttl(msg_ttl)
        with nats_errors(self._name):
            return await self._kv.create(key, value, ttl=ttl)

    async def update(self, key: str, value: bytes, last: int | None = None, validate_keys: bool = True) -> int:
        """Store ``value`` only if ``last`` is the key's latest revision (compare-and-set)."""
        with nats_errors(self._name):
            return await self._kv.update(key, value, last=last or 0)

    async def delete(
        self, key: str, last: int | None = None, validate_keys: bool = True, msg_ttl: float | None = None
    ) -> bool:
        """Leave a DEL marker on ``key`` (only if ``last`` is its latest revision, when given)."""
        _, errors, _ = nats()
        if msg_ttl is not None:  # as nats-py 2.16.0
            warnings.warn(
                "msg_ttl on delete() is deprecated and ignored; use create() or purge() for TTL",
                DeprecationWarning,
                stacklevel=2,
            )
        try:
            with nats_errors(self._name):
                await self._kv.delete(key, last=last if last else None)
        except errors.KeyWrongLastSequenceError as exc:  # nats.py raises the raw API error here
            raise errors.BadRequestError(code=400, err_code=10071, description=exc.description) from None
        return True

    async def purge(self, key: str, msg_ttl: float | None = None) -> bool:
        """Purge ``key``; a subject wildcard purges every matching key (each keeps a PURGE marker, see docs)."""
        ttl = msg_ttl_seconds(msg_ttl)
        tokens = key.split(".")
        if any(token in _WILDCARDS for token in tokens):
            with nats_errors(self._name):
                async with self._kv.watch(key) as watcher:
                    matching = [found.key for found in await watcher.initial()]
                for each in matching:
                    await self._kv.purge(each, ttl=ttl)
            return True
        with nats_errors(self._name):
            await self._kv.purge(key, ttl=ttl)
        return True

    async def purge_deletes(self, olderthan: int = 30 * 60) -> bool:
        """Remove the delete and purge markers older than ``olderthan`` seconds, with their history."""
        await self._kv.purge_deletes(older_than=olderthan if olderthan > 0 else 0)
        return True

    async def keys(self, filters: list[str] | None = None, **kwargs: Any) -> list[str]:
        """The live keys, matching ``filters`` when given; ``NoKeysError`` when there is none."""
        _, errors, _ = nats()
        with nats_errors(self._name):
            found = await self._kv.keys(*(filters or []))
        if not found:
            raise errors.NoKeysError
        return found

    async def _expiry_markers(self) -> bool:
        """Whether the bucket keeps expiry markers (a limit-marker TTL): without, NATS expires silently."""
        return (await self._kv.status()).marker_ttl is not None

    async def history(self, key: str) -> list[Any]:
        """Every stored entry of ``key``, markers included (an expiry's marker too, as a PURGE)."""
        _, errors, _ = nats()
        markers = await self._expiry_markers()
        with nats_errors(self._name):
            async with self._kv.watch(key, include_history=True) as watcher:
                found = await watcher.initial()
        kept = [e for e in found if markers or e.operation is not sqlkv.Operation.EXPIRE]
        if not kept:
            raise errors.NoKeysError
        return [entry(e) for e in kept]

    async def watch(
        self,
        keys: str,
        headers_only: bool = False,
        include_history: bool = False,
        ignore_deletes: bool = False,
        meta_only: bool = False,
        inactive_threshold: float | None = None,
    ) -> NatsKeyWatcher:
        """A watcher of ``keys`` (a key or a wildcard filter), with nats.py's options."""
        markers = await self._expiry_markers()
        with nats_errors(self._name):
            filters = () if keys == ">" else (keys,)
            watcher = self._kv.watch(
                *filters, include_history=include_history, ignore_deletes=ignore_deletes, meta_only=meta_only
            )
        await watcher.start()
        return NatsKeyWatcher(watcher, expiry_markers=markers)

    async def watchall(self, **kwargs: Any) -> NatsKeyWatcher:
        """A watcher of every key of the bucket."""
        return await self.watch(">", **kwargs)

    async def status(self) -> Any:
        """The bucket's status as nats.py's ``KeyValue.BucketStatus``."""
        api, _, kv = nats()
        status = await self._kv.status()
        info = api.StreamInfo(
            config=api.StreamConfig(
                name=f"KV_{self._name}",
                subjects=[f"$KV.{self._name}.>"],
                max_msgs_per_subject=status.history,
                max_age=status.ttl or 0.0,
                max_bytes=status.max_bytes if status.max_bytes is not None else -1,
                max_msg_size=status.max_value_size if status.max_value_size is not None else -1,
                description=status.description,
                allow_msg_ttl=True,
                subject_delete_marker_ttl=status.marker_ttl,
            ),
            state=api.StreamState(
                messages=status.values, bytes=status.bytes, first_seq=0, last_seq=status.last_revision, consumer_count=0
            ),
        )
        return kv.KeyValue.BucketStatus(stream_info=info, bucket=self._name)
