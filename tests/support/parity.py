"""Run the same KV scenario against sqlkv and a real NATS server and normalise the outcomes.

Each adapter exposes the same coroutine methods and raises :class:`Outcome`
for an error, named by kind (``not_found``, ``deleted``, ``wrong_last``,
``key_exists``, ``invalid_key``) with the revision the error reports, so that
the two logs can be compared item by item. Adapters record every deliberate
difference they had to smooth over in ``differences``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import sqlkv

Step = tuple[Any, ...]
EntryTuple = tuple[str, bytes, int, str]


class Outcome(Exception):
    """A normalised error outcome."""

    def __init__(self, kind: str, revision: int | None = None) -> None:
        super().__init__(kind, revision)
        self.kind = kind
        self.revision = revision


def _entry(e: sqlkv.Entry) -> EntryTuple:
    return (e.key, e.value, e.revision, e.operation.name)


class SqlkvAdapter:
    """sqlkv behind the normalised interface."""

    def __init__(self, kv: sqlkv.AsyncBucket) -> None:
        self.kv = kv
        self.differences: list[str] = []

    async def call(self, fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
        try:
            return await fn(*args, **kwargs)
        except sqlkv.KeyDeletedError:
            raise Outcome("deleted") from None
        except sqlkv.KeyNotFoundError:
            raise Outcome("not_found") from None
        except sqlkv.KeyExistsError as exc:
            raise Outcome("key_exists", exc.actual) from None
        except sqlkv.WrongLastRevisionError as exc:
            raise Outcome("wrong_last", exc.actual) from None
        except sqlkv.InvalidKeyError:
            raise Outcome("invalid_key") from None

    async def put(self, key: str, value: bytes) -> int:
        return int(await self.call(self.kv.put, key, value))

    async def get(self, key: str, revision: int | None = None) -> EntryTuple:
        return _entry(await self.call(self.kv.get, key, revision=revision))

    async def create(self, key: str, value: bytes) -> int:
        return int(await self.call(self.kv.create, key, value))

    async def update(self, key: str, value: bytes, last: int) -> int:
        return int(await self.call(self.kv.update, key, value, last=last))

    async def delete(self, key: str, last: int | None = None) -> int:
        return int(await self.call(self.kv.delete, key, last=last))

    async def purge(self, key: str, last: int | None = None) -> int:
        return int(await self.call(self.kv.purge, key, last=last))

    async def keys(self, *filters: str) -> list[str]:
        return list(await self.call(self.kv.keys, *filters))

    async def history(self, key: str) -> list[EntryTuple]:
        return [_entry(e) for e in await self.call(self.kv.history, key)]


_SEQ_RE = re.compile(r"wrong last sequence: (\d+)")


def _nats_revision(exc: BaseException) -> int:
    match = _SEQ_RE.search(str(exc))
    assert match, f"unexpected NATS error text: {exc}"
    return int(match.group(1))


class NatsAdapter:
    """A NATS KV bucket (through nats-py) behind the normalised interface.

    Delete and purge publish the KV protocol's marker messages directly
    (``KV-Operation``, ``Nats-Rollup``, ``Nats-Expected-Last-Subject-Sequence``
    headers, exactly what the clients send) so that the marker's revision is
    known and purge can carry a CAS revision, which nats-py's ``purge`` lacks.
    Key listings with filters use a server-side filtered watch.
    """

    def __init__(self, js: Any, kv: Any, bucket: str) -> None:
        self.js = js
        self.kv = kv
        self.bucket = bucket
        self.differences: list[str] = []

    async def call(self, fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
        from nats.js import errors

        try:
            return await fn(*args, **kwargs)
        except errors.KeyNotFoundError as exc:
            raise Outcome("deleted" if getattr(exc, "op", None) else "not_found") from None
        except errors.NoKeysError:
            raise Outcome("not_found") from None
        except errors.KeyWrongLastSequenceError as exc:
            raise Outcome("wrong_last", _nats_revision(exc)) from None
        except errors.InvalidKeyError:
            raise Outcome("invalid_key") from None
        except errors.BadRequestError as exc:
            if exc.err_code == 10071:
                raise Outcome("wrong_last", _nats_revision(exc)) from None
            raise

    async def put(self, key: str, value: bytes) -> int:
        return int(await self.call(self.kv.put, key, value))

    async def get(self, key: str, revision: int | None = None) -> EntryTuple:
        e = await self.call(self.kv.get, key, revision=revision)
        return (e.key, e.value or b"", e.revision, e.operation or "PUT")

    async def create(self, key: str, value: bytes) -> int:
        try:
            return int(await self.call(self.kv.create, key, value))
        except Outcome as outcome:
            if outcome.kind == "wrong_last":
                raise Outcome("key_exists", outcome.revision) from None
            raise

    async def update(self, key: str, value: bytes, last: int) -> int:
        return int(await self.call(self.kv.update, key, value, last=last))

    async def _marker(self, key: str, op: str, last: int | None) -> int:
        from nats.js import errors

        if not sqlkv_key_ok(key):
            raise Outcome("invalid_key")
        headers = {"KV-Operation": op}
        if op == "PURGE":
            headers["Nats-Rollup"] = "sub"
        if last is not None:
            headers["Nats-Expected-Last-Subject-Sequence"] = str(last)
        try:
            ack = await self.js.publish(f"$KV.{self.bucket}.{key}", b"", headers=headers)
        except errors.BadRequestError as exc:
            if exc.err_code == 10071:
                raise Outcome("wrong_last", _nats_revision(exc)) from None
            raise
        return int(ack.seq)

    async def delete(self, key: str, last: int | None = None) -> int:
        return await self._marker(key, "DEL", last)

    async def purge(self, key: str, last: int | None = None) -> int:
        return await self._marker(key, "PURGE", last)

    async def keys(self, *filters: str) -> list[str]:
        from nats.js import errors

        if not filters:
            for _ in range(4):  # nats.py#842: its keys() may find none right after writes: ask again
                try:
                    return sorted(await self.kv.keys())
                except errors.NoKeysError:
                    pass
            self.differences.append("keys() of an empty bucket: NATS raises NoKeysError, sqlkv gives []")
            return []
        found: set[str] = set()
        for pattern in filters:
            for _ in range(4):  # nats.py#842: its watcher may say "no more" before the initial entries: ask again
                watcher = await self.kv.watch(pattern, ignore_deletes=True, meta_only=True)
                while (entry := await watcher.updates(timeout=5)) is not None:
                    found.add(entry.key)
                await watcher.stop()
                if found:
                    break
        return sorted(found)

    async def history(self, key: str) -> list[EntryTuple]:
        """nats-py's history, retried when it wrongly says there are no keys (nats.py#842: its watcher
        signals the end of the initial entries before delivering them)."""
        from nats.js import errors

        for attempt in range(5):
            try:
                entries = await self.call(self.kv.history, key)
                return [(e.key, e.value or b"", e.revision, e.operation or "PUT") for e in entries]
            except Outcome as outcome:
                if outcome.kind != "not_found" or attempt == 4:
                    raise
                try:
                    await self.js.get_msg(f"KV_{self.bucket}", subject=f"$KV.{self.bucket}.{key}")
                except errors.NotFoundError:
                    raise outcome from None  # really none
        raise AssertionError("unreachable")


def sqlkv_key_ok(key: str) -> bool:
    from sqlkv._model.validate import check_key

    try:
        check_key(key)
    except sqlkv.InvalidKeyError:
        return False
    return True


async def run_steps(adapter: SqlkvAdapter | NatsAdapter, steps: list[Step]) -> list[Any]:
    """Run ``steps`` (``(method, *args)``) and return each step's result or error outcome."""
    log: list[Any] = []
    for method, *args in steps:
        try:
            result = await getattr(adapter, method)(*args)
        except Outcome as outcome:
            result = ("error", outcome.kind, outcome.revision)
        log.append(result)
    return log
