"""The command line at its edges: endless input, closed stdin, flags after the command, wide values, signals."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import sqlkv
from sqlkv.cli import build_parser
from sqlkv.cli._table import COMMANDS
from sqlkv.cli._transfer import text_lines

SCRIPT = Path(sys.executable).parent / "sqlkv"
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "sqlkv.cli"]


def run(*args: str, **options: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args],
        capture_output=True,
        text=True,
        timeout=60,
        **options,  # type: ignore[call-overload]
    )


def _one_line_error(result: subprocess.CompletedProcess[str], status: int, phrase: str) -> None:
    assert result.returncode == status, result.stderr
    assert result.stderr.startswith("sqlkv: error: ") and result.stderr.count("\n") == 1, result.stderr
    assert phrase in result.stderr and "Traceback" not in result.stderr


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "edges.db"
    with sqlkv.Store(path) as store:
        store.create_bucket("b", history=5).put("k", b"v")
    return path


@pytest.mark.parametrize("command", ["put", "create", "update"])
def test_a_value_on_stdin_is_read_up_to_the_limit_and_no_further(db: Path, command: str) -> None:
    """More bytes than the largest value: one line, status 5, having read at most the limit and a chunk."""
    chunk = bytes(1 << 20)
    total = sqlkv.MAX_VALUE_SIZE + 32 * len(chunk)
    words = {"put": ["b", "big"], "create": ["b", "big"], "update": ["b", "k", "", "1"]}[command]
    errors = db.parent / "stderr.txt"
    with errors.open("wb") as stderr:
        process = subprocess.Popen(
            [*COMMAND, "--db", str(db), command, *words],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    assert process.stdin is not None
    written = 0

    def feed() -> None:  # a generator of more than the limit: chunk after chunk, never the whole in memory
        nonlocal written
        try:
            while written < total:
                process.stdin.write(chunk)  # type: ignore[union-attr]
                written += len(chunk)
        except BrokenPipeError:  # it stopped reading and exited
            pass
        finally:
            with contextlib.suppress(BrokenPipeError):
                process.stdin.close()  # type: ignore[union-attr]

    writer = threading.Thread(target=feed)
    writer.start()
    process.wait(timeout=60)  # (not communicate(), which would close its standard input first)
    writer.join(timeout=60)
    err = errors.read_bytes()
    assert process.returncode == 5, err
    assert err.decode().startswith("sqlkv: error: ") and err.count(b"\n") == 1 and b"largest value" in err
    assert written <= sqlkv.MAX_VALUE_SIZE + 4 * len(chunk)  # it stopped reading: the rest was never taken
    with sqlkv.Store(db, read_only=True) as store:
        assert store.bucket("b").keys() == ["k"]


class _Endless(io.RawIOBase):
    """A raw stream of one endless line, counting what was read of it."""

    def __init__(self) -> None:
        self.given = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        buffer[:] = b"x" * len(buffer)
        self.given += len(buffer)
        return len(buffer)


def test_import_stops_at_a_line_longer_than_any_record() -> None:
    source = _Endless()
    with pytest.raises(sqlkv.ValueTooLargeError, match="line 1: longer than 1,000 bytes"):
        next(text_lines(io.BufferedReader(source), limit=1000))
    assert source.given <= 1001 + io.DEFAULT_BUFFER_SIZE


def test_a_closed_standard_input_is_a_clear_error(db: Path) -> None:
    for words, phrase in (
        (["put", "b", "k"], "standard input is closed"),
        (["import"], "standard input is closed"),
        (["del", "b", "k"], "cannot ask for confirmation"),
    ):
        result = subprocess.run(
            ["sh", "-c", 'exec "$@" <&-', "sh", *COMMAND, "--db", str(db), *words],
            capture_output=True,
            text=True,
            timeout=60,
        )
        _one_line_error(result, 2, phrase)


def _words(name: str) -> list[str]:
    """Arguments enough for the command to parse."""
    return {
        "put": ["b", "k", "v"],
        "create": ["b", "k", "v"],
        "update": ["b", "k", "v", "1"],
        "incr": ["b", "k"],
        "touch": ["b", "k", "1h"],
        "get": ["b", "k"],
        "del": ["b", "k"],
        "purge": ["b", "k"],
        "history": ["b", "k"],
        "revert": ["b", "k", "1"],
        "backup": ["copy.db"],
        "export": [],
        "import": [],
        "migrate": ["a.db", "c.db"],
        "replicate": ["b", "nats://127.0.0.1:9"],
        "ui": [],
        "info": [],
        "ls": [],
    }.get(name, ["b"])


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.name)
@pytest.mark.parametrize("group", [(), ("kv",)], ids=["top", "kv"])
def test_global_flags_are_taken_after_the_command_too(command: object, group: tuple[str, ...]) -> None:
    """As natscli's: ``sqlkv kv ls --db x.db``, ``sqlkv ui --db x.db``, for every command and alias."""
    assert hasattr(command, "name")
    if group and not command.kv:  # type: ignore[attr-defined]
        return
    for name in (command.name, *command.aliases):  # type: ignore[attr-defined]
        after = [*group, name, *_words(command.name), "--db", "x.db"]  # type: ignore[attr-defined]
        before = ["--db", "x.db", *group, name, *_words(command.name)]  # type: ignore[attr-defined]
        for argv in (after, before, [*group, name, "--db", "x.db", *_words(command.name)]):  # type: ignore[attr-defined]
            args = build_parser(argv).parse_args(argv)
            assert (args.db, args.command, args.version) == ("x.db", command.name, False), argv  # type: ignore[attr-defined]
        argv = [*group, name, *_words(command.name)]  # type: ignore[attr-defined]
        assert build_parser(argv).parse_args(argv).db is None
        argv = [*group, name, *_words(command.name), "--version"]  # type: ignore[attr-defined]
        assert build_parser(argv).parse_args(argv).version is True


