"""The sqlkv exception tree.

Every error sqlkv raises derives from :class:`SqlkvError`; no raw ``sqlite3``
exception ever reaches a caller::

    SqlkvError
    ├── KeyNotFoundError (also KeyError)
    │   └── KeyDeletedError            latest entry is a DEL/PURGE marker
    ├── WrongLastRevisionError         compare-and-set failed
    │   ├── KeyExistsError             create() on a live key
    │   └── AtomicCheckError           a check of an atomic transaction failed
    ├── InvalidKeyError (also ValueError)
    ├── InvalidBucketNameError (also ValueError)
    ├── InvalidArgumentError (also ValueError)   bad revision, value, config...
    │   ├── UnsupportedError           valid, but this backend cannot do it (a nats:// store)
    │   └── TransactionTooLargeError   an atomic transaction over its bounded size
    ├── NotACounterError (also ValueError)      incr() on a value that is not a decimal integer
    ├── ValueTooLargeError (also ValueError)
    ├── BucketFullError                a put would take the bucket past max_bytes
    ├── LockNotAcquiredError           kv.lock() could not get the lock (in time)
    ├── RevisionGapError               a watcher (on_gap="raise") reached revisions that are gone
    ├── CodecError (also ValueError)   a typed bucket's codec cannot encode a value (or is not installed)
    │   ├── ValueDecodeError           a stored value the codec cannot decode (the bytes stay readable)
    │   └── CodecMismatchError         the bucket records another codec than the one given
    ├── ReplicaError                   a replica cannot go on (its remote bucket was re-created...)
    │   └── ReplicaReadOnlyError       a local write to a bucket that mirrors a remote one
    ├── BucketNotFoundError
    ├── BucketExistsError
    ├── StoreClosedError
    └── StorageError                   the file itself: busy, full, corrupt, too new
        ├── StoreBusyError
        ├── StorageFullError
        ├── SchemaTooNewError
        └── NotAStoreError             an SQLite file that is not an sqlkv store

Each class has a :class:`ErrorKind` (``error.kind``): what went wrong, apart
from where in the tree. The CLI's exit statuses and the inspector's HTTP
statuses are tables over the kinds.
"""

from __future__ import annotations

import enum

TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing at run time: a command starts sooner)
if TYPE_CHECKING:
    from typing import ClassVar

    from .entry import Operation


class ErrorKind(enum.Enum):
    """What kind of failure an :class:`SqlkvError` is (``error.kind``), whatever its class."""

    NOT_FOUND = "not found"
    """A key, a revision or a bucket that is not there."""
    CONFLICT = "conflict"
    """The state is not what the caller expected: a compare-and-set, a key or bucket that exists, a held lock."""
    LIMIT = "limit"
    """A size limit: a value, a bucket, a transaction."""
    INVALID = "invalid"
    """Bad input: a key, a name, an argument, a file that is not a store."""
    UNSUPPORTED = "unsupported"
    """Valid, but this backend cannot do it."""
    READ_ONLY = "read-only"
    """A write to what may not be written (a mirror bucket)."""
    GONE = "gone"
    """Revisions a watcher asked for that are no longer stored."""
    BUSY = "busy"
    """Another process held the database lock for too long: try again."""
    CLOSED = "closed"
    """The store was closed."""
    STORAGE = "storage"
    """The file itself: I/O, a full disk, corruption, a schema too new."""
    REPLICA = "replica"
    """A replica cannot go on."""
    OTHER = "other"
    """None of the above."""


class SqlkvError(Exception):
    """Root of every error raised by sqlkv; ``kind`` says what kind of failure it is."""

    kind: ClassVar[ErrorKind] = ErrorKind.OTHER


class KeyNotFoundError(SqlkvError, KeyError):
    """The key has no value (never written, expired, or its revision belongs elsewhere)."""

    kind = ErrorKind.NOT_FOUND

    def __init__(self, key: str, message: str | None = None) -> None:
        self.key = key
        super().__init__(message or f"key not found: {key}")

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class KeyDeletedError(KeyNotFoundError):
    """The key's latest entry is a delete or purge marker.

    ``revision`` is the marker's revision (the CAS token to pass to
    ``update(..., last=)``); ``operation`` says which marker it is.
    """

    kind = ErrorKind.NOT_FOUND

    def __init__(self, key: str, revision: int, operation: Operation) -> None:
        self.revision = revision
        self.operation = operation
        super().__init__(key, f"key was deleted: {key} (revision {revision}, {operation.name})")


