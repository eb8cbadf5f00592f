"""The sqlkv command line, run as a user runs it: in subprocesses, on a store file of the test's own."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import sqlkv
from tests.support.counters import recount

SCRIPT = Path(sys.executable).parent / "sqlkv"
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "sqlkv.cli"]


def run(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COMMAND, "--db", str(db), *args], input="", capture_output=True, text=True, timeout=60)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "cli.db"


@pytest.mark.parametrize("prefix", [(), ("kv",)], ids=["sqlkv", "sqlkv-kv"])
def test_the_walkthrough(db: Path, prefix: tuple[str, ...]) -> None:
    missing = run(db, "info")  # reading a store that is not there makes none
    assert (missing.returncode, missing.stderr) == (
        3,
        f"sqlkv: error: no store at {db} (create one with `sqlkv kv add BUCKET`)\n",
    )
    assert list(db.parent.iterdir()) == []

    add = run(db, *prefix, "add", "my-kv")
    assert add.returncode == 0
    for line in ("Bucket Name: my-kv", "History Kept: 1", "Values Stored: 0", "Maximum Age: unlimited"):
        assert line in add.stdout
    info = run(db, "info")
    assert info.returncode == 0 and f"Store file: {db}" in info.stdout and "Schema version:" in info.stdout

    put = run(db, *prefix, "put", "my-kv", "Key1", "Value1")
    assert (put.returncode, put.stdout) == (0, "Value1\n")

    get = run(db, *prefix, "get", "my-kv", "Key1")
    lines = get.stdout.split("\n")
    assert get.returncode == 0 and lines[0].startswith("my-kv > Key1 revision: 1 created @ ")
    assert lines[1:4] == ["", "Value1", ""]

    assert run(db, *prefix, "del", "my-kv", "Key1", "-f").returncode == 0
    missing = run(db, *prefix, "del", "my-kv", "NoSuchKey", "-f")  # harmless, as in NATS
    assert (missing.returncode, missing.stdout, missing.stderr) == (0, "", "")

    assert run(db, *prefix, "add", "my-sem").returncode == 0
    first = run(db, *prefix, "create", "my-sem", "Semaphore1", "Value1")
    second = run(db, *prefix, "create", "my-sem", "Semaphore1", "Value1")
    assert (first.returncode, first.stdout) == (0, "Value1\n")
    assert (second.returncode, second.stderr) == (4, "sqlkv: error: wrong last sequence: 1: key exists\n")

    ok = run(db, *prefix, "update", "my-sem", "Semaphore1", "Value2", "1")
    late = run(db, *prefix, "update", "my-sem", "Semaphore1", "Value2", "1")
    assert (ok.returncode, ok.stdout) == (0, "Value2\n")
    assert (late.returncode, late.stderr) == (4, "sqlkv: error: wrong last sequence: 2\n")

    watcher = subprocess.Popen(
        [*COMMAND, "--db", str(db), *prefix, "watch", "my-kv"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert watcher.stdout is not None
        initial = [watcher.stdout.readline().rstrip() for _ in range(2)]
        assert initial[0].endswith("] DELETE my-kv > Key1"), initial
        assert initial[1].endswith("] DELETE my-kv > NoSuchKey"), initial
        assert run(db, *prefix, "put", "my-kv", "Key1", "Value2").returncode == 0  # "another terminal"
        live = watcher.stdout.readline()
        assert live.rstrip().endswith("] PUT my-kv > Key1: Value2"), live
        watcher.send_signal(signal.SIGINT)
        assert watcher.wait(30) == 0  # Ctrl-C ends watch cleanly
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()
        if watcher.stdout is not None:
            watcher.stdout.close()

    assert run(db, *prefix, "rm", "my-kv", "-f").returncode == 0
    gone = run(db, *prefix, "get", "my-kv", "Key1")
    assert (gone.returncode, gone.stderr) == (3, "sqlkv: error: bucket not found: my-kv\n")


def test_values_from_standard_input(db: Path) -> None:
    run(db, "add", "b")
    put = subprocess.run(
        [*COMMAND, "--db", str(db), "put", "b", "k"], input=b"from stdin\x00\xff", capture_output=True, timeout=60
    )
    assert (put.returncode, put.stdout) == (0, b"\n")
    raw = subprocess.run([*COMMAND, "--db", str(db), "get", "b", "k", "--raw"], capture_output=True, timeout=60)
    assert raw.stdout == b"from stdin\x00\xff"
    shown = run(db, "get", "b", "k")
    assert "ZnJvbSBzdGRpbgD/" in shown.stdout  # not printable: base64, as the NATS CLI shows it


def test_json_output_for_scripts(db: Path) -> None:
    run(db, "add", "b", "--history", "3", "--ttl", "1h", "--max-value-size", "1K", "--description", "d")
    run(db, "put", "b", "orders.1", "x")
    run(db, "put", "b", "orders.1", "y")
    entry = json.loads(run(db, "get", "b", "orders.1", "--json").stdout)
    assert (entry["value"], entry["revision"], entry["operation"]) == ("y", 2, "PUT")
    assert [e["value"] for e in json.loads(run(db, "history", "b", "orders.1", "--json").stdout)] == ["x", "y"]
    assert json.loads(run(db, "keys", "b", "orders.*", "--json").stdout) == ["orders.1"]
    status = json.loads(run(db, "status", "b", "--json").stdout)
    assert (status["history"], status["ttl"], status["max_value_size"], status["description"]) == (3, 3600, 1024, "d")
    listing = json.loads(run(db, "ls", "--json").stdout)
    assert [b["bucket"] for b in listing] == ["b"]
    assert listing[0]["last_update"] == entry["created"]  # the newest revision's time
    assert json.loads(run(db, "info", "--json").stdout)["buckets"][0]["values"] == 2


def test_listing_history_revert_edit_compact(db: Path) -> None:
    run(db, "add", "b", "--history", "5")
    for value in ("one", "two", "three"):
        run(db, "put", "b", "k", value)
    assert run(db, "ls", "b").stdout == "k\n"
    assert run(db, "ls", "--names").stdout == "b\n"
    history = run(db, "history", "b", "k").stdout
    assert "History for b > k" in history and "│ k   │        3 │ PUT " in history
    revert = run(db, "revert", "b", "k", "1", "-f")
    assert revert.returncode == 0 and "one" in revert.stdout
    assert run(db, "get", "b", "k", "--raw").stdout == "one"
    edit = run(db, "edit", "b", "--history", "2")
    assert edit.returncode == 0 and "History Kept: 2" in edit.stdout
    run(db, "del", "b", "k", "-f")
    assert run(db, "compact", "b", "-f").returncode == 0
    assert run(db, "ls", "b").stdout == "No keys found in bucket\n"


def test_errors_are_one_line_with_distinct_statuses(db: Path) -> None:
    run(db, "add", "b")
    cases = [
        (("put", "b", "bad key", "v"), 2, "sqlkv: error: invalid key"),
        (("get", "b", "missing"), 3, "sqlkv: error: key not found: missing"),
        (("get", "nope", "k"), 3, "sqlkv: error: bucket not found: nope"),
        (("add", "bad.name"), 2, "sqlkv: error: invalid bucket name"),
        (("add", "b", "--history", "99"), 2, "sqlkv: error: history must be between 1 and 64"),
        (("add", "c", "--ttl", "soon"), 2, "sqlkv: error: invalid duration"),
        (("del", "b", "k"), 2, "sqlkv: error: cannot ask for confirmation without a terminal"),
    ]
    for args, status, message in cases:
        result = run(db, *args)
        assert result.returncode == status, (args, result.stderr)
        assert result.stderr.startswith(message), (args, result.stderr)
        assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1
    run(db, "add", "small", "--max-value-size", "4")
    assert run(db, "put", "small", "k", "12345").returncode == 5


def test_help_and_version() -> None:
    helps = (["--help"], ["kv", "--help"], ["kv", "put", "--help"], ["kv", "info", "--help"], ["export", "--help"])
    for args in helps:
        result = subprocess.run([*COMMAND, *args], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0 and "usage: sqlkv" in result.stdout, args
    version = subprocess.run([*COMMAND, "--version"], capture_output=True, text=True, timeout=60)
    assert version.stdout == f"sqlkv {sqlkv.__version__}\n"


def test_default_store_from_environment(tmp_path: Path) -> None:
    env = {**os.environ, "SQLKV_DB": str(tmp_path / "env.db")}
    subprocess.run([*COMMAND, "add", "b"], capture_output=True, text=True, env=env, timeout=60, check=True)
    result = subprocess.run([*COMMAND, "info"], capture_output=True, text=True, env=env, timeout=60)
    assert f"Store file: {tmp_path / 'env.db'}" in result.stdout


WRITER = """
import sys, anyio, sqlkv
async def main():
    async with sqlkv.AsyncStore(sys.argv[1]) as store:
        kv = await store.bucket("b")
        i = 0
        while True:
            rev = await kv.put(f"k.{i}", str(i))
            print(rev, flush=True)
            i += 1