def test_global_flags_after_the_command_in_a_real_run(db: Path) -> None:
    assert run("kv", "ls", "--db", str(db)).returncode == 0
    assert "b" in run("kv", "ls", "--names", "--db", str(db)).stdout.split()
    assert run("get", "b", "k", "--raw", "--db", str(db)).stdout == "v"
    assert run("kv", "--db", str(db), "get", "b", "k", "--raw").stdout == "v"


def test_ls_display_value_fits_the_terminal(db: Path) -> None:
    binary, text = bytes(range(256)) * 4, b"t" * 1000
    with sqlkv.Store(db) as store:
        store.bucket("b").put("binary", binary)
        store.bucket("b").put("text", text)
    for columns in (80, 120):
        result = run("--db", str(db), "ls", "b", "-v", "--display-value", env={**os.environ, "COLUMNS": str(columns)})
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert max(len(line) for line in lines) <= columns, result.stdout
        rows = {line.split("│")[1].strip(): line.split("│")[5].strip() for line in lines if line.count("│") == 6}
        assert rows["k"] == "v" and rows["text"].endswith("...") and rows["binary"].endswith("...")
        assert rows["text"].startswith("ttt") and rows["binary"].startswith("AAECAwQF")
    full = subprocess.run([*COMMAND, "--db", str(db), "get", "b", "binary", "--raw"], capture_output=True, timeout=60)
    assert full.stdout == binary  # the whole value stays available through `get`


def test_a_plain_sqlite_file_is_said_to_be_one_with_status_2(tmp_path: Path) -> None:
    import sqlite3

    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    for read_only in (False, True):
        with (
            pytest.raises(sqlkv.NotAStoreError, match="is an SQLite database, but not an sqlkv store"),
            sqlkv.Store(other, read_only=read_only) as store,
        ):
            store.bucket_names()
    for words in (["kv", "ls"], ["get", "b", "k"], ["put", "b", "k", "v"]):
        _one_line_error(run("--db", str(other), *words), 2, "is an SQLite database, but not an sqlkv store")
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    with pytest.raises(sqlkv.NotAStoreError, match="not yet an sqlkv store"), sqlkv.Store(empty, read_only=True) as s:
        s.bucket_names()


def test_an_unknown_url_scheme_names_the_supported_ones(tmp_path: Path) -> None:
    for cls in (sqlkv.AsyncStore, sqlkv.Store):
        with pytest.raises(sqlkv.InvalidArgumentError, match=r"redis://.*nats://, tls://, ws://, wss://"):
            cls("redis://localhost")
    _one_line_error(run("--db", "redis://localhost", "ls"), 2, "unknown URL scheme redis://")
    assert not (tmp_path / "redis").exists() and not Path("redis").exists()


def _stopped_by_sigterm(db: Path, words: list[str], ready: str) -> subprocess.CompletedProcess[str]:
    """Run ``sqlkv WORDS --db DB`` (the global flag after the command) until it prints ``ready``, then SIGTERM it."""
    process = subprocess.Popen(
        [*COMMAND, *words, "--db", str(db)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    assert ready in first, (first, process.stderr.read() if process.poll() is not None else "")  # type: ignore[union-attr]
    if words[0] == "watch":
        assert Path(f"{db}-wake").is_dir()  # the watcher waits for wake-ups there
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    return subprocess.CompletedProcess(process.args, process.returncode, first + out, err)


@pytest.mark.parametrize(
    ("words", "ready"),
    [
        (["watch", "b"], "PUT b > k: v"),
        (["replicate", "r", "nats://127.0.0.1:9"], "following"),
        (["ui", "--no-browser", "--write"], "sqlkv ui: http"),
    ],
    ids=["watch", "replicate", "ui"],
)
def test_sigterm_cleans_up_as_ctrl_c_does(db: Path, words: list[str], ready: str) -> None:
    if words[0] == "ui":
        pytest.importorskip("uvicorn")
    result = _stopped_by_sigterm(db, words, ready)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    left = sorted(p.name for p in db.parent.iterdir())
    assert left == [db.name], left  # no -wake directory, no -wal or -shm: the store was closed


def test_get_and_put_start_without_the_modules_they_do_not_need(db: Path) -> None:
    """What bench/bench_cli.py measures stays lean: none of these is imported by `kv get` or `kv put`."""
    unneeded = ("shutil", "secrets", "hmac", "random", "socket", "typing", "base64", "asyncio", "anyio", "tempfile")
    code = f"""
import sys
from sqlkv.cli import main
assert main(["--db", {str(db)!r}, "kv", "get", "b", "k"]) == 0
assert main(["--db", {str(db)!r}, "kv", "put", "b", "k", "v2"]) == 0
print(" ".join(name for name in {unneeded!r} if name in sys.modules))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == ""
