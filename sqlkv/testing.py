"""Test helpers: a stand-in for nats.py's ``KeyValue``, backed by sqlkv.

``NatsKeyValue`` has the interface of ``nats.js.kv.KeyValue`` (as of nats-py 2.16.0):
``put``, ``get``, ``create``, ``update``, ``delete``, ``purge``, ``purge_deletes``,
``keys``, ``history``, ``watch``, ``watchall`` and ``status``, returning nats.py's own
``KeyValue.Entry`` / ``BucketStatus`` and raising nats.py's own exception classes
(``KeyNotFoundError`` with ``.op``, ``KeyWrongLastSequenceError``, ``NoKeysError``,
``InvalidKeyError``, ``BadRequestError``...), so code written against nats.py can be
tested without a server. It needs nats-py (``pip install 'sqlkv[nats]'``; code under test
imports it anyway): without it, making one raises a RuntimeError that says so.

Where nats-py 2.16.0 has a known bug, the stand-in follows the NATS server instead
(documented in docs/semantics.md): ``keys(filters)`` matches subject wildcards rather
than substrings; the watcher's ``None`` marker comes exactly once, after every
initial entry (never early: nats.py#842), and right away for an empty bucket;
``get()`` fills in ``created`` and ``delta``; ``a..b`` is refused as an invalid key.
``stop()`` never blocks (as nats-py since 2.15.0: nats.py#898).
"""

from __future__ import annotations

import contextlib
from typing import Any

import anyio

import sqlkv

__all__ = ["NatsKeyValue"]

_OPS = {sqlkv.Operation.PUT: None, sqlkv.Operation.DEL: "DEL", sqlkv.Operation.PURGE: "PURGE"}


def _nats() -> Any:
    try:
        from nats.js import api, errors, kv
    except ImportError as exc:
        raise RuntimeError("sqlkv.testing.NatsKeyValue needs nats-py: pip install 'sqlkv[nats]'") from exc
    return api, errors, kv


def _entry(entry: sqlkv.Entry, *, from_get: bool = False) -> Any:
    """nats.py's Entry; like nats.py, ``get()`` gives ``None`` for an empty value, watch and history ``b""``."""
    _, _, kv = _nats()
    return kv.KeyValue.Entry(
        bucket=entry.bucket,
        key=entry.key,
        value=(entry.value or None) if from_get else entry.value,
        revision=entry.revision,
        delta=entry.delta,
        created=entry.created,
        operation=_OPS.get(entry.operation, "PURGE"),  # an expiry reads as a PURGE, as NATS limit markers
    )


@contextlib.contextmanager
def _nats_errors() -> Any:
    """Translate sqlkv errors into the nats.py exception a caller of nats.py would catch."""
    _, errors, _ = _nats()
    try:
        yield
    except sqlkv.KeyDeletedError as exc:
        raise errors.KeyNotFoundError(op=exc.operation.name) from None
    except sqlkv.KeyNotFoundError:
        raise errors.KeyNotFoundError() from None
    except sqlkv.WrongLastRevisionError as exc:
        raise errors.KeyWrongLastSequenceError(description=f"wrong last sequence: {exc.actual}") from None
    except sqlkv.InvalidKeyError as exc:
        raise errors.InvalidKeyError(str(exc)) from None
    except sqlkv.ValueTooLargeError:
        raise errors.BadRequestError(
            code=400, err_code=10054, description="message size exceeds maximum allowed"
        ) from None
    except sqlkv.BucketFullError:
        raise errors.ServiceUnavailableError(code=503, err_code=10077, description="maximum bytes exceeded") from None


