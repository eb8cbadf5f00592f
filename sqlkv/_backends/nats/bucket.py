"""``AsyncBucket`` of a NATS store: a KV_<name> stream, through nats-py's ``KeyValue`` and JetStream calls."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any

from ..._api.arguments import ImportRow
from ..._api.async_interface import AsyncBucket
from ..._model.config import BucketConfig
from ..._model.entry import BucketStatus, Entry, Operation, make_entry
from ..._model.errors import (
    KeyDeletedError,
    KeyExistsError,
    KeyNotFoundError,
    StoreBusyError,
    UnsupportedError,
    WrongLastRevisionError,
)
from ..._model.validate import add_to_counter, parse_counter
from ..._model.watch_options import WatchOptions
from .errors import bucket_errors, message_ns, nats, ns
from .session import Session
from .watcher import NatsWatcher, expires_ns, operation_of, optional_ns

__all__ = ["CREATE_ATTEMPTS", "INCR_ATTEMPTS", "NatsBucket", "config_of", "nats_ttl"]

INCR_ATTEMPTS = 100
"""How many compare-and-set rounds ``incr`` tries on NATS before giving up with StoreBusyError."""
CREATE_ATTEMPTS = 100
"""How many compare-and-set rounds ``create`` tries while the key's latest entry keeps being a new marker."""
_EXPECTED = "Nats-Expected-Last-Subject-Sequence"

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def config_of(info: Any) -> BucketConfig:
    """A bucket's configuration from its stream's info."""
    config = info.config
    return BucketConfig(
        history=max(1, config.max_msgs_per_subject or 1),
        ttl=config.max_age or None,
        max_value_size=None if (config.max_msg_size or -1) < 0 else config.max_msg_size,
        max_bytes=None if (config.max_bytes or -1) < 0 else config.max_bytes,
        description=config.description or None,
        marker_ttl=getattr(config, "subject_delete_marker_ttl", None) or None,
    )


def nats_ttl(ttl: float, what: str) -> str:
    """A TTL as a ``Nats-TTL`` header value (a Go duration); NATS takes nothing under a second."""
    if ttl < 1:
        raise UnsupportedError(f"{what} of {ttl} s is not supported on a nats:// store: NATS needs at least 1 s")
    return f"{round(ttl * 1000)}ms"


def _no_ttl(ttl: float | None, operation: str) -> None:
    if ttl is not None:
        raise UnsupportedError(
            f"per-key TTL on {operation} is not supported on a nats:// store: NATS keeps a TTL per revision, "
            "so older history would come back when it expires; use create(..., ttl=)"
        )


