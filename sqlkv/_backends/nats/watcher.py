"""``AsyncWatcher`` of a NATS store: a JetStream ordered consumer with an explicit end of the initial entries."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from ..._api.async_interface import AsyncWatcher
from ..._model.entry import Entry, Operation, make_entry
from ..._model.errors import RevisionGapError
from ..._model.validate import KeyMatcher
from ..._model.watch_options import WatchOptions
from .errors import message_ns, nats, ns
from .session import Session

__all__ = ["OPERATIONS", "NatsWatcher", "expires_ns", "operation_of"]

OPERATIONS = {None: Operation.PUT, "DEL": Operation.DEL, "PURGE": Operation.PURGE}
"""A message's ``KV-Operation`` header as an operation (anything else: a limit marker, read as PURGE)."""
MARKER_REASONS = {"MaxAge": Operation.EXPIRE, "Purge": Operation.PURGE, "Remove": Operation.DEL}
"""A server-written limit marker (``Nats-Marker-Reason``, ADR-43): an expiry is sqlkv's EXPIRE entry."""


def operation_of(headers: Any) -> Operation:
    """What a message of a KV stream is, from its headers (the one reading of them: stores, watchers, replicas).

    ``KV-Operation`` says PUT (absent), DEL or PURGE; a server's limit marker
    (``Nats-Marker-Reason``, no ``KV-Operation``) is read by its reason: an
    expiry (``MaxAge``) is an EXPIRE entry.
    """
    headers = headers or {}
    kind = headers.get("KV-Operation")
    if kind is None and headers.get("Nats-Marker-Reason"):
        return MARKER_REASONS.get(headers["Nats-Marker-Reason"], Operation.PURGE)
    return OPERATIONS.get(kind, Operation.PURGE)


_DURATION = re.compile(r"(\d+(?:\.\d*)?)(ns|us|µs|ms|s|m|h)")
_UNIT_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}


def _ttl_header_ns(text: str | None) -> int | None:
    """A ``Nats-TTL`` header in nanoseconds: seconds (nats-py) or a Go duration (``"1m30s"``); None: no TTL."""
    if not text:
        return None
    text = text.strip()
    if text.isdigit():
        return int(text) * 10**9
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None  # "never", or a form this reader does not know
    return round(sum(float(number) * _UNIT_NS[unit] for number, unit in parts))


def expires_ns(created_ns: int, headers: Any, bucket_ttl: float | None) -> int | None:
    """When a message expires: its own ``Nats-TTL`` or the stream's ``max_age``, from its time, whichever is sooner."""
    ttl = _ttl_header_ns(headers.get("Nats-TTL")) if headers else None
    if bucket_ttl:
        aged = round(bucket_ttl * 1e9)
        ttl = aged if ttl is None or aged < ttl else ttl
    return None if ttl is None or not created_ns else created_ns + ttl


def optional_ns(moment: Any) -> int | None:
    """``moment`` in nanoseconds since the epoch; None stays None."""
    return None if moment is None else ns(moment)