anyio.run(main)
"""


def test_backup_while_another_process_writes(db: Path, tmp_path: Path) -> None:
    run(db, "add", "b")
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None
        acknowledged = 0
        while acknowledged < 200:
            acknowledged = int(writer.stdout.readline())
        backup = run(db, "backup", str(tmp_path / "copy.db"))
        assert backup.returncode == 0, backup.stderr
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and int(writer.stdout.readline()) < acknowledged + 50:
            pass  # the writer kept going during and after the backup
    finally:
        writer.kill()
        writer.wait()
        if writer.stdout is not None:
            writer.stdout.close()
    with sqlkv.Store(tmp_path / "copy.db") as copy:
        kv = copy.bucket("b")
        assert kv.status().last_revision >= acknowledged
        assert kv.get(f"k.{acknowledged - 1}").value == str(acknowledged - 1).encode()
        assert recount(kv) == ((s := kv.status()).values, s.bytes, s.keys)
    assert (tmp_path / "copy.db").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("history", [False, True])
def test_export_import_round_trip(db: Path, tmp_path: Path, history: bool) -> None:
    with sqlkv.Store(db) as store:
        kv = store.create_bucket("b", history=3, description="round trip")
        kv.put("a", b"\x00\x01 binary")
        kv.put("a", b"second")
        kv.put("gone", b"x")
        kv.delete("gone")
        store.create_bucket("other").put("z", "é")
    exported = run(db, "export", *(["--history"] if history else []), "-o", str(tmp_path / "dump.jsonl"))
    assert exported.returncode == 0, exported.stderr
    fresh = tmp_path / "fresh.db"
    imported = run(fresh, "import", str(tmp_path / "dump.jsonl"))
    assert imported.returncode == 0, imported.stderr
    with sqlkv.Store(db) as old, sqlkv.Store(fresh) as new:
        assert new.bucket_names() == ["b", "other"]
        assert new.bucket("b").config.description == "round trip"
        for name in ("b", "other"):
            a, b = old.bucket(name), new.bucket(name)
            assert a.keys() == b.keys()
            for key in a.keys():
                if history:
                    assert [(e.revision, e.value) for e in a.history(key)] == [
                        (e.revision, e.value) for e in b.history(key)
                    ]
                else:
                    assert (a.get(key).revision, a.get(key).value) == (b.get(key).revision, b.get(key).value)
            assert recount(b) == ((s := b.status()).values, s.bytes, s.keys)
        if history:
            assert [e.operation for e in new.bucket("b").history("gone")] == [sqlkv.Operation.PUT, sqlkv.Operation.DEL]
    again = run(fresh, "import", str(tmp_path / "dump.jsonl"))
    assert again.returncode == 2 and "renumber" in again.stderr
    assert run(fresh, "import", "--renumber", str(tmp_path / "dump.jsonl")).returncode == 0


def test_a_mistyped_store_path_creates_nothing(tmp_path: Path) -> None:
    """Only `add` and `import` make a store; every other command says there is none, and leaves no file."""
    typo = tmp_path / "typo.db"
    commands = [
        ("kv", "ls"),
        ("kv", "get", "b", "k"),
        ("info",),
        ("export",),
        ("watch", "b"),
        ("history", "b", "k"),
        ("keys", "b"),
        ("backup", str(tmp_path / "copy.db")),
        ("kv", "put", "b", "k", "v"),
        ("kv", "edit", "b", "--history", "2"),
        ("kv", "rm", "b", "-f"),
    ]
    for args in commands:
        result = run(typo, *args)
        message = f"sqlkv: error: no store at {typo} (create one with `sqlkv kv add BUCKET`)\n"
        assert (result.returncode, result.stderr) == (3, message), args
        assert list(tmp_path.iterdir()) == [], args  # no store, no -wal, no -shm, no backup
    assert run(typo, "kv", "add", "b").returncode == 0 and typo.exists()


def test_kv_info_and_its_aliases(db: Path) -> None:
    run(db, "add", "b", "--description", "d")
    shown = {words: run(db, *words, "b") for words in [("kv", "info"), ("kv", "view"), ("kv", "status"), ("info",)]}
    for words, result in shown.items():
        assert result.returncode == 0 and "Information for Key-Value Store Bucket b created" in result.stdout, words
    assert len({result.stdout for result in shown.values()}) == 1
    store = run(db, "kv", "info")
    assert store.returncode == 0 and f"Store file: {db}" in store.stdout


@pytest.mark.parametrize("prefix", [(), ("kv",)], ids=["sqlkv", "sqlkv-kv"])
def test_a_command_group_alone_prints_its_own_help(prefix: tuple[str, ...]) -> None:
    result = subprocess.run([*COMMAND, *prefix], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stdout.startswith("usage: sqlkv kv " if prefix else "usage: sqlkv [")
    assert "info (view, status)" in result.stdout and "ls (list)" in result.stdout
    listed_backup = re.search(r"^    backup ", result.stdout, re.M) is not None
    assert listed_backup != bool(prefix)  # the store commands are not in `kv`
    assert result.stderr == "sqlkv: error: a command from the list above is required\n"


def test_usage_errors_are_one_line(db: Path) -> None:
    cases = [
        (("get", "b"), "the following arguments are required: key (see `sqlkv get --help`)"),
        (("kv", "get", "b", "k", "--revision", "x"), "argument --revision: invalid int value: 'x'"),
        (("kv", "nosuch"), "argument COMMAND: invalid choice: 'nosuch'"),
    ]
    for args, message in cases:
        result = run(db, *args)
        assert result.returncode == 2 and result.stderr.startswith(f"sqlkv: error: {message}"), result.stderr
        assert result.stderr.count("\n") == 1 and result.stdout == ""
    empty = subprocess.run([*COMMAND, "--db", "", "info"], capture_output=True, text=True, timeout=60)
    assert (empty.returncode, empty.stderr) == (2, "sqlkv: error: --db needs a path\n")


def test_values_given_as_arguments_are_stored_as_their_bytes(db: Path) -> None:
    run(db, "add", "b")
    put = subprocess.run([*COMMAND, "--db", str(db), "put", "b", "k", b"caf\xe9 \xff"], capture_output=True, timeout=60)
    assert (put.returncode, put.stdout, put.stderr) == (0, b"caf\xe9 \xff\n", b"")
    with sqlkv.Store(db) as store:
        assert store.bucket("b").get("k").value == b"caf\xe9 \xff"


def _table_rows(text: str) -> list[list[str]]:
    """The cells of a rounded-box table's header and rows."""
    return [[cell.strip() for cell in line.split("│")[1:-1]] for line in text.splitlines() if line.count("│") > 2]


