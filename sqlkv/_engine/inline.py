"""Lone operations on the loop: a small operation runs on the event loop's own thread while its database thread is idle.

A thread hop costs two wake-ups (the database thread's, then the loop's), and
on a small machine they are most of a point operation's time. So an
``AsyncStore(inline=True)`` runs a *lone* operation on the loop itself, on the
idle database thread's connection (:func:`call_here`), when that is cheaper
and safe:

- only the operations of :data:`INLINE_WRITES` (one key, or a short
  transaction) and :data:`INLINE_READS`, each
  through its *variant* that never touches a value over :data:`SMALL_VALUE`
  bytes (reading or freeing one walks all its overflow pages): a variant
  raises :class:`RunOnThread` instead, and the operation goes to the thread;
- only when no other operation of this loop is under way, after one yield;
- never waiting for another process's write lock (``run_writes`` with no
  busy timeout): a locked database sends the write to the thread.

Everything else about the operation (``run_writes`` / ``run_reads``, the
commit hook, the watchers' callbacks in commit order) is the thread's own code.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable
from typing import Any, Protocol

from .._model.entry import Entry
from .._runtime.request import Port, Posts, Request, StorageCall
from .._storage import atomic, ops

__all__ = [
    "INLINE_READS",
    "INLINE_TRANSACTION",
    "INLINE_WRITES",
    "SMALL_VALUE",
    "RunOnThread",
    "call_here",
    "small_values",
]

SMALL_VALUE = 16 * 1024
"""Values up to this size (bytes) may be written or read on an event loop's thread."""


class RunOnThread(Exception):
    """An operation tried on an event loop's thread found it must run on its database thread instead."""


class Borrowable(Protocol):
    """A database thread whose connection a loop may use while the thread is idle (``DatabaseThread``)."""

    def submit(self, request: Request) -> None: ...

    def enter(self) -> None: ...

    def leave(self) -> None: ...

    def run_here(self, request: Request, on_commit: Callable[[Posts], None]) -> bool: ...


def get_small(conn: sqlite3.Connection, sql: Any, key: str, revision: int | None, now: int) -> Entry:
    """``ops.get`` for an event loop's thread: RunOnThread for a revision, or a latest value over SMALL_VALUE."""
    if revision is not None:
        raise RunOnThread
    entry = ops.get_latest_within(conn, sql, key, now, SMALL_VALUE)
    if entry is None:
        raise RunOnThread
    return entry


def _small_rows_only(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The variant of a one-key write ``fn`` for an event loop's thread.

    RunOnThread if the key keeps a value over SMALL_VALUE bytes: checking the
    key's latest row or trimming an old one would walk that value's pages.
    """

    @functools.wraps(fn)
    def on_loop(conn: sqlite3.Connection, sql: Any, key: str, *args: Any) -> Any:
        if ops.holds_value_over(conn, sql, key, SMALL_VALUE):
            raise RunOnThread
        return fn(conn, sql, key, *args)

    on_loop.__name__ = on_loop.__qualname__ = f"{fn.__name__}_small"
    return on_loop


INLINE_TRANSACTION = 16
"""Transactions of up to this many checks and mutations (of small values) may run on an event loop's thread."""


def small_transaction(
    conn: sqlite3.Connection, checks: list[atomic.Check], mutations: list[atomic.Mutation], now: int
) -> list[int]:
    """``atomic.run`` for an event loop's thread: RunOnThread for a long transaction or one near a large value."""
    if len(checks) + len(mutations) > INLINE_TRANSACTION:
        raise RunOnThread
    for mutation in mutations:
        if len(mutation.value) > SMALL_VALUE or ops.holds_value_over(conn, mutation.sql, mutation.key, SMALL_VALUE):
            raise RunOnThread
    for check in checks:
        if ops.holds_value_over(conn, check.sql, check.key, SMALL_VALUE):
            raise RunOnThread
    return atomic.run(conn, checks, mutations, now)


INLINE_WRITES: dict[StorageCall, StorageCall] = {
    ops.put: _small_rows_only(ops.put),
    ops.create: _small_rows_only(ops.create),
    ops.update: _small_rows_only(ops.update),
    ops.write_marker: _small_rows_only(ops.write_marker),
    ops.incr: _small_rows_only(ops.incr),
    ops.touch: _small_rows_only(ops.touch),
    atomic.run: small_transaction,
}
"""Writes of one key (one short transaction), and the variant each runs on a loop."""

INLINE_READS: dict[StorageCall, StorageCall] = {ops.get: get_small, ops.status: ops.status}
"""Point reads, and the variant each runs on a loop."""


def small_values(args: tuple[Any, ...]) -> bool:
    """Whether no value among ``args`` is over SMALL_VALUE (larger ones are written on the writer thread)."""
    return not any(isinstance(arg, bytes) and len(arg) > SMALL_VALUE for arg in args)


async def call_here(port: Port, thread: Borrowable, fn: StorageCall, args: tuple[Any, ...], here: StorageCall) -> Any:
    """Run ``here(conn, *args)`` on this loop's thread if it is alone and ``thread`` is idle; else submit ``fn``.

    With no other operation of this loop under way, the task first lets
    every other ready task run (any operation they start meanwhile goes to
    the thread). If the database thread then has nothing to do, the operation
    runs right here, on the thread's connection: no thread hop, no wake-ups.
    Otherwise (operations under way, the thread busy, the database locked by
    another process, a large value) it goes to the thread as usual, where
    concurrent writes share one commit. A cancellation reaches the task
    before the operation started or not at all. The thread knows of the
    operation from its start (``enter``): closing the store lets it finish,
    as it lets the operations already queued.
    """
    if port.active:
        return await port.call(thread.submit, fn, args)
    thread.enter()
    try:
        port.active += 1
        try:
            await port.yield_once()
            request = Request(here, args, None)
            ran = thread.run_here(request, port.run_posts)
        finally:
            port.active -= 1
        if not ran or request.error.__class__ is RunOnThread:
            return await port.call(thread.submit, fn, args)
    finally:
        thread.leave()
    if request.error is not None:
        raise request.error
    return request.result
