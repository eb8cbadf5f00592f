"""The sqlkv exception tree.

Every error sqlkv raises derives from :class:`SqlkvError`; no raw ``sqlite3``
exception ever reaches a caller::

    SqlkvError
    ├── KeyNotFoundError (also KeyError)
    │   └── KeyDeletedError            latest entry is a DEL/PURGE marker
    ├── WrongLastRevisionError         compare-and-set failed
    │   └── KeyExistsError             create() on a live key
    ├── InvalidKeyError (also ValueError)
    ├── InvalidBucketNameError (also ValueError)
    ├── InvalidArgumentError (also ValueError)   bad revision, value, config...
    │   └── UnsupportedError           valid, but this backend cannot do it (a nats:// store)
    ├── ValueTooLargeError (also ValueError)
    ├── BucketFullError                a put would take the bucket past max_bytes
    ├── LockNotAcquiredError           kv.lock() could not get the lock (in time)
    ├── BucketNotFoundError
    ├── BucketExistsError
    ├── StoreClosedError
    └── StorageError                   the file itself: busy, full, corrupt, too new
        ├── StoreBusyError
        ├── StorageFullError
        └── SchemaTooNewError
"""

from __future__ import annotations

TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing at run time: a command starts sooner)
if TYPE_CHECKING:
    from .entry import Operation


class SqlkvError(Exception):
    """Root of every error raised by sqlkv."""


class KeyNotFoundError(SqlkvError, KeyError):
    """The key has no value (never written, expired, or its revision belongs elsewhere)."""

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

    def __init__(self, key: str, expected: int, actual: int, message: str | None = None) -> None:
        self.key = key
        self.expected = expected
        self.actual = actual
        super().__init__(message or f"wrong last sequence: {actual}")


class KeyExistsError(WrongLastRevisionError):
    """create() found the key alive; message ``wrong last sequence: N: key exists``."""

    def __init__(self, key: str, actual: int) -> None:
        super().__init__(key, 0, actual, f"wrong last sequence: {actual}: key exists")


class InvalidKeyError(SqlkvError, ValueError):
    """A key or key filter breaks the naming rules (see docs/semantics.md)."""


class InvalidBucketNameError(SqlkvError, ValueError):
    """A bucket name breaks the naming rules: ``^[A-Za-z0-9_-]+$``, at most 252 characters."""


class InvalidArgumentError(SqlkvError, ValueError):
    """Any other argument out of its domain: a revision, a value's type, a configuration."""


class UnsupportedError(InvalidArgumentError):
    """The store's backend cannot do what was asked (for example a SQLite-only feature on a nats:// store)."""


class ValueTooLargeError(SqlkvError, ValueError):
    """A value exceeds the bucket's ``max_value_size`` or the store's hard limit."""


class BucketFullError(SqlkvError):
    """A write would take the bucket past its ``max_bytes``; nothing was written.

    Delete and purge markers are never refused, so a full bucket can be emptied.
    """


class LockNotAcquiredError(SqlkvError):
    """``kv.lock()`` found the lock held (and did not wait, or waited past its timeout)."""


class BucketNotFoundError(SqlkvError):
    """No bucket of that name exists (or it was deleted while a handle was held)."""


class BucketExistsError(SqlkvError):
    """create_bucket() found a bucket of that name with another configuration."""


class StoreClosedError(SqlkvError):
    """The store was closed; no further operation is possible on it."""


class StorageError(SqlkvError):
    """The database file could not do what was asked (I/O, corruption, permissions)."""


class StoreBusyError(StorageError):
    """Another process held the database lock for longer than ``busy_timeout``."""


class StorageFullError(StorageError):
    """The disk (or the database's page limit) is full; nothing was written."""


class SchemaTooNewError(StorageError):
    """The file was written by a newer sqlkv whose schema this version does not know."""
