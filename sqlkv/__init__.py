"""sqlkv: a durable, embedded key/value store on SQLite with the data model of NATS JetStream KV.

The public names load on first use (PEP 562), so ``import sqlkv`` — and the
``sqlkv`` command line — start fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._bucket import AsyncBucket as AsyncBucket
    from ._config import BucketConfig as BucketConfig
    from ._entry import BucketStatus as BucketStatus
    from ._entry import Entry as Entry
    from ._entry import Operation as Operation
    from ._errors import BucketExistsError as BucketExistsError
    from ._errors import BucketFullError as BucketFullError
    from ._errors import BucketNotFoundError as BucketNotFoundError
    from ._errors import InvalidArgumentError as InvalidArgumentError
    from ._errors import InvalidBucketNameError as InvalidBucketNameError
    from ._errors import InvalidKeyError as InvalidKeyError
    from ._errors import KeyDeletedError as KeyDeletedError
    from ._errors import KeyExistsError as KeyExistsError
    from ._errors import KeyNotFoundError as KeyNotFoundError
    from ._errors import LockNotAcquiredError as LockNotAcquiredError
    from ._errors import SchemaTooNewError as SchemaTooNewError
    from ._errors import SqlkvError as SqlkvError
    from ._errors import StorageError as StorageError
    from ._errors import StorageFullError as StorageFullError
    from ._errors import StoreBusyError as StoreBusyError
    from ._errors import StoreClosedError as StoreClosedError
    from ._errors import ValueTooLargeError as ValueTooLargeError
    from ._errors import WrongLastRevisionError as WrongLastRevisionError
    from ._lock import AsyncLock as AsyncLock
    from ._store import AsyncStore as AsyncStore
    from ._sync import Bucket as Bucket
    from ._sync import Lock as Lock
    from ._sync import Store as Store
    from ._sync import Watcher as Watcher
    from ._validate import MAX_KEY_LENGTH as MAX_KEY_LENGTH
    from ._watch import AsyncWatcher as AsyncWatcher

__version__ = "0.1.0"

_WHERE = {
    "AsyncBucket": "._bucket",
    "BucketConfig": "._config",
    "BucketStatus": "._entry",
    "Entry": "._entry",
    "Operation": "._entry",
    "BucketExistsError": "._errors",
    "BucketFullError": "._errors",
    "BucketNotFoundError": "._errors",
    "InvalidArgumentError": "._errors",
    "InvalidBucketNameError": "._errors",
    "InvalidKeyError": "._errors",
    "KeyDeletedError": "._errors",
    "KeyExistsError": "._errors",
    "KeyNotFoundError": "._errors",
    "LockNotAcquiredError": "._errors",
    "SchemaTooNewError": "._errors",
    "SqlkvError": "._errors",
    "StorageError": "._errors",
    "StorageFullError": "._errors",
    "StoreBusyError": "._errors",
    "StoreClosedError": "._errors",
    "ValueTooLargeError": "._errors",
    "WrongLastRevisionError": "._errors",
    "AsyncLock": "._lock",
    "AsyncStore": "._store",
    "Bucket": "._sync",
    "Lock": "._sync",
    "Store": "._sync",
    "Watcher": "._sync",
    "MAX_KEY_LENGTH": "._validate",
    "AsyncWatcher": "._watch",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'sqlkv' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))


__all__ = (
    "MAX_KEY_LENGTH",
    "AsyncBucket",
    "AsyncLock",
    "AsyncStore",
    "AsyncWatcher",
    "Bucket",
    "BucketConfig",
    "BucketExistsError",
    "BucketFullError",
    "BucketNotFoundError",
    "BucketStatus",
    "Entry",
    "InvalidArgumentError",
    "InvalidBucketNameError",
    "InvalidKeyError",
    "KeyDeletedError",
    "KeyExistsError",
    "KeyNotFoundError",
    "Lock",
    "LockNotAcquiredError",
    "Operation",
    "SchemaTooNewError",
    "SqlkvError",
    "StorageError",
    "Store",
    "StorageFullError",
    "StoreBusyError",
    "StoreClosedError",
    "ValueTooLargeError",
    "Watcher",
    "WrongLastRevisionError",
    "__version__",
)
