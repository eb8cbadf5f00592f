"""Running a batch of requests on one connection: group commit for writes, one snapshot for reads.

The writer runs every write of a batch inside one ``BEGIN IMMEDIATE``
transaction and commits once (group commit); nothing is acknowledged before
COMMIT returned. A failed compare-and-set is the operation's own outcome and
does not disturb its neighbours; if the transaction itself fails, each
operation is run again alone so that one bad operation cannot fail the rest.
A batch of reads runs inside one read transaction.

These functions are used by the database threads, by the synchronous store
(a batch of one) and by an event loop running a lone operation itself.
"""

from __future__ import annotations

import sqlite3
import time

from .._runtime.forkgate import GATE
from .._runtime.request import Request
from .._storage.errors import SQLITE_ERRORS, NotFused, busy_too_long, is_busy, map_sqlite_error

__all__ = ["fail", "rollback", "run_reads", "run_writes"]

BUSY_PAUSES = (0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.025, 0.025, 0.025, 0.05, 0.05, 0.1)
"""Seconds between two attempts to take the write lock: SQLite's own busy-handler schedule."""


def rollback(conn: sqlite3.Connection) -> None:
    """Roll back the open transaction, if any (errors ignored: the connection is being given up on)."""
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass


FUSE_MAX = 256
"""At most this many puts in one fused statement."""


def fail(batch: list[Request], exc: Exception, path: str) -> None:
    """Give every request of ``batch`` the sqlkv error for ``exc``."""
    error = map_sqlite_error(exc, path) if isinstance(exc, SQLITE_ERRORS) else exc
    for request in batch:
        request.result, request.error = None, error


def run_writes(conn: sqlite3.Connection, batch: list[Request], path: str, busy_timeout: float | None) -> bool:
    """Run a batch of writes in one transaction (group commit), isolating failures.

    Runs inside the fork gate. The writer connection has SQLite's busy
    timeout off: while another process holds the write lock this waits here
    (outside the fork gate), up to ``busy_timeout`` seconds, then fails the
    batch with StoreBusyError. With ``busy_timeout=None`` it does not wait: it
    returns False and leaves the batch untouched (run it elsewhere).
    """
    journal = getattr(conn, "journal", None)
    mark = len(journal) if journal is not None else 0
    deadline: float | None = None
    attempt = 0
    try:
        while not _run_writes_once(conn, batch, path, busy_timeout):
            if busy_timeout is None:
                return False
            now = time.monotonic()
            if deadline is None:
                deadline = now + busy_timeout
            if now >= deadline:
                fail(batch, busy_too_long(path, busy_timeout), path)
                break
            with GATE.stepped_out():  # holding no SQLite lock: a fork need not wait for this sleep
                time.sleep(min(BUSY_PAUSES[min(attempt, len(BUSY_PAUSES) - 1)], deadline - now))
            attempt += 1
    except BaseException:
        # KeyboardInterrupt or a signal handler's exception on the caller's thread (a loop or a sync caller):
        # nothing of the batch was acknowledged; leave no transaction open and no rolled-back row journaled.
        if conn.in_transaction:
            rollback(conn)
            if journal is not None:
                del journal[mark:]
        raise
    return True


def _run_writes_once(conn: sqlite3.Connection, batch: list[Request], path: str, busy_timeout: float | None) -> bool:
    """One attempt; False (nothing written, batch untouched) if the write lock was taken."""
    if not batch:
        return True
    journal = getattr(conn, "journal", None)
    mark = len(journal) if journal is not None else 0
    single = getattr(batch[0].fn, "single_statement", None) if len(batch) == 1 else None
    if single is not None and single(batch[0].args):
        # One INSERT (its triggers included) is atomic and durable on its own in autocommit mode.
        try:
            batch[0].run(conn)
        except Exception as exc:
            if is_busy(exc):
                return False
            fail(batch, exc, path)
        return True
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        if is_busy(exc):
            return False
        fail(batch, exc, path)
        return True
    try:
        run_requests(conn, batch)
        conn.execute("COMMIT")
    except Exception as exc:
        rollback(conn)
        if journal is not None:
            del journal[mark:]  # those rows were rolled back
        if len(batch) == 1:
            fail(batch, exc, path)
        else:
            for request in batch:  # nothing of the rolled-back attempt may look like an answer
                request.result, request.error = None, None
            for request in batch:
                run_writes(conn, [request], path, busy_timeout or 0.0)
    return True


def run_requests(conn: sqlite3.Connection, batch: list[Request]) -> None:
    """Run a batch's requests in order; consecutive fusable ones (plain puts to one bucket) in one statement.

    An operation ``fn`` with a ``fuse`` attribute (``fuse(conn, sql, [args, ...])``)
    and a ``single_statement`` test is fused with the requests after it that
    call the same ``fn`` on the same bucket, in groups of a power of two (so
    that few statement texts are cached). If a fused statement fails (NotFused),
    it has written nothing, and its requests run one by one for their own
    outcomes; any other error fails the batch, which is then run op by op.
    """
    index, count = 0, len(batch)
    while index < count:
        request = batch[index]
        size = _fusable(batch, index)
        if size == 1:
            request.run(conn)
        else:
            group = batch[index : index + size]
            fuse = request.fn.fuse  # type: ignore[attr-defined]
            try:
                revisions = fuse(conn, request.args[0], [member.args for member in group])
            except NotFused:  # nothing was written: each request finds its own outcome
                for member in group:
                    member.run(conn)
            else:
                for member, revision in zip(group, revisions, strict=True):
                    member.result = revision
        index += size


def _fusable(batch: list[Request], index: int) -> int:
    """How many requests from ``index`` on to fuse: a power of two (1: run this one alone)."""
    request, count = batch[index], len(batch)
    fits = getattr(request.fn, "single_statement", None) if hasattr(request.fn, "fuse") else None
    if fits is None or index + 1 == count or not fits(request.args):
        return 1
    bucket_id = request.args[0].bucket_id
    end = index + 1
    while end < count and end - index < FUSE_MAX:
        other = batch[end]
        if other.fn is not request.fn or other.args[0].bucket_id != bucket_id or not fits(other.args):
            break
        end += 1
    return 1 << ((end - index).bit_length() - 1)


def run_reads(conn: sqlite3.Connection, batch: list[Request], path: str) -> None:
    """Run a batch of reads on one snapshot (a single read needs none)."""
    if len(batch) <= 1:
        for request in batch:
            try:
                request.run(conn)
            except Exception as exc:
                fail([request], exc, path)
        return
    try:
        conn.execute("BEGIN")
    except sqlite3.Error as exc:
        fail(batch, exc, path)
        return
    for request in batch:
        try:
            request.run(conn)
        except Exception as exc:
            fail([request], exc, path)
    try:
        conn.execute("COMMIT")
    except sqlite3.Error:
        rollback(conn)
