"""Atomic transactions as the user writes them: ``async with store.atomic() as tx`` records, the exit commits.

The block only records checks and mutations (each checked as it is
recorded: a bad key, value or revision raises at once, naming the mutation).
On a clean exit the store runs them as one all-or-nothing unit
(``store._atomic(steps)``); an exception in the block commits nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from types import TracebackType

from .._model.errors import InvalidArgumentError, SqlkvError, TransactionTooLargeError, name_mutation
from .._model.validate import COUNTER_MAX, COUNTER_MIN, check_bucket_name, check_key, check_revision, coerce_value
from . import arguments

TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing at run time: a command starts sooner)
if TYPE_CHECKING:
    from typing import Any, Protocol, TypeAlias, TypeVar, overload

    from .._model.config import BucketConfig

    T_contra = TypeVar("T_contra", contravariant=True)

    class TypedBucketLike(Protocol[T_contra]):
        """A typed bucket handle (``AsyncTypedBucket`` or ``TypedBucket``) as a transaction sees it."""

        @property
        def name(self) -> str: ...

        def encode(self, value: T_contra) -> bytes: ...

    class BucketLike(Protocol):
        """A bucket handle (``AsyncBucket`` or ``Bucket``) as a transaction sees it."""

        @property
        def name(self) -> str: ...

        config: BucketConfig

    BucketRef: TypeAlias = "BucketLike | str"

    AsyncCommit = Callable[[list["Step"], list["Step"]], Awaitable[list[int]]]
    """Runs a transaction's checks and mutations as one unit (the store's ``_atomic``): their revisions."""
    Commit = Callable[[list["Step"], list["Step"]], list[int]]
    """``AsyncCommit`` for a ``Store``."""


__all__ = ["MAX_TRANSACTION", "AsyncTransaction", "Step", "Transaction", "TransactionRecorder"]

MAX_TRANSACTION = 1000
"""Checks and mutations one transaction may hold (as Deno KV and NATS atomic batches)."""


class Step:
    """One recorded check or mutation.

    ``kind`` is ``check``, ``put``, ``create``, ``update``, ``delete``,
    ``purge`` or ``incr``; ``bucket`` a bucket handle or name; ``value`` the
    value (bytes), ``last`` the expected latest revision, ``by`` an
    increment, ``ttl`` the key's TTL in seconds (None: none).
    """

    __slots__ = ("bucket", "by", "key", "kind", "last", "ttl", "value")

    def __init__(
        self,
        kind: str,
        bucket: Any,
        key: str,
        *,
        value: bytes = b"",
        last: int | None = None,
        by: int = 0,
        ttl: float | None = None,
    ) -> None:
        self.kind = kind
        self.bucket = bucket
        self.key = key
        self.value = value
        self.last = last
        self.by = by
        self.ttl = ttl

    @property
    def bucket_name(self) -> str:
        """The name of the step's bucket."""
        bucket = self.bucket
        return bucket if isinstance(bucket, str) else str(bucket.name)

    def describe(self) -> str:
        """``"create orders/o.7"``: how an error names this step."""
        return f"{self.kind} {self.bucket_name}/{self.key}"

    def __repr__(self) -> str:
        return f"<Step {self.describe()}>"