class NatsKeyWatcher:
    """nats.py's ``KeyValue.KeyWatcher`` over an sqlkv watcher: ``updates()``, ``stop()``, async iteration."""

    def __init__(self, watcher: sqlkv.AsyncWatcher) -> None:
        self._watcher = watcher
        self._marker_due = True
        self._stopped = False

    async def _next(self) -> Any:
        if self._stopped:
            raise StopAsyncIteration
        if self._marker_due and self._watcher.initial_done:
            self._marker_due = False
            return None  # the end of the initial values, exactly once
        try:
            entry = await self._watcher.__anext__()
        except StopAsyncIteration:
            self._stopped = True
            raise
        return _entry(entry)

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
    """The interface of ``nats.js.kv.KeyValue`` on an sqlkv bucket (see the module docstring)."""

    def __init__(self, bucket: sqlkv.AsyncBucket) -> None:
        _nats()  # no nats-py: fail now, not at the first call
        self._kv = bucket
        self._name = bucket.name

    async def put(self, key: str, value: bytes, validate_keys: bool = True) -> int:
        with _nats_errors():
            return await self._kv.put(key, value)

    async def get(self, key: str, revision: int | None = None, validate_keys: bool = True) -> Any:
        with _nats_errors():
            return _entry(await self._kv.get(key, revision=revision or None), from_get=True)

    async def create(self, key: str, value: bytes, validate_keys: bool = True, msg_ttl: float | None = None) -> int:
        with _nats_errors():
            return await self._kv.create(key, value, ttl=msg_ttl)

    async def update(self, key: str, value: bytes, last: int | None = None, validate_keys: bool = True) -> int:
        with _nats_errors():
            return await self._kv.update(key, value, last=last or 0)

    async def delete(
        self, key: str, last: int | None = None, validate_keys: bool = True, msg_ttl: float | None = None
    ) -> bool:
        _, errors, _ = _nats()
        try:
            with _nats_errors():
                await self._kv.delete(key, last=last if last else None)
        except errors.KeyWrongLastSequenceError as exc:  # nats.py raises the raw API error here
            raise errors.BadRequestError(code=400, err_code=10071, description=exc.description) from None
        return True

    async def purge(self, key: str, msg_ttl: float | None = None) -> bool:
        with _nats_errors():
            await self._kv.purge(key)
        return True

    async def purge_deletes(self, olderthan: int = 30 * 60) -> bool:
        await self._kv.purge_deletes(older_than=olderthan if olderthan > 0 else 0)
        return True

    async def keys(self, filters: list[str] | None = None, **kwargs: Any) -> list[str]:
        _, errors, _ = _nats()
        with _nats_errors():
            found = await self._kv.keys(*(filters or []))
        if not found:
            raise errors.NoKeysError
        return found

    async def history(self, key: str) -> list[Any]:
        _, errors, _ = _nats()
        try:
            with _nats_errors():
                return [_entry(e) for e in await self._kv.history(key)]
        except errors.KeyNotFoundError:
            raise errors.NoKeysError from None

    async def watch(
        self,
        keys: str,
        headers_only: bool = False,
        include_history: bool = False,
        ignore_deletes: bool = False,
        meta_only: bool = False,
        inactive_threshold: float | None = None,
    ) -> NatsKeyWatcher:
        with _nats_errors():
            filters = () if keys == ">" else (keys,)
            watcher = self._kv.watch(
                *filters, include_history=include_history, ignore_deletes=ignore_deletes, meta_only=meta_only
            )
        await watcher.start()
        return NatsKeyWatcher(watcher)

    async def watchall(self, **kwargs: Any) -> NatsKeyWatcher:
        return await self.watch(">", **kwargs)

    async def status(self) -> Any:
        api, _, kv = _nats()
        status = await self._kv.status()
        info = api.StreamInfo(
            config=api.StreamConfig(
                name=f"KV_{self._name}",
                max_msgs_per_subject=status.history,
                max_age=status.ttl,
                max_bytes=status.max_bytes if status.max_bytes is not None else -1,
                max_msg_size=status.max_value_size if status.max_value_size is not None else -1,
                description=status.description,
            ),
            state=api.StreamState(
                messages=status.values, bytes=status.bytes, first_seq=0, last_seq=status.last_revision, consumer_count=0
            ),
        )
        return kv.KeyValue.BucketStatus(stream_info=info, bucket=self._name)