def test_ls_shows_how_long_ago_each_bucket_was_updated(db: Path) -> None:
    with sqlkv.Store(db) as store:
        store.create_bucket("empty")
        old = store.create_bucket("old")
        two_days_ago = datetime.now(timezone.utc) - timedelta(days=2, seconds=5)
        old.import_entries([sqlkv.Entry("old", "k", b"v", 1, two_days_ago, 0, sqlkv.Operation.PUT)])
        gone = store.create_bucket("gone")  # its newest revision was compacted away: the time is not known
        gone.put("k", b"v")
        gone.delete("k")
        gone.purge_deletes(older_than=0)
        store.create_bucket("fresh").put("k", b"v")
    listing = run(db, "kv", "ls")
    assert listing.returncode == 0 and "rev " not in listing.stdout
    header, *rows = _table_rows(listing.stdout)
    assert header == ["Bucket", "Description", "Created", "Size", "Values", "Last Update"]
    last = {row[0]: row[5] for row in rows}
    assert last["empty"] == "never"  # as the NATS CLI says of an empty bucket
    assert re.fullmatch(r"2d0h0m\d+s", last["old"]), last
    assert last["gone"] == "unknown"
    assert re.fullmatch(r"\d+µs|\d+ms|\d+\.\d\ds", last["fresh"]), last
    updated = {b["bucket"]: b["last_update"] for b in json.loads(run(db, "ls", "--json").stdout)}
    assert (updated["empty"], updated["gone"], updated["old"]) == (None, None, two_days_ago.isoformat())