class TransactionRecorder:
    """What ``atomic()`` gives inside its block: record checks and mutations; they run together at its exit."""

    def __init__(self) -> None:
        self.checks: list[Step] = []
        self.mutations: list[Step] = []
        self.revisions: list[int] = []
        """The revision of each mutation, in the order recorded (once the transaction committed)."""
        self.committed = False
        """Whether the transaction committed."""
        self._entered = False
        self._finished = False

    def _enter(self) -> None:
        """Start recording (once)."""
        if self._entered:
            raise InvalidArgumentError("a transaction runs once: call store.atomic() again")
        self._entered = True

    def __repr__(self) -> str:
        state = "committed" if self.committed else "finished" if self._finished else "recording"
        return f"<{type(self).__name__} {state}: {len(self.checks)} checks, {len(self.mutations)} mutations>"

    def _record(self, step: Step, into: list[Step]) -> None:
        if self._finished or not self._entered:
            raise InvalidArgumentError(
                "record into a transaction inside its block: `async with store.atomic() as tx:` (`with` for Store)"
            )
        if len(self.checks) + len(self.mutations) >= MAX_TRANSACTION:
            raise TransactionTooLargeError(
                f"a transaction holds at most {MAX_TRANSACTION} checks and mutations; split it"
            )
        into.append(step)

    def _mutation(self, kind: str, bucket: Any, key: Any, fields: Callable[[], dict[str, Any]]) -> None:
        """Record a mutation; ``fields()`` checks and returns its other arguments (an error names the mutation)."""
        index = len(self.mutations)
        try:
            step = Step(kind, _bucket_ref(bucket), check_key(key), **fields())
        except SqlkvError as exc:
            raise name_mutation(exc, index, f"{kind} {_shown(bucket)}/{key}") from None
        self._record(step, self.mutations)

    def check(self, bucket: BucketRef | TypedBucketLike[Any], key: str, *, last: int) -> None:
        """At commit, before any mutation: ``key``'s latest revision must be ``last`` (0: the key has no row).

        Otherwise the transaction writes nothing and raises AtomicCheckError,
        listing every failing check. ``bucket`` is a bucket of this store (or its name).
        """
        step = Step("check", _bucket_ref(bucket), check_key(key), last=_last(last))
        self._record(step, self.checks)

    if TYPE_CHECKING:

        @overload
        def put(
            self, bucket: TypedBucketLike[T_contra], key: str, value: T_contra, *, ttl: float | timedelta | None = None
        ) -> None: ...

        @overload
        def put(
            self, bucket: BucketRef, key: str, value: bytes | str, *, ttl: float | timedelta | None = None
        ) -> None: ...

    def put(self, bucket: Any, key: str, value: Any, *, ttl: float | timedelta | None = None) -> None:
        """Record a put (as ``bucket.put``; a typed bucket's value is encoded by its codec)."""
        self._mutation("put", bucket, key, lambda: _value_fields(bucket, value, ttl))

    if TYPE_CHECKING:

        @overload
        def create(
            self, bucket: TypedBucketLike[T_contra], key: str, value: T_contra, *, ttl: float | timedelta | None = None
        ) -> None: ...

        @overload
        def create(
            self, bucket: BucketRef, key: str, value: bytes | str, *, ttl: float | timedelta | None = None
        ) -> None: ...

    def create(self, bucket: Any, key: str, value: Any, *, ttl: float | timedelta | None = None) -> None:
        """Record a create (as ``bucket.create``: the key must be absent, deleted or expired)."""
        self._mutation("create", bucket, key, lambda: _value_fields(bucket, value, ttl))

    if TYPE_CHECKING:

        @overload
        def update(
            self,
            bucket: TypedBucketLike[T_contra],
            key: str,
            value: T_contra,
            last: int,
            *,
            ttl: float | timedelta | None = None,
        ) -> None: ...

        @overload
        def update(
            self, bucket: BucketRef, key: str, value: bytes | str, last: int, *, ttl: float | timedelta | None = None
        ) -> None: ...

    def update(self, bucket: Any, key: str, value: Any, last: int, *, ttl: float | timedelta | None = None) -> None:
        """Record an update (as ``bucket.update``: the key's latest revision must then be ``last``)."""
        self._mutation("update", bucket, key, lambda: {"last": _last(last), **_value_fields(bucket, value, ttl)})

    def delete(self, bucket: BucketRef | TypedBucketLike[Any], key: str, *, last: int | None = None) -> None:
        """Record a delete marker (as ``bucket.delete``, with ``last`` as a compare-and-set)."""
        self._mutation("delete", bucket, key, lambda: {"last": None if last is None else _last(last)})

    def purge(
        self,
        bucket: BucketRef | TypedBucketLike[Any],
        key: str,
        *,
        last: int | None = None,
        ttl: float | timedelta | None = None,
    ) -> None:
        """Record a purge (as ``bucket.purge``, with ``last`` as a compare-and-set; ``ttl``: the marker expires)."""
        self._mutation(
            "purge",
            bucket,
            key,
            lambda: {"last": None if last is None else _last(last), "ttl": arguments.ttl_seconds(ttl)},
        )

    def incr(
        self, bucket: BucketRef | TypedBucketLike[Any], key: str, by: int = 1, *, ttl: float | timedelta | None = None
    ) -> None:
        """Record an increment (as ``bucket.incr``; its revision is in ``revisions``)."""

        def fields() -> dict[str, Any]:
            codec = _codec_of(bucket)
            if codec is not None:  # a typed bucket: its codec must read the decimal counter incr writes
                from .._model.codecs import check_counter_codec  # (on first use: the CLI starts without it)

                check_counter_codec(codec)
            return {"by": check_increment(by), "ttl": arguments.ttl_seconds(ttl)}

        self._mutation("incr", bucket, key, fields)


