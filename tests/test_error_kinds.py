"""Every sqlkv error has a kind; the CLI's exit statuses and the inspector's HTTP statuses are tables over the kinds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import sqlkv
import sqlkv.migrate
from sqlkv import ErrorKind
from sqlkv.cli import EXIT_STATUS


def _every_error_class() -> list[type[sqlkv.SqlkvError]]:
    for name in sqlkv.__all__:
        getattr(sqlkv, name)  # every public class loaded (MigrationError is imported above)
    found: list[type[sqlkv.SqlkvError]] = []
    pending: list[type[sqlkv.SqlkvError]] = [sqlkv.SqlkvError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending += cls.__subclasses__()
    return found


def test_every_error_class_says_its_kind() -> None:
    classes = _every_error_class()
    assert len(classes) >= 27
    for cls in classes:
        assert isinstance(cls.__dict__.get("kind"), ErrorKind), cls  # decided for the class, not inherited


def test_the_exit_statuses_cover_every_kind() -> None:
    assert set(EXIT_STATUS) == set(ErrorKind)
    assert set(EXIT_STATUS.values()) == {1, 2, 3, 4, 5}


def test_the_http_statuses_cover_every_kind() -> None:
    pytest.importorskip("starlette")
    from sqlkv.ui._app import HTTP_STATUS

    assert set(HTTP_STATUS) == set(ErrorKind)
    assert HTTP_STATUS[sqlkv.UnsupportedError.kind] == 501  # no longer shadowed by InvalidArgumentError's 400


@pytest.mark.parametrize(
    ("cls", "exit_status", "http_status"),
    [
        (sqlkv.KeyNotFoundError, 3, 404),
        (sqlkv.BucketNotFoundError, 3, 404),
        (sqlkv.WrongLastRevisionError, 4, 409),
        (sqlkv.KeyExistsError, 4, 409),
        (sqlkv.BucketExistsError, 4, 409),
        (sqlkv.ValueTooLargeError, 5, 413),
        (sqlkv.BucketFullError, 5, 413),
        (sqlkv.InvalidArgumentError, 2, 400),
        (sqlkv.InvalidKeyError, 2, 400),
        (sqlkv.NotAStoreError, 2, 400),
        (sqlkv.UnsupportedError, 2, 501),
        (sqlkv.StorageError, 1, 500),
        (sqlkv.StoreBusyError, 1, 503),
    ],
)
def test_both_tables_agree_on_the_common_errors(
    cls: type[sqlkv.SqlkvError], exit_status: int, http_status: int
) -> None:
    pytest.importorskip("starlette")
    from sqlkv.ui._app import HTTP_STATUS

    assert (EXIT_STATUS[cls.kind], HTTP_STATUS[cls.kind]) == (exit_status, http_status)


def test_an_existing_bucket_with_another_configuration_exits_4(tmp_path: Path) -> None:
    """The CLI and the inspector agree: a conflict (the inspector answers 409)."""
    script = Path(sys.executable).parent / "sqlkv"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "sqlkv.cli"]
    db = str(tmp_path / "kinds.db")
    assert subprocess.run([*command, "--db", db, "add", "b"], capture_output=True, timeout=60).returncode == 0
    again = subprocess.run([*command, "--db", db, "add", "b", "--history", "3"], capture_output=True, timeout=60)
    assert again.returncode == 4, again.stderr
