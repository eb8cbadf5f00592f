"""The public surface is what __all__ says: every name there, each documented and reporting ``sqlkv`` as its module.

``__all__`` is made from the one list of public names in ``sqlkv/__init__.py``; ``SINCE_0_1`` only guards
against removing a name (the surface may grow).
"""

from __future__ import annotations

import compileall
import os
import shutil
import subprocess
import sys
from pathlib import Path

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


def test_type_hints_of_the_public_dataclasses_resolve() -> None:
    import typing

    for cls in (sqlkv.Entry, sqlkv.BucketStatus, sqlkv.BucketConfig):
        hints = typing.get_type_hints(cls)
        assert hints and cls.__module__ == "sqlkv"


def test_import_without_source_files(tmp_path: Path) -> None:
    """A package shipped as .pyc only (a frozen desktop app) or zipped still has every public name."""
    shutil.copytree(Path(sqlkv.__file__).parent, tmp_path / "sqlkv", ignore=shutil.ignore_patterns("__pycache__"))
    compileall.compile_dir(tmp_path / "sqlkv", quiet=1, legacy=True)
    for source in (tmp_path / "sqlkv").rglob("*.py"):
        source.unlink()
    shutil.make_archive(str(tmp_path / "zipped"), "zip", tmp_path, "sqlkv")
    for location in (tmp_path, tmp_path / "zipped.zip"):
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys, sqlkv; print(sqlkv.__file__, len(sqlkv.__all__), sqlkv.Store.__name__)",
            ],
            env={**os.environ, "PYTHONPATH": str(location)},
            capture_output=True,
            text=True,
            cwd="/",
        )
        assert result.returncode == 0, result.stderr
        where, count, store = result.stdout.split()
        assert where.startswith(str(location)) and int(count) == len(sqlkv.__all__) and store == "Store"


def test_the_stores_can_be_subclassed(tmp_path: Path) -> None:
    class Prefs(sqlkv.Store):
        def __init__(self, path: Path, bucket: str) -> None:
            super().__init__(path)
            self.bucket_name = bucket

        def width(self) -> int:
            return int(self.bucket(self.bucket_name).get("width").value)

    with Prefs(tmp_path / "p.db", "prefs") as prefs:
        prefs.create_bucket("prefs").put("width", b"1280")
        assert prefs.width() == 1280 and isinstance(prefs, Prefs) and isinstance(prefs, sqlkv.Store)
    assert isinstance(sqlkv.AsyncStore(tmp_path / "a.db"), sqlkv.AsyncStore)

    class Tagged(sqlkv.AsyncStore):
        tag = "t"

    tagged = Tagged(tmp_path / "t.db")
    assert isinstance(tagged, Tagged) and tagged.tag == "t" and not tagged.closed