class NatsWatcher(AsyncWatcher):
    """The AsyncWatcher interface (initial_done, initial(), async iteration) on a JetStream ordered consumer."""

    def __init__(
        self,
        session: Session,
        bucket: str,
        subject: str,
        matcher: KeyMatcher | None,
        options: WatchOptions,
        ttl: float | None = None,
    ) -> None:
        self._session = session
        self._ttl = ttl
        self._bucket = bucket
        self._stream = f"KV_{bucket}"
        self._subject = subject
        self._matcher = matcher
        self._options = options
        self._sub: Any = None
        self._initial_left: int | None = None
        self._pending: list[Entry] = []
        self._closed = False
        self._last_revision = 0
        self._gaps = 0
        self._gone: list[int] = []
        """Sorted sequences in the watcher's range found missing at its start (not yet passed)."""
        self._gap_error: RevisionGapError | None = None

    @property
    def initial_done(self) -> bool:
        return self._initial_left == 0 and not self._pending

    @property
    def gaps(self) -> int:
        return self._gaps

    @property
    def last_revision(self) -> int:
        return self._last_revision

    async def start(self) -> None:
        # An ordered consumer; then the initial entries, until one says nothing more is pending.
        _, api, _ = nats()
        session = self._session
        js = session.js
        o = self._options
        if o.updates_only:
            policy, extra = api.DeliverPolicy.NEW, {}
        elif o.from_revision is not None:
            policy, extra = api.DeliverPolicy.BY_START_SEQUENCE, {"opt_start_seq": o.from_revision}
        elif o.include_history:
            policy, extra = api.DeliverPolicy.ALL, {}
        else:
            policy, extra = api.DeliverPolicy.LAST_PER_SUBJECT, {}
        self._sub = await js.subscribe(
            self._subject,
            stream=self._stream,
            ordered_consumer=True,
            deliver_policy=policy,
            headers_only=o.meta_only or None,
            config=api.ConsumerConfig(deliver_policy=policy, **extra) if extra else None,
        )
        session.watchers.add(self)
        self._initial_left = 0
        if o.updates_only:
            return
        if o.from_revision is not None:
            await self._find_gaps(o.from_revision)
        await asyncio.sleep(0)
        info = await self._sub.consumer_info()
        if info.num_pending == 0 and self._sub.delivered == 0 and not await self._stream_has_matches():
            return  # nothing to deliver initially
        self._initial_left = 1
        while self._initial_left:  # the initial entries, until one says nothing more is pending
            self._collect(await self._sub.next_msg(timeout=30), initial=True)

    async def _find_gaps(self, start: int) -> None:
        """The sequences from ``start`` to the stream's last that are gone (below its first, or deleted).

        A stream sequence is one message of some subject; a filtered consumer
        skips other subjects' messages, which are still stored, so only a
        sequence the stream no longer holds is a gap.
        """
        js = self._session.js
        prefix = getattr(js, "_prefix", "$JS.API")
        reply = await self._session.nc.request(
            f"{prefix}.STREAM.INFO.{self._stream}", json.dumps({"deleted_details": True}).encode(), timeout=10
        )
        state = json.loads(reply.data).get("state", {})
        first, last = int(state.get("first_seq", 0)), int(state.get("last_seq", 0))
        if last < start:
            return
        gone = list(range(start, min(first, last + 1)))
        gone.extend(seq for seq in sorted(state.get("deleted") or ()) if seq >= max(start, first) and seq <= last)
        if not gone:
            return
        self._gaps += len(gone)
        if self._options.on_gap == "raise":
            self._gone = gone

    def _passes_gap(self, revision: int) -> bool:
        """Whether delivering ``revision`` would pass a gap (on_gap="raise"): then the error waits its turn."""
        gone = self._gone
        if not gone or revision < gone[0]:
            return False
        if self._gap_error is None:
            first = gone[0]
            run = 1
            while run < len(gone) and gone[run] == first + run:
                run += 1
            self._gap_error = RevisionGapError(self._bucket, first, first + run, len(gone))
        return True

    async def _stream_has_matches(self) -> bool:
        """Whether the stream holds messages on the watched subjects (latest/all modes).

        A consumer's first info can report 0 pending before it has counted them;
        the stream's per-subject counts settle the question.
        """
        if self._options.from_revision is not None:
            return False
        info = await self._session.js.stream_info(self._stream, subjects_filter=self._subject)
        return bool(info.state.subjects)

    def _collect(self, msg: Any, *, initial: bool) -> None:
        meta = msg.metadata
        if initial:
            self._initial_left = meta.num_pending
        key = msg.subject.split(".", 2)[2]
        headers = msg.headers or {}
        op = operation_of(headers)
        if self._passes_gap(meta.sequence.stream):
            return
        self._last_revision = meta.sequence.stream
        if self._options.ignore_deletes and op is not Operation.PUT:
            return
        if self._matcher is not None and not self._matcher(key):
            return
        value = b"" if self._options.meta_only else msg.data
        created = message_ns(msg)
        expires = expires_ns(created, headers, self._ttl)
        self._pending.append(
            make_entry(self._bucket, key, value or b"", meta.sequence.stream, created, meta.num_pending, op, expires)
        )

    async def initial(self) -> list[Entry]:
        taken, self._pending = self._pending, []
        last = len(taken) - 1
        return [
            make_entry(
                e.bucket, e.key, e.value, e.revision, ns(e.created), last - i, int(e.operation), optional_ns(e.expires)
            )
            for i, e in enumerate(taken)
        ]

    async def __anext__(self) -> Entry:
        client, _, _ = nats()
        while not self._pending:
            if self._gap_error is not None:
                error, self._gap_error = self._gap_error, None
                await self.aclose()
                raise error
            if self._closed or self._session.closed:
                raise StopAsyncIteration
            try:
                msg = await self._sub.next_msg(timeout=None)
            except (client.errors.ConnectionClosedError, client.errors.BadSubscriptionError, asyncio.CancelledError):
                if self._closed:
                    raise StopAsyncIteration from None
                raise
            self._collect(msg, initial=False)
        return self._pending.pop(0)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._session.watchers.discard(self)
        if self._sub is not None:
            try:
                await self._sub.unsubscribe()
            except Exception:
                pass

    def close(self) -> None:
        # The unsubscribe is scheduled on the running loop (nats-py runs on asyncio); without one, there is
        # no connection left to unsubscribe from.
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self._closed = True
            self._session.watchers.discard(self)
            return
        asyncio.ensure_future(self.aclose())  # noqa: RUF006 - fire and forget