class WrongLastRevisionError(SqlkvError):
    """A compare-and-set write found another latest revision than expected.

    ``expected`` is the revision the caller passed, ``actual`` the key's real
    latest revision (0 when the key has no entries, and on a replicated NATS
    bucket when the server refused a write racing another without saying it).
    The message mirrors NATS: ``wrong last sequence: 14``.
    """

    kind = ErrorKind.CONFLICT

    def __init__(self, key: str, expected: int, actual: int, message: str | None = None) -> None:
        self.key = key
        self.expected = expected
        self.actual = actual
        super().__init__(message or f"wrong last sequence: {actual}")


class KeyExistsError(WrongLastRevisionError):
    """create() found the key alive; message ``wrong last sequence: N: key exists``."""

    kind = ErrorKind.CONFLICT

    def __init__(self, key: str, actual: int) -> None:
        super().__init__(key, 0, actual, f"wrong last sequence: {actual}: key exists")


class CheckFailure(tuple[str, str, int, int]):
    """One failed check of an atomic transaction: ``(bucket, key, expected, actual)``."""

    __slots__ = ()

    def __new__(cls, bucket: str, key: str, expected: int, actual: int) -> CheckFailure:
        return super().__new__(cls, (bucket, key, expected, actual))

    @property
    def bucket(self) -> str:
        """The bucket of the checked key."""
        return self[0]

    @property
    def key(self) -> str:
        """The checked key."""
        return self[1]

    @property
    def expected(self) -> int:
        """The revision the check asked for (0: no row)."""
        return self[2]

    @property
    def actual(self) -> int:
        """The key's latest revision when the transaction ran (0: no row)."""
        return self[3]


class AtomicCheckError(WrongLastRevisionError):
    """Checks of an atomic transaction failed; nothing of the transaction was written.

    ``failures`` lists every failing check as ``CheckFailure(bucket, key,
    expected, actual)``; ``key``, ``expected`` and ``actual`` are the first one's.
    """

    kind = ErrorKind.CONFLICT

    def __init__(self, failures: list[CheckFailure]) -> None:
        self.failures = list(failures)
        first = self.failures[0]
        listed = "; ".join(f"{f.bucket}/{f.key}: expected {f.expected}, actual {f.actual}" for f in self.failures)
        count = len(self.failures)
        super().__init__(
            first.key, first.expected, first.actual, f"atomic check failed ({count} of the checks): {listed}"
        )


class InvalidKeyError(SqlkvError, ValueError):
    """A key or key filter breaks the naming rules (see docs/semantics.md)."""

    kind = ErrorKind.INVALID


class InvalidBucketNameError(SqlkvError, ValueError):
    """A bucket name breaks the naming rules: ``^[A-Za-z0-9_-]+$``, at most 252 characters."""

    kind = ErrorKind.INVALID


class InvalidArgumentError(SqlkvError, ValueError):
    """Any other argument out of its domain: a revision, a value's type, a configuration."""

    kind = ErrorKind.INVALID


class UnsupportedError(InvalidArgumentError):
    """The store's backend cannot do what was asked (for example a SQLite-only feature on a nats:// store)."""

    kind = ErrorKind.UNSUPPORTED


class TransactionTooLargeError(InvalidArgumentError):
    """An atomic transaction recorded more checks and mutations than a transaction may hold (1,000)."""

    kind = ErrorKind.LIMIT


class NotACounterError(SqlkvError, ValueError):
    """``incr()`` found a value that is not an ASCII decimal integer, or the sum would leave the signed 64-bit range.

    Nothing was written. ``key`` names the key.
    """

    kind = ErrorKind.INVALID

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(message)


class ValueTooLargeError(SqlkvError, ValueError):
    """A value exceeds the bucket's ``max_value_size`` or the store's hard limit."""

    kind = ErrorKind.LIMIT


class BucketFullError(SqlkvError):
    """A write would take the bucket past its ``max_bytes``; nothing was written.

    Delete and purge markers are never refused, so a full bucket can be emptied.
    """

    kind = ErrorKind.LIMIT