def test_ages_as_the_nats_cli_prints_them() -> None:
    from sqlkv.cli._format import age

    seconds = [0, 4e-7, 7.34e-4, 0.0123, 0.9996, 4.254, 62, 3723, 90061, 366 * 86400 + 3661]
    printed = ["0s", "0s", "734µs", "12ms", "1s", "4.25s", "1m2s", "1h2m3s", "1d1h1m1s", "1y1d1h1m1s"]
    assert [age(s) for s in seconds] == printed


def test_ls_verbose_shows_each_key_as_the_nats_cli(db: Path) -> None:
    run(db, "add", "b")
    run(db, "put", "b", "a.1", "one")
    run(db, "put", "b", "a.2", "two")
    subprocess.run([*COMMAND, "--db", str(db), "put", "b", "z", b"\xff"], capture_output=True, timeout=60, check=True)
    verbose = run(db, "kv", "ls", "b", "-v")
    assert verbose.returncode == 0 and "│           Contents for bucket 'b'            │" in verbose.stdout
    header, *rows = _table_rows(verbose.stdout)
    assert header == ["Key", "Created", "Delta", "Revision"]
    assert [(r[0], r[2], r[3]) for r in rows] == [("a.1", "0", "1"), ("a.2", "0", "2"), ("z", "0", "3")]
    header, *rows = _table_rows(run(db, "kv", "ls", "b", "--verbose", "--display-value").stdout)
    assert header[-1] == "Value" and [(r[0], r[-1]) for r in rows] == [("a.1", "one"), ("a.2", "two"), ("z", "/w==")]
    assert [r[0] for r in _table_rows(run(db, "ls", "b", "a.*", "-v").stdout)[1:]] == ["a.1", "a.2"]
    assert run(db, "ls", "b", "--display-value").stdout == "a.1\na.2\nz\n"  # as NATS: no effect without -v
    entries = json.loads(run(db, "ls", "b", "-v", "--json").stdout)
    assert [(e["key"], e["value_base64"]) for e in entries] == [("a.1", "b25l"), ("a.2", "dHdv"), ("z", "/w==")]
    run(db, "add", "empty")
    empty = run(db, "ls", "empty", "-v").stdout
    assert "Contents for bucket 'empty'" in empty and empty.endswith("╯\nNo keys found in bucket\n")


