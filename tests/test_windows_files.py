"""Windows' file rules, kept everywhere: no file another handle may hold open is removed or renamed over;
paths with spaces and non-ASCII characters work in every place a path goes (store, -wake, backup, export, CLI)."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import sqlkv
from sqlkv._engine import hints
from sqlkv._runtime import platform
from sqlkv._storage.paths import default_store_path
from tests.support.platforms import HeldOpen

ODD = "a ü 日 к"
"""A folder name with spaces and characters outside ASCII (several UTF-8 bytes each); short, as a macOS socket
path holds 104 bytes at most."""

COMMAND = [sys.executable, "-m", "sqlkv.cli"]


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> HeldOpen:
    return HeldOpen(monkeypatch)


@pytest.fixture
def odd(tmp_path: Path) -> Path:
    folder = tmp_path / ODD
    folder.mkdir()
    return folder


def _store_with(path: Path, bucket: str, value: bytes) -> None:
    with sqlkv.Store(path) as store:
        store.create_bucket(bucket).put("k", value)


def test_backup_over_a_store_another_handle_holds_open_overwrites_it_in_place(odd: Path, held: HeldOpen) -> None:
    target = odd / "copy ü.db"
    _store_with(target, "old", b"old")
    other = sqlite3.connect(target)  # another program's handle, open throughout
    try:
        held.hold(target)
        inode = os.stat(target).st_ino
        with sqlkv.Store(odd / "source ü.db") as store:
            store.create_bucket("new").put("k", b"new")
            store.backup(target, overwrite=True)
        assert held.refused == []  # nothing tried to remove or rename over the held file
        assert os.stat(target).st_ino == inode  # the same file, written in place
        assert [row[0] for row in other.execute("SELECT name FROM sqlkv_buckets")] == ["new"]  # the holder sees it
    finally:
        other.close()
    with sqlkv.Store(target) as copy:
        assert copy.bucket_names() == ["new"] and copy.bucket("new").get("k").value == b"new"


def test_backup_over_a_file_that_is_no_database_rewrites_it_in_place(odd: Path, held: HeldOpen) -> None:
    target = odd / "notes ü.txt"
    target.write_text("not a database " * 1000)
    held.hold(target)
    inode = os.stat(target).st_ino
    with sqlkv.Store(odd / "s.db") as store:
        store.create_bucket("b").put("k", b"v")
        store.backup(target, overwrite=True)
    assert held.refused == [] and os.stat(target).st_ino == inode
    with sqlkv.Store(target) as copy:
        assert copy.bucket("b").get("k").value == b"v"


def test_a_store_is_never_backed_up_onto_itself(odd: Path) -> None:
    path = odd / "s.db"
    with sqlkv.Store(path) as store:
        store.create_bucket("b").put("k", b"v")
        with pytest.raises(sqlkv.InvalidArgumentError, match="onto itself"):
            store.backup(path, overwrite=True)
        assert store.bucket("b").get("k").value == b"v"
    with sqlkv.Store(path) as again:
        assert again.bucket("b").get("k").value == b"v"


def test_a_new_backup_never_takes_the_name_of_a_file_that_appeared_meanwhile(
    odd: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The finished copy gets its name by a hard link, which fails if the name was taken while it was written."""
    from sqlkv._storage import backup as module

    with sqlkv.Store(odd / "s.db") as store:
        store.create_bucket("b").put("k", b"v")
        target = odd / "appeared.db"
        copy = module._copy

        def copy_then_someone_writes_the_name(conn: Any, path: str) -> int:
            pages = copy(conn, path)
            target.write_bytes(b"someone else's file")
            return pages

        monkeypatch.setattr(module, "_copy", copy_then_someone_writes_the_name)
        with pytest.raises(sqlkv.InvalidArgumentError, match="exists"):
            store.backup(target)
        assert target.read_bytes() == b"someone else's file"
        assert sorted(p.name for p in odd.iterdir() if p.name.startswith(".")) == []


