"""The values sqlkv hands back: entries, operations and bucket status."""

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from types import GenericAlias

from .config import BucketConfig

TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing at run time: a command starts sooner)
if TYPE_CHECKING:
    from typing import Any, Generic

    from typing_extensions import TypeVar

    V = TypeVar("V", default=bytes)
    """An entry's value type: ``bytes`` unless a codec says otherwise (``Entry`` alone is ``Entry[bytes]``)."""
    T = TypeVar("T")
else:

    class Generic:
        """At run time ``Entry[User]`` is a ``types.GenericAlias``, without importing ``typing`` (a command starts
        sooner); type checkers see ``typing.Generic``."""

        __slots__ = ()
        __class_getitem__ = classmethod(GenericAlias)

    V = bytes  # (at run time, the default: an unparameterized Entry holds bytes)

__all__ = [
    "BucketStatus",
    "Entry",
    "EntryBuilder",
    "Operation",
    "make_entry",
    "ns_to_datetime",
    "deadline_ns",
    "fresh_deadline_ns",
    "with_value",
]


_NUMBER_FORMATS = frozenset("bcdoxXneEfFgG%")
"""Presentation types of a format spec that format an operation's number, not its name."""


class Operation(enum.IntEnum):
    """What a revision did to its key. Stored as this integer in the ``op`` column.

    ``EXPIRE`` marks a key whose value expired (bucket or per-key TTL): watchers
    receive it as an event; reads treat the key as absent, exactly as before
    the expiry was swept.

    ``str()``, ``print()`` and f-strings give the name (``PUT``, ``DEL``, ``PURGE``,
    ``EXPIRE``), like nats.py's operation strings; a numeric format (``f"{op:d}"``)
    gives the number. Otherwise it is an ``int``: ``op == 1``, ``int(op)``,
    ``Operation(1)``, ``Operation["PUT"]``, and ``json.dumps(op)`` writes ``1``.
    Compare with the members, not with strings (``op == "PUT"`` is false).
    """

    PUT = 1
    DEL = 2
    PURGE = 3
    EXPIRE = 4

    def __str__(self) -> str:
        return self.name

    def __format__(self, spec: str) -> str:
        if spec and spec[-1] in _NUMBER_FORMATS:
            return int.__format__(self, spec)
        return self.name.__format__(spec)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_timedelta = timedelta