def test_export_writes_a_private_file_and_replaces_one_only_with_force(db: Path, tmp_path: Path) -> None:
    run(db, "add", "b")
    run(db, "put", "b", "k", "v")
    target = tmp_path / "dump.jsonl"
    umask = os.umask(0o022)  # what a user typically has: a plain open() would make the file 0644
    try:
        assert run(db, "export", "-o", str(target)).returncode == 0
        assert target.stat().st_mode & 0o777 == 0o600
        first = target.read_text()
        again = run(db, "export", "-o", str(target))
        assert (again.returncode, again.stderr) == (2, f"sqlkv: error: {target} exists (overwrite it with --force)\n")
        assert target.read_text() == first
        target.chmod(0o644)
        run(db, "put", "b", "k2", "v2")
        assert run(db, "export", "-o", str(target), "--force").returncode == 0
        assert target.stat().st_mode & 0o777 == 0o600 and '"key": "k2"' in target.read_text()
        failed = run(db, "export", "nope", "-o", str(tmp_path / "other.jsonl"))
        assert (failed.returncode, failed.stderr) == (3, "sqlkv: error: bucket not found: nope\n")
        assert not (tmp_path / "other.jsonl").exists() and not list(tmp_path.glob(".*.part"))
    finally:
        os.umask(umask)


@pytest.mark.parametrize("prefix", [(), ("kv",)], ids=["sqlkv", "sqlkv-kv"])
def test_incr_and_touch(db: Path, prefix: tuple[str, ...]) -> None:
    assert run(db, "add", "c").returncode == 0
    assert [run(db, *prefix, "incr", "c", "hits", *by).stdout for by in ((), ("41",), ("-50",))] == [
        "1\n",
        "42\n",
        "-8\n",
    ]
    assert run(db, "get", "c", "hits", "--raw").stdout == "-8"
    touched = run(db, *prefix, "touch", "c", "hits", "1h")
    assert (touched.returncode, touched.stdout, touched.stderr) == (0, "", "")
    with sqlkv.Store(db) as store:
        assert store.bucket("c").status().last_revision == 3  # touch wrote no revision
    assert run(db, *prefix, "touch", "c", "hits", "never").returncode == 0
    missing = run(db, *prefix, "touch", "c", "nobody", "5s")
    assert (missing.returncode, missing.stderr) == (3, "sqlkv: error: key not found: nobody\n")
    run(db, "put", "c", "text", "abc")
    refused = run(db, *prefix, "incr", "c", "text")
    assert refused.returncode == 2 and refused.stderr.startswith("sqlkv: error: value of text is not a decimal integer")
    assert run(db, *prefix, "incr", "c", "hits", "1.5").returncode == 2  # a usage error, one line


def test_get_shows_when_the_key_expires(db: Path) -> None:
    with sqlkv.Store(db) as store:
        kv = store.create_bucket("b")
        kv.put("session", b"x", ttl=3600)
        kv.put("plain", b"y")
    header = run(db, "kv", "get", "b", "session").stdout.splitlines()[0]
    assert re.fullmatch(r"b > session revision: 1 created @ .+ expires in 59m5\ds", header), header
    assert "expires" not in run(db, "kv", "get", "b", "plain").stdout
