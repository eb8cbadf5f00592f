"""An atomic transaction: checks, then mutations across buckets, all or nothing, as one unit of a write batch.

Runs inside the writer's transaction like any write operation, within its own
``SAVEPOINT``: every check is evaluated first, against the state before any
mutation (all failures are reported together); then the mutations apply in
order, each by its own operation's rules. If anything fails, the savepoint is
rolled back: nothing of the transaction is written, and the neighbours in the
same group commit are untouched.
"""

from __future__ import annotations

import sqlite3

from .._model.entry import Operation
from .._model.errors import AtomicCheckError, CheckFailure, SqlkvError, name_mutation
from . import ops
from .statements import BucketSQL

__all__ = ["Check", "Mutation", "run"]


class Check:
    """``key`` of a bucket must have latest revision ``last`` (0: no row)."""

    __slots__ = ("key", "last", "sql")

    def __init__(self, sql: BucketSQL, key: str, last: int) -> None:
        self.sql = sql
        self.key = key
        self.last = last


class Mutation:
    """One write of a transaction: ``kind`` is put, create, update, delete, purge or incr.

    ``value`` is the value (put, create, update), ``last`` the revision to
    compare with (update; optional for delete and purge), ``by`` the increment
    (incr), ``expires`` the key's new deadline in ns (None: none).
    """

    __slots__ = ("by", "expires", "key", "kind", "last", "sql", "value")

    def __init__(
        self,
        kind: str,
        sql: BucketSQL,
        key: str,
        *,
        value: bytes = b"",
        last: int | None = None,
        by: int = 0,
        expires: int | None = None,
    ) -> None:
        self.kind = kind
        self.sql = sql
        self.key = key
        self.value = value
        self.last = last
        self.by = by
        self.expires = expires

    def describe(self) -> str:
        """``"put orders/o.7"``: how an error names this mutation."""
        return f"{self.kind} {self.sql.bucket}/{self.key}"

    def apply(self, conn: sqlite3.Connection, now: int) -> int:
        """Write it (its own operation's rules); return its revision."""
        kind, sql, key = self.kind, self.sql, self.key
        if kind == "put":
            return ops.put(conn, sql, key, self.value, now, self.expires)
        if kind == "create":
            return ops.create(conn, sql, key, self.value, now, self.expires)
        if kind == "update":
            assert self.last is not None
            return ops.update(conn, sql, key, self.value, self.last, now, self.expires)
        if kind == "incr":
            return ops.incr(conn, sql, key, self.by, now, self.expires)[0]
        if kind == "delete":
            return ops.write_marker(conn, sql, key, Operation.DEL, self.last, now)
        return ops.write_marker(conn, sql, key, Operation.PURGE, self.last, now, self.expires)


def run(conn: sqlite3.Connection, checks: list[Check], mutations: list[Mutation], now: int) -> list[int]:
    """Run a transaction inside the open write transaction; return each mutation's revision, in order.

    AtomicCheckError lists every failing check; a refused mutation raises its
    own error, naming the mutation. Either way nothing was written.
    """
    failures: list[CheckFailure] = []
    for check in checks:
        actual = ops.latest_revision(conn, check.sql, check.key, now)
        if actual != check.last:
            failures.append(CheckFailure(check.sql.bucket, check.key, check.last, actual))
    if failures:
        raise AtomicCheckError(failures)
    if not mutations:
        return []
    journal = getattr(conn, "journal", None)
    mark = len(journal) if journal is not None else 0
    conn.execute("SAVEPOINT sqlkv_atomic")
    revisions: list[int] = []
    try:
        for mutation in mutations:
            revisions.append(mutation.apply(conn, now))  # noqa: PERF401 - len(revisions) names a failure
    except BaseException as exc:
        if conn.in_transaction:  # (an I/O error may have rolled back the whole transaction already)
            try:
                conn.execute("ROLLBACK TO sqlkv_atomic")
                conn.execute("RELEASE sqlkv_atomic")
            except sqlite3.Error:
                pass  # the batch fails as a whole and is rolled back
        if journal is not None:
            del journal[mark:]  # those rows were rolled back
        if isinstance(exc, SqlkvError):
            index = len(revisions)  # the mutation that failed
            raise name_mutation(exc, index, mutations[index].describe()) from None
        raise
    conn.execute("RELEASE sqlkv_atomic")
    return revisions
