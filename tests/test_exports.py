"""The public surface is what __all__ says: every name there, each documented and reporting ``sqlkv`` as its module.

``__all__`` is made from the one list of public names in ``sqlkv/__init__.py``; ``SINCE_0_1`` only guards
against removing a name (the surface may grow).
"""

from __future__ import annotations

import sqlkv

SINCE_0_1 = {
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
}


def test_no_public_name_was_removed() -> None:
    assert set(sqlkv.__all__) >= SINCE_0_1
    assert len(sqlkv.__all__) == len(set(sqlkv.__all__))


def test_every_exported_name_exists_and_is_documented() -> None:
    for name in sqlkv.__all__:
        obj = getattr(sqlkv, name)
        if isinstance(obj, type) or callable(obj):
            assert obj.__doc__, name
            assert obj.__module__ == "sqlkv", name
    assert sorted(dir(sqlkv)) == dir(sqlkv) and set(sqlkv.__all__) <= set(dir(sqlkv))


def test_one_rooted_error_tree() -> None:
    errors = [getattr(sqlkv, n) for n in sqlkv.__all__ if n.endswith("Error")]
    assert all(issubclass(e, sqlkv.SqlkvError) for e in errors)
    assert issubclass(sqlkv.KeyDeletedError, sqlkv.KeyNotFoundError)
    assert issubclass(sqlkv.KeyExistsError, sqlkv.WrongLastRevisionError)
    assert issubclass(sqlkv.InvalidKeyError, ValueError)
    assert issubclass(sqlkv.InvalidBucketNameError, ValueError)


def test_py_typed_is_shipped() -> None:
    from importlib import resources

    assert (resources.files("sqlkv") / "py.typed").is_file()