class NatsBucket(AsyncBucket):
    """``AsyncBucket`` of a NATS store."""

    def __init__(self, session: Session, name: str, kv: Any, config: BucketConfig) -> None:
        self._session = session
        self._kv = kv
        self._name = name
        self.config = config
        self._stream = f"KV_{name}"

    @property
    def name(self) -> str:
        return self._name

    def _entry(
        self, key: str, value: bytes | None, revision: int, created_ns: int, delta: int, op: Operation, headers: Any
    ) -> Entry:
        """An entry of this bucket from a message's parts (``expires``: its ``Nats-TTL`` header, the bucket TTL)."""
        expires = expires_ns(created_ns, headers, self.config.ttl)
        return make_entry(self._name, key, value or b"", revision, created_ns, delta, int(op), expires)

    async def _put(self, key: str, data: bytes, ttl: float | None) -> int:
        _no_ttl(ttl, "put")
        self._session.check_open()
        async with bucket_errors(self._name):
            revision: int = await self._kv.put(key, data)
        return revision

    async def _create(self, key: str, data: bytes, ttl: float | None) -> int:
        """A compare-and-set on "no message", then on the newest marker while the latest entry is one.

        Refused (KeyExistsError, ``actual`` = its revision) only when a live
        value was read: a delete or purge landing between the read and the
        compare-and-set only moves the marker, and the next round compares
        against the new one (nats-py and nats.go report that race as "key
        exists"; see docs/semantics.md).
        """
        self._session.check_open()
        expected = 0
        for _ in range(CREATE_ATTEMPTS):
            try:
                return await self._publish(key, data, expected, ttl)
            except WrongLastRevisionError:
                pass
            revision, live = await self.latest(key)
            if live:
                raise KeyExistsError(key, revision)
            expected = revision
        raise StoreBusyError(
            f"create({key!r}): a new delete or purge marker landed before each of {CREATE_ATTEMPTS} compare-and-set "
            "attempts"
        )

    async def _publish(self, key: str, data: bytes, expected: int, ttl: float | None) -> int:
        """Publish a value if the key's latest revision is ``expected`` (0: none); WrongLastRevisionError if not."""
        headers = {_EXPECTED: str(expected)}
        if ttl is not None:
            headers["Nats-TTL"] = nats_ttl(ttl, "a per-key TTL")
        async with bucket_errors(self._name):
            ack = await self._session.js.publish(f"$KV.{self._name}.{key}", data, headers=headers)
        return int(ack.seq)

    async def latest(self, key: str) -> tuple[int, bool]:
        """The revision of the key's latest message (0: none) and whether it is a live value (not a marker)."""
        msg = await self._latest_message(key)
        if msg is None:
            return 0, False
        return int(msg.seq), operation_of(msg.headers) is Operation.PUT

    async def _latest_message(self, key: str) -> Any:
        """The key's latest message (a value or a marker), or None."""
        _, _, errors = nats()
        js = self._session.js
        try:
            return await js.get_msg(self._stream, subject=f"$KV.{self._name}.{key}", direct=True)
        except errors.NotFoundError:
            return None

    async def _update(self, key: str, data: bytes, last: int, ttl: float | None) -> int:
        _no_ttl(ttl, "update")
        self._session.check_open()
        try:
            async with bucket_errors(self._name):
                revision: int = await self._kv.update(key, data, last=last)
        except WrongLastRevisionError as exc:
            raise WrongLastRevisionError(key, last, exc.actual) from None
        return revision

    async def _marker(self, key: str, op: Operation, last: int | None, ttl: float | None = None) -> int:
        headers = {"KV-Operation": op.name}
        if op is Operation.PURGE:
            headers["Nats-Rollup"] = "sub"
        if ttl is not None:
            headers["Nats-TTL"] = nats_ttl(ttl, "a purge TTL")
        if last is not None:
            headers["Nats-Expected-Last-Subject-Sequence"] = str(last)
        js = self._session.js
        try:
            async with bucket_errors(self._name):
                ack = await js.publish(f"$KV.{self._name}.{key}", b"", headers=headers)
        except WrongLastRevisionError as exc:
            raise WrongLastRevisionError(key, last or 0, exc.actual) from None
        return int(ack.seq)

    async def _incr(self, key: str, by: int, ttl: float | None) -> tuple[int, int]:
        """A bounded compare-and-set loop: NATS has no server-side increment."""
        _no_ttl(ttl, "incr")
        for _ in range(INCR_ATTEMPTS):
            try:
                entry = await self._get(key, None)
            except KeyNotFoundError:  # absent, deleted or expired: counts from 0, written as a create
                total = add_to_counter(key, 0, by)
                try:
                    return await self._create(key, b"%d" % total, None), total
                except KeyExistsError:
                    continue
            total = add_to_counter(key, parse_counter(key, entry.value), by)
            try:
                return await self._update(key, b"%d" % total, entry.revision, None), total
            except WrongLastRevisionError:
                continue
        raise StoreBusyError(f"incr({key!r}): the key changed under each of {INCR_ATTEMPTS} compare-and-set attempts")

    async def _touch(self, key: str, ttl: float | None) -> int:
        raise UnsupportedError(
            "touch() is not supported on a nats:// store: NATS keeps a TTL per message and cannot move it "
            "without writing a new revision"
        )

    async def _get_many(self, keys: list[str]) -> dict[str, Entry]:
        """One direct get per key (NATS has no snapshot across keys)."""
        found: dict[str, Entry] = {}
        for key in keys:
            if key not in found:
                try:
                    found[key] = await self._get(key, None)
                except KeyNotFoundError:
                    pass
        return found

    async def _scan(
        self, options: WatchOptions, start: str, end: str | None, limit: int | None, reverse: bool, values: bool
    ) -> AsyncIterator[Any]:
        """The latest entries from an ordered consumer (one watch per filter), sorted here."""
        latest: dict[str, Entry] = {}
        for pattern in options.filters or (">",):
            async with self.watch(pattern, ignore_deletes=True, meta_only=not values) as watcher:
                for entry in await watcher.initial():
                    if start <= entry.key and (end is None or entry.key < end):
                        latest[entry.key] = entry
        found = sorted(latest, reverse=reverse)
        for key in found if limit is None else found[:limit]:
            yield latest[key] if values else key

    async def _get(self, key: str, revision: int | None) -> Entry:
        _, _, errors = nats()
        subject = f"$KV.{self._name}.{key}"
        if revision is None:
            msg = await self._latest_message(key)
        else:
            try:
                msg = await self._session.js.get_msg(self._stream, seq=revision, direct=True)
            except errors.NotFoundError:  # no message: that revision does not exist
                msg = None
        if msg is None:
            raise KeyNotFoundError(key)
        if msg.subject != subject:
            raise KeyNotFoundError(key, f"key not found: {key} (no revision {revision} of this key)")
        if (msg.headers or {}).get("Nats-Marker-Reason"):
            raise KeyNotFoundError(key)  # a limit marker: the key expired
        op = operation_of(msg.headers)
        if op is not Operation.PUT:
            raise KeyDeletedError(key, msg.seq, op)
        return self._entry(key, msg.data, msg.seq, message_ns(msg), 0, op, msg.headers)

    async def _history(self, key: str) -> list[Entry]:
        """Read with this store's own watcher rather than nats-py's ``history()``, whose end-of-initial signal can
        come too early (nats.py#842, still so in nats-py 2.16.0)."""
        async with self.watch(key, include_history=True) as watcher:
            entries = await watcher.initial()
        if not entries or entries[-1].operation is Operation.EXPIRE:  # expired: absent, as on SQLite
            raise KeyNotFoundError(key)
        kept = [e for e in entries if e.operation is not Operation.EXPIRE]
        last = len(kept) - 1
        return [
            make_entry(
                e.bucket, e.key, e.value, e.revision, ns(e.created), last - i, int(e.operation), optional_ns(e.expires)
            )
            for i, e in enumerate(kept)
        ]

    async def _keys(self, options: WatchOptions) -> list[str]:
        """Server-side subject filters, one watch each."""
        found: set[str] = set()
        for pattern in options.filters or (">",):
            async with self.watch(pattern, ignore_deletes=True, meta_only=True) as watcher:
                found.update(entry.key for entry in await watcher.initial())
        return sorted(found)

    async def _purge_deletes(self, older_than: float) -> int:
        self._session.check_open()
        async with bucket_errors(self._name):
            await self._kv.purge_deletes(olderthan=older_than if older_than > 0 else -1)
        return 0

    async def _status(self) -> BucketStatus:
        """Counts and configuration, from the stream (``keys`` is counted by listing them)."""
        js = self._session.js
        async with bucket_errors(self._name):
            info = await js.stream_info(self._stream)
        config = config_of(info)
        return BucketStatus(
            bucket=self._name,
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
            marker_ttl=config.marker_ttl,
            config=config,
        )

    def _watch(self, options: WatchOptions) -> NatsWatcher:
        """An ordered consumer on the watched subjects."""
        filters = options.filters
        subject = f"$KV.{self._name}.{filters[0]}" if len(filters) == 1 else f"$KV.{self._name}.>"
        matcher = None if len(filters) <= 1 else options.matcher
        return NatsWatcher(self._session, self._name, subject, matcher, options, self.config.ttl)

    def _check_lock(self) -> None:
        raise UnsupportedError("kv.lock() needs per-key TTL on update, which a nats:// store cannot provide")

    async def _import_entries(self, rows: list[ImportRow]) -> int:
        raise UnsupportedError("import_entries() keeps revisions, which a NATS stream assigns itself: use put()")