def ns_to_datetime(ns: int) -> datetime:
    """An aware UTC datetime from integer nanoseconds since the epoch, truncated to the microsecond."""
    return _EPOCH + _timedelta(0, 0, ns // 1000)


@dataclass(frozen=True, slots=True)
class Entry(Generic[V]):
    """One revision of a key, as returned by get, history and watch.

    ``delta`` is the number of entries still pending after this one in the
    same result (history) or stream (watch); ``get`` reports 0. Delete and
    purge markers carry an empty ``value`` (``None`` in a typed bucket).
    ``value`` is ``bytes``, or the codec's type in a typed bucket
    (``Entry[User]``). ``expires`` is when this revision will expire (the
    key's per-key deadline or the bucket TTL counted from ``created``,
    whichever is sooner), ``None`` if nothing will expire it; it is not part
    of an entry's equality (``touch`` moves it without a new revision).
    """

    bucket: str
    key: str
    value: V
    revision: int
    created: datetime
    delta: int
    operation: Operation
    expires: datetime | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class BucketStatus:
    """A bucket's configuration and size at one moment, read in O(1) from counters.

    ``values`` counts every stored row (history and markers included, as
    NATS does); ``keys`` counts keys whose latest row is a value; ``bytes`` is
    the sum of the UTF-8 key length and the value length of every stored row.
    Entries past their TTL are not counted, swept or not: every count is what reads show.
    ``config`` is the bucket's configuration (the fields ``history`` to ``metadata`` and ``marker_ttl``
    repeat it); ``marker_ttl`` is the bucket's marker TTL in seconds (None: markers stay).
    """

    bucket: str
    values: int
    keys: int
    bytes: int
    history: int
    ttl: float | None
    max_value_size: int | None
    max_bytes: int | None
    created: datetime
    description: str | None
    metadata: dict[str, str]
    last_revision: int
    config: BucketConfig
    marker_ttl: float | None = None


# By stored op code; code 0 (the invisible high-water row) never becomes an entry.
_OPERATIONS: tuple[Operation, ...] = (Operation.PUT, *Operation)
_ENTRY_SLOTS = ("bucket", "key", "value", "revision", "created", "delta", "operation", "expires")


class _EntryBuilder(Generic[V]):
    """A mutable twin of Entry with the same slots: built with plain attribute stores, then becomes an Entry."""

    __slots__ = _ENTRY_SLOTS

    def __init__(
        self,
        bucket: str,
        key: str,
        value: "Any",
        revision: int,
        created: datetime,
        delta: int,
        operation: Operation,
        expires: "datetime | None" = None,
    ) -> None:
        self.bucket = bucket
        self.key = key
        self.value = value
        self.revision = revision
        self.created = created
        self.delta = delta
        self.operation = operation
        self.expires = expires


assert Entry.__slots__ == _ENTRY_SLOTS  # the layouts must match for the class switch below


class _CreatedOnFirstUse:
    """``Entry.created`` (and ``expires``): nanoseconds become a datetime when first read, not when the entry is built.

    Building the datetime is a third of an entry's cost and most callers never
    look at it. The slot holds the nanoseconds (an int) until the first read
    replaces them with the datetime; equality, hashing, repr, pickling and
    ``dataclasses`` all read through here, so they only ever see a datetime.
    """

    __slots__ = ("_slot",)

    def __init__(self, slot: "Any") -> None:
        self._slot = slot  # the dataclass's own member descriptor of the ``created`` slot

    def __get__(self, entry: Entry | None, owner: type | None = None) -> "Any":
        if entry is None:
            return self
        created = self._slot.__get__(entry, owner)
        if created.__class__ is int:
            created = ns_to_datetime(created)
            self._slot.__set__(entry, created)
        return created

    def __set__(self, entry: Entry, value: datetime) -> None:
        self._slot.__set__(entry, value)  # only through object.__setattr__: Entry is frozen


_CREATED_SLOT = Entry.__dict__["created"]
_EXPIRES_SLOT = Entry.__dict__["expires"]
Entry.created = _CreatedOnFirstUse(_CREATED_SLOT)  # type: ignore[assignment, misc]
Entry.expires = _CreatedOnFirstUse(_EXPIRES_SLOT)  # type: ignore[assignment, misc]


def fresh_deadline_ns(entry: Entry) -> int | None:
    """The deadline of an entry just built (``expires`` still in nanoseconds, not yet read as a datetime), or None."""
    deadline = _EXPIRES_SLOT.__get__(entry, Entry)
    if deadline is None or deadline.__class__ is int:
        return deadline
    # Read already: the datetime is truncated to the microsecond, so this is at or before the real deadline.
    return ((deadline - _EPOCH) // _timedelta(microseconds=1)) * 1000  # type: ignore[no-any-return]


EntryBuilder = _EntryBuilder
"""For a loop building many entries (a scan): ``e = EntryBuilder(...); e.__class__ = Entry`` is ``make_entry``
without its call (``created`` in nanoseconds, ``operation`` an Operation)."""


def make_entry(
    bucket: str,
    key: str,
    value: bytes,
    revision: int,
    created_ns: int,
    delta: int,
    op: int,
    expires_ns: int | None = None,
) -> Entry:
    """Build an Entry from a stored row, several times faster than the frozen dataclass's ``__init__``.

    The fields are stored on a layout-identical mutable twin whose class is then
    switched to Entry; the result is an ordinary, equal, frozen Entry. Its
    ``created`` and ``expires`` datetimes are made on first read (see ``_CreatedOnFirstUse``).
    """
    entry = _EntryBuilder(bucket, key, value, revision, created_ns, delta, _OPERATIONS[op], expires_ns)  # type: ignore[arg-type]
    entry.__class__ = Entry  # type: ignore[assignment]
    return entry  # type: ignore[return-value]


def deadline_ns(created_ns: int, ttl_ns: int, key_deadline_ns: int | None) -> int | None:
    """When a revision created at ``created_ns`` expires: the bucket TTL (0: none) or the key's deadline, the sooner."""
    if ttl_ns:
        aged = created_ns + ttl_ns
        return aged if key_deadline_ns is None or aged < key_deadline_ns else key_deadline_ns
    return key_deadline_ns


def with_value(entry: "Entry[Any]", value: "T") -> "Entry[T]":
    """The same entry with another value (a typed bucket's decoded value), as cheaply as ``make_entry``."""
    new = _EntryBuilder.__new__(_EntryBuilder)
    new.bucket = entry.bucket
    new.key = entry.key
    new.value = value
    new.revision = entry.revision
    new.created = _CREATED_SLOT.__get__(entry)  # as stored: nanoseconds until first read
    new.delta = entry.delta
    new.operation = entry.operation
    new.expires = _EXPIRES_SLOT.__get__(entry)
    new.__class__ = Entry  # type: ignore[assignment]
    return new  # type: ignore[return-value]