def test_a_new_backup_is_complete_before_it_takes_its_name(odd: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Written under a temporary name, renamed once complete: mode 0600, no temporary file left, even on failure."""
    with sqlkv.Store(odd / "s.db") as store:
        store.create_bucket("b").put("k", b"v")
        target = odd / "backup 1 ü.db"
        assert store.backup(target) > 0
        assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
        assert sorted(p.name for p in odd.iterdir() if p.name.startswith(".")) == []

        def fail(source: Any, destination: Any) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "link", fail)
        with pytest.raises(sqlkv.StorageError, match="No space left"):
            store.backup(odd / "backup 2.db")
        assert not (odd / "backup 2.db").exists()
        assert sorted(p.name for p in odd.iterdir()) == ["backup 1 ü.db", "s.db", "s.db-shm", "s.db-wal"]


def test_an_export_over_a_file_held_open_is_written_into_it(odd: Path, held: HeldOpen) -> None:
    """Where the old file cannot be renamed over (Windows, held open) the finished text is copied into it."""
    from sqlkv.cli._transfer import private_file

    target = odd / "dump ü.jsonl"
    target.write_text("an older, longer export\n" * 100)
    held.hold(target)
    inode = os.stat(target).st_ino
    with private_file(str(target)) as out:
        out.write('{"type": "bucket"}\n')
    assert held.refused == [("replace", str(target))]  # the rename was refused: the fallback path ran
    assert target.read_text() == '{"type": "bucket"}\n' and os.stat(target).st_ino == inode
    assert _leftovers(odd, target) == []  # the temporary file is gone


def _leftovers(folder: Path, target: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(f".{target.name}.")]


def test_a_failed_export_leaves_the_held_file_as_it_was(odd: Path, held: HeldOpen) -> None:
    from sqlkv.cli._transfer import private_file

    target = odd / "dump.jsonl"
    target.write_text("kept\n")
    held.hold(target)
    with pytest.raises(RuntimeError), private_file(str(target)) as out:
        out.write("half")
        raise RuntimeError("the store went away")
    assert target.read_text() == "kept\n" and _leftovers(odd, target) == []


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="reads /proc/self/fd")
@pytest.mark.parametrize("kind", [k for k in ("abstract", "path", "udp") if k != "abstract" or sys.platform == "linux"])
def test_no_wake_up_marker_is_ever_held_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    """A listener's marker is made and closed at once (its socket is no file but on macOS), so the sender that
    removes a dead listener's marker, and the listener leaving, never meet a handle on it."""
    monkeypatch.setattr(hints, "WAKE", kind)
    (tmp_path / "ü 日").mkdir()
    path = tmp_path / "ü 日" / "s.db"  # (short: a macOS socket path has 104 bytes at most)
    with sqlkv.Store(path, poll_interval=10) as store:
        kv = store.create_bucket("b")
        with kv.watch():
            directory = hints.hint_directory(str(path))
            (marker,) = os.listdir(directory)
            opened = {os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd") if _is_link(fd)}
            assert os.path.join(directory, marker) not in opened
    assert not os.path.exists(directory)  # the listener left, its marker and the directory with it


def _is_link(fd: str) -> bool:
    try:
        os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return False
    return True


def test_the_demos_scratch_store_is_closed_before_its_folder_is_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from sqlkv import demo

    users = tmp_path / ODD / "users.db"
    users.parent.mkdir()
    _store_with(users, "my-kv", b"theirs")  # a user's bucket: the demo goes to a scratch store
    monkeypatch.setenv("SQLKV_DB", str(users))
    removed: list[bool] = []
    real = tempfile.TemporaryDirectory

    class Watched(real):  # type: ignore[misc,valid-type]
        def __init__(self, **kwargs: Any) -> None:
            assert kwargs.get("ignore_cleanup_errors") is True  # a handle someone else keeps: no traceback
            super().__init__(**kwargs)

        def cleanup(self) -> None:
            assert sqlkv.open_stores() == []  # every store of the folder is closed
            opened = _descriptors_under(self.name)
            assert opened == [], opened
            removed.append(True)
            super().cleanup()

    monkeypatch.setattr(demo.tempfile, "TemporaryDirectory", Watched)
    demo.main()
    assert removed == [True] and "scratch store" in capsys.readouterr().out


def _descriptors_under(folder: str) -> list[str]:
    if not os.path.isdir("/proc/self/fd"):
        return []
    links = (os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd") if _is_link(fd))
    return [link for link in links if link.startswith(folder)]


def test_a_store_in_an_odd_folder_works_end_to_end(odd: Path) -> None:
    """Store, its -wake markers, a watcher woken by another process, backup and export, all by the CLI too."""
    path = odd / "store ü 1.db"
    # A hint, not the 10 s poll: unless a path-bound socket (macOS) would not fit in sun_path under this folder
    # (multi-byte names, the pid's digits), where the watcher polls by design (test_hints.py covers that case).
    longest = os.fsencode(f"{hints.hint_directory(str(path))}/{2**22}-{'0' * 32}")
    hinted = hints.WAKE != "path" or len(longest) < platform.SUN_PATH_MAX
    with sqlkv.Store(path, poll_interval=10 if hinted else 0.05) as store:
        kv = store.create_bucket("b")
        with kv.watch(updates_only=True) as watcher:
            put = subprocess.run([*COMMAND, "--db", str(path), "put", "b", "k", "v ü"], capture_output=True, timeout=60)
            assert put.returncode == 0, put.stderr
            entry = watcher.next(timeout=5)
        assert entry is not None and entry.value == "v ü".encode()
    backup = subprocess.run(
        [*COMMAND, "--db", str(path), "backup", str(odd / "b ü.db")], capture_output=True, timeout=60
    )
    assert backup.returncode == 0, backup.stderr
    export = odd / "export ü.jsonl"
    done = subprocess.run([*COMMAND, "--db", str(odd / "b ü.db"), "export", "-o", str(export)], capture_output=True)
    assert done.returncode == 0, done.stderr
    assert '"key": "k"' in export.read_text(encoding="utf-8")


def test_the_default_store_is_in_the_platforms_user_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """platformdirs' user data directory (here its XDG rule, with an odd folder name); SQLKV_DB overrides it."""
    import platformdirs
    from platformdirs.macos import MacOS

    monkeypatch.delenv("SQLKV_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / ODD))
    monkeypatch.setenv("HOME", str(tmp_path / "home ü"))
    expected = Path(platformdirs.user_data_dir("sqlkv", appauthor=False)) / "sqlkv.db"
    if sys.platform.startswith("linux"):
        assert expected == tmp_path / ODD / "sqlkv" / "sqlkv.db"
    assert default_store_path() == expected
    assert stat.S_IMODE(os.stat(expected.parent).st_mode) == 0o700
    # what docs/platforms.md says a Mac uses (platformdirs' rule, computed here; not run on a Mac)
    monkeypatch.delenv("XDG_DATA_HOME")
    mac = MacOS("sqlkv", appauthor=False).user_data_dir
    assert mac == str(tmp_path / "home ü" / "Library" / "Application Support" / "sqlkv")
    monkeypatch.setenv("SQLKV_DB", str(tmp_path / ODD / "mine.db"))
    assert default_store_path() == tmp_path / ODD / "mine.db"


@pytest.fixture(autouse=True)
def _no_stores_left() -> Iterator[None]:
    yield
    assert sqlkv.open_stores() == []