def check_increment(by: object) -> int:
    """An ``incr`` step: an int within the signed 64-bit range."""
    if isinstance(by, bool) or not isinstance(by, int) or not COUNTER_MIN <= by <= COUNTER_MAX:
        raise InvalidArgumentError(f"by must be an int within the signed 64-bit range, not {by!r}")
    return by


def _codec_of(bucket: object) -> str | None:
    """The codec's name of a typed bucket (a codec over an untyped ``raw`` handle); None for any other bucket."""
    codec = getattr(bucket, "codec", None)
    return str(codec.name) if codec is not None and hasattr(bucket, "raw") else None


def _value_fields(bucket: Any, value: object, ttl: object) -> dict[str, Any]:
    if _codec_of(bucket) is not None:  # a typed bucket: its codec encodes
        value = bucket.encode(value)
    return {"value": coerce_value(value), "ttl": arguments.ttl_seconds(ttl)}


def _last(last: object) -> int:
    return check_revision(last, name="last", minimum=0)


def _bucket_ref(bucket: Any) -> Any:
    """A bucket handle (a typed bucket's untyped ``raw`` one), or a valid bucket name."""
    if isinstance(bucket, str):
        return check_bucket_name(bucket)
    if _codec_of(bucket) is not None:
        bucket = bucket.raw
    if not isinstance(getattr(bucket, "name", None), str) or not hasattr(bucket, "config"):
        raise InvalidArgumentError(f"a transaction step takes a bucket of this store or its name, not {bucket!r}")
    return bucket


def _shown(bucket: object) -> str:
    return bucket if isinstance(bucket, str) else str(getattr(bucket, "name", bucket))


class AsyncTransaction(TransactionRecorder):
    """An atomic transaction of an AsyncStore: ``async with store.atomic() as tx: tx.put(kv, "k", b"v")``.

    Records checks and mutations; at a clean exit of the block they run as one
    all-or-nothing unit (see ``AsyncStore.atomic``); ``tx.revisions`` then
    holds each mutation's revision. An exception in the block commits nothing.
    """

    def __init__(self, commit: AsyncCommit) -> None:
        super().__init__()
        self._commit = commit

    async def __aenter__(self) -> AsyncTransaction:
        self._enter()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._finished = True  # nothing more may be recorded
        if exc_type is None:
            self.revisions = await self._commit(self.checks, self.mutations)
            self.committed = True


class Transaction(TransactionRecorder):
    """An atomic transaction of a Store: ``with store.atomic() as tx: tx.put(kv, "k", b"v")``.

    Records checks and mutations; at a clean exit of the block they run as one
    all-or-nothing unit (see ``Store.atomic``); ``tx.revisions`` then holds
    each mutation's revision. An exception in the block commits nothing.
    """

    def __init__(self, commit: Commit) -> None:
        super().__init__()
        self._commit = commit

    def __enter__(self) -> Transaction:
        self._enter()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._finished = True
        if exc_type is None:
            self.revisions = self._commit(self.checks, self.mutations)
            self.committed = True