class LockNotAcquiredError(SqlkvError):
    """``kv.lock()`` found the lock held (and did not wait, or waited past its timeout)."""

    kind = ErrorKind.CONFLICT


class RevisionGapError(SqlkvError):
    """A watcher with ``on_gap="raise"`` reached revisions it can never see (trimmed, purged, expired).

    The entries before the gap were delivered. ``first_available`` is the
    first revision after the gap that is still stored (resume a watch there);
    ``missing`` is how many revisions the gap holds; ``bucket`` names the bucket.
    """

    kind = ErrorKind.GONE

    def __init__(self, bucket: str, first_missing: int, first_available: int, missing: int) -> None:
        self.bucket = bucket
        self.first_missing = first_missing
        self.first_available = first_available
        self.missing = missing
        super().__init__(
            f"bucket {bucket!r}: revisions from {first_missing} are gone ({missing} missing); "
            f"the first still available is {first_available}"
        )


class ReplicaError(SqlkvError):
    """A replica cannot go on: its remote bucket was deleted and re-created, or its state is inconsistent."""

    kind = ErrorKind.REPLICA


class ReplicaReadOnlyError(ReplicaError):
    """A local write to a bucket that is a read-only mirror of a remote bucket; ``bucket`` names it."""

    kind = ErrorKind.READ_ONLY

    def __init__(self, bucket: str, origin: str = "") -> None:
        self.bucket = bucket
        self.origin = origin
        where = f" of {origin}" if origin else ""
        super().__init__(f"bucket {bucket!r} is a read-only mirror{where}: write to the remote bucket instead")


class BucketNotFoundError(SqlkvError):
    """No bucket of that name exists (or it was deleted while a handle was held)."""

    kind = ErrorKind.NOT_FOUND


class BucketExistsError(SqlkvError):
    """create_bucket() found a bucket of that name with another configuration."""

    kind = ErrorKind.CONFLICT


class StoreClosedError(SqlkvError):
    """The store was closed; no further operation is possible on it."""

    kind = ErrorKind.CLOSED


class StorageError(SqlkvError):
    """The database file could not do what was asked (I/O, corruption, permissions)."""

    kind = ErrorKind.STORAGE


class StoreBusyError(StorageError):
    """Another process held the database lock for longer than ``busy_timeout``."""

    kind = ErrorKind.BUSY


class StorageFullError(StorageError):
    """The disk (or the database's page limit) is full; nothing was written."""

    kind = ErrorKind.STORAGE


class SchemaTooNewError(StorageError):
    """The file was written by a newer sqlkv whose schema this version does not know."""

    kind = ErrorKind.STORAGE


class NotAStoreError(StorageError):
    """The file is an SQLite database but not an sqlkv store; it is left as it is."""

    kind = ErrorKind.INVALID


class CodecError(SqlkvError, ValueError):
    """A typed bucket's codec cannot encode a value, does not suit the operation, or its extra is not installed."""

    kind = ErrorKind.INVALID


class ValueDecodeError(CodecError):
    """A stored value that the bucket's codec cannot decode.

    Names the bucket, key, revision and codec; ``data`` holds the stored bytes,
    which stay readable through an untyped handle on the same bucket.
    """

    kind = ErrorKind.INVALID

    def __init__(self, bucket: str, key: str, revision: int, codec: str, data: bytes, reason: str) -> None:
        super().__init__(
            f"bucket {bucket}: the value of {key} at revision {revision} does not decode with codec {codec}: {reason}"
        )
        self.bucket = bucket
        self.key = key
        self.revision = revision
        self.codec = codec
        self.data = data


class CodecMismatchError(CodecError):
    """The bucket records (in its metadata) another codec than the one it was opened with."""

    kind = ErrorKind.CONFLICT


def name_mutation(error: SqlkvError, index: int, description: str) -> SqlkvError:
    """``error`` (refusing a mutation of an atomic transaction), its message now naming that mutation.

    Sets ``error.mutation`` to the mutation's index (0-based, in the order
    recorded) and prefixes the message with ``mutation 2 (create orders/o.7): ``.
    """
    error.mutation = index  # type: ignore[attr-defined]
    if error.args and isinstance(error.args[0], str):
        error.args = (f"mutation {index} ({description}): {error.args[0]}", *error.args[1:])
    return error
