"""Every CLI command on every kind of bad path: one line ``sqlkv: error: ...``, the documented status, no traceback.

The commands are read from ``build_parser()`` (top level and ``kv``, aliases
included), so a new command fails here until it is given arguments below.
Store paths (``--db``, and ``migrate``'s source) and the commands' own paths
(``backup PATH``, ``export -o FILE``, ``import FILE``, ``migrate SRC DST``) are
tried missing, in a missing directory, as a directory, as a file that is not a
store, and, where file modes apply (as uid 65534 when the tests run as root),
unreadable, behind a directory that cannot be entered, and read-only. The exit
statuses are the ones the ``sqlkv --help`` epilog documents: 3 missing (file or
directory), 2 not usable as that path, 1 permission denied.
"""

from __future__ import annotations

import argparse
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import sqlkv
from sqlkv.cli import build_parser
from tests.support.cli_runs import CliResult, run_cli
from tests.support.unprivileged import run_unprivileged, shared_dir


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The subcommands of ``parser`` by every name they answer to (aliases included)."""
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(actions[0].choices) if actions else {}


def _every_command() -> list[tuple[tuple[str, ...], str]]:
    """(words, command) for every command of the CLI: ``("kv", "view")`` -> ``"info"``."""
    top = _subcommands(build_parser())
    found = [((name,), parser.get_default("command")) for name, parser in top.items() if name != "kv"]
    found += [(("kv", name), parser.get_default("command")) for name, parser in _subcommands(top["kv"]).items()]
    return found


pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the runs are forked children of one process")

COMMANDS = _every_command()
CREATES = {"add", "import"}
READS = {"info", "get", "history", "keys", "ls", "watch", "backup", "export", "migrate", "ui"}
RUNS_UNTIL_STOPPED = {"watch", "ui"}
"""Commands that run until stopped: a success is tried with a closed standard output, so its first line ends it."""


@dataclass
class Layout:
    """The files the tests share: a store, an export of another bucket, and paths of every kind."""

    root: Path

    @property
    def store(self) -> Path:
        return self.root / "store.db"

    @property
    def dump(self) -> Path:
        return self.root / "dump.jsonl"

    @property
    def out(self) -> Path:
        return self.root / "out"

    def new(self, name: str) -> str:
        """A path in a writable directory where nothing exists yet."""
        return str(self.out / name)


def _layout(root: Path) -> Layout:
    layout = Layout(root)
    with sqlkv.Store(layout.store) as store:
        kv = store.create_bucket("b", history=5)
        kv.put("k", b"v1")
        kv.put("k", b"v2")
    with sqlkv.Store(root / "other.db") as store:
        store.create_bucket("imported").put("x", b"1")
    export = run_cli([(["--db", str(root / "other.db"), "export", "-o", str(layout.dump)], False)], unprivileged=False)
    assert export[0].status == 0, export[0].stderr
    (root / "other.db").unlink()
    os.mkfifo(root / "fifo")  # a special file (never /dev/null: a broken backup --force would replace it)
    (root / "text.txt").write_text("not a store\n")
    (root / "not-json.jsonl").write_text("this is not json\n")
    (root / "not-utf8.jsonl").write_bytes(b'{"type": "\xff"}\n')
    for path in (layout.store, layout.dump, root / "text.txt", root / "not-json.jsonl", root / "not-utf8.jsonl"):
        path.chmod(0o644)
    layout.out.mkdir()
    layout.out.chmod(0o777)
    shutil.copy(layout.store, root / "rw.db")
    (root / "rw.db").chmod(0o666)
    shutil.copy(layout.store, root / "secret.db")
    (root / "secret.db").chmod(0o000)
    (root / "closed").mkdir()
    shutil.copy(layout.store, root / "closed" / "store.db")
    (root / "closed").chmod(0o000)
    (root / "readonly").mkdir()
    shutil.copy(layout.store, root / "readonly" / "store.db")
    (root / "readonly" / "store.db").chmod(0o444)
    (root / "readonly").chmod(0o555)
    return layout


@pytest.fixture(scope="module")
def layout() -> Iterator[Layout]:
    """The files, in a directory uid 65534 can enter; as that user, modes must apply (else the test is skipped).

    Shared by the module's tests: no run may change them (what a run creates is named after its command).
    """
    with shared_dir() as root:
        try:
            made = _layout(root)
            probe = run_unprivileged("open(sys.argv[1], 'rb')", str(root / "secret.db"))
            if probe.returncode == 0:
                pytest.skip("file modes do not apply here (not root, and chmod has no effect)")
            yield made
        finally:
            for folder in (root / "closed", root / "readonly"):
                if folder.exists():
                    folder.chmod(0o700)


Arguments = Callable[[Layout, str, str], list[str]]
"""The words after the command, given the layout, the store path and a tag unique to the run."""

ARGUMENTS: dict[str, Arguments] = {
    "add": lambda lay, db, tag: ["b", "--history", "5"],
    "edit": lambda lay, db, tag: ["b", "--description", "edited"],
    "info": lambda lay, db, tag: ["b"],
    "put": lambda lay, db, tag: ["b", "k", "v3"],
    "create": lambda lay, db, tag: ["b", "new", "v"],
    "update": lambda lay, db, tag: ["b", "k", "v3", "2"],
    "incr": lambda lay, db, tag: ["b", "n", "2"],
    "touch": lambda lay, db, tag: ["b", "k", "1h"],
    "get": lambda lay, db, tag: ["b", "k"],
    "del": lambda lay, db, tag: ["b", "k", "-f"],
    "rm": lambda lay, db, tag: ["b", "-f"],
    "detach": lambda lay, db, tag: ["b"],
    "purge": lambda lay, db, tag: ["b", "k", "-f"],
    "compact": lambda lay, db, tag: ["b", "-f"],
    "history": lambda lay, db, tag: ["b", "k"],
    "revert": lambda lay, db, tag: ["b", "k", "1", "-f"],
    "keys": lambda lay, db, tag: ["b"],
    "ls": lambda lay, db, tag: [],
    "watch": lambda lay, db, tag: ["b"],
    "backup": lambda lay, db, tag: [lay.new(f"backup-{tag}.db")],
    "export": lambda lay, db, tag: ["-o", lay.new(f"export-{tag}.jsonl")],
    "import": lambda lay, db, tag: [str(lay.dump)],
    "migrate": lambda lay, db, tag: [db, lay.new(f"migrated-{tag}.db")],
    "replicate": lambda lay, db, tag: ["b", "nats://127.0.0.1:9"],  # every store path here fails before connecting
    "ui": lambda lay, db, tag: ["--port", "0", "--no-browser"],
}


def test_every_command_is_covered() -> None:
    assert {command for _, command in COMMANDS} == set(ARGUMENTS)
    assert (("kv", "info") in [words for words, _ in COMMANDS]) and (("kv", "list") in [w for w, _ in COMMANDS])


def _argv(words: tuple[str, ...], command: str, lay: Layout, db: str, tag: str) -> list[str]:
    """The command line: ``--db DB`` (``migrate`` ignores it: DB is its source)."""
    return ["--db", db, *words, *ARGUMENTS[command](lay, db, tag)]


def _assert_error(result: CliResult, status: int, phrase: str, what: str) -> None:
    assert "Traceback" not in result.stderr, (what, result.stderr)
    assert result.status == status, (what, result.status, result.stderr)
    assert result.stderr.startswith("sqlkv: error: ") and result.stderr.count("\n") == 1, (what, result.stderr)
    assert phrase in result.stderr, (what, phrase, result.stderr)


def _assert_ok(result: CliResult, what: str) -> None:
    assert (result.status, result.stderr) == (0, ""), (what, result.status, result.stderr)


@dataclass(frozen=True)
class StoreCase:
    """A store path of one kind, and what each kind of command does with it."""

    name: str
    path: Callable[[Layout, str], str]
    unprivileged: bool
    status: int
    phrase: str
    creating: tuple[int, str] | None = None
    """Status and phrase for ``add`` / ``import`` where they differ (0: they succeed)."""
    reading: tuple[int, str] | None = None
    """Status and phrase for the reading commands where they differ (0: they succeed)."""


NO_STORE = "no store at"
STORE_CASES = [
    StoreCase("missing", lambda lay, tag: str(lay.root / f"typo-{tag}.db"), False, 3, NO_STORE, creating=(0, "")),
    StoreCase("in a missing directory", lambda lay, tag: str(lay.root / "nowhere" / "x.db"), False, 3, "nowhere"),
    StoreCase("a directory", lambda lay, tag: str(lay.root), False, 2, "is a directory"),
    StoreCase("not a store", lambda lay, tag: str(lay.root / "text.txt"), False, 2, "not an sqlkv store"),
    StoreCase("unreadable", lambda lay, tag: str(lay.root / "secret.db"), True, 1, "permission denied"),
    StoreCase(
        "behind a closed directory",
        lambda lay, tag: str(lay.root / "closed" / "store.db"),
        True,
        1,
        "permission denied",
    ),
    StoreCase(
        "read-only",
        lambda lay, tag: str(lay.root / "readonly" / "store.db"),
        True,
        1,
        "permission denied",
        reading=(0, ""),
    ),
    StoreCase(
        "missing in a read-only directory",
        lambda lay, tag: str(lay.root / "readonly" / f"typo-{tag}.db"),
        True,
        3,
        NO_STORE,
        creating=(1, "permission denied"),
    ),
]


def _expected(case: StoreCase, command: str) -> tuple[int, str]:
    if command in CREATES and case.creating is not None:
        return case.creating
    if command in READS and case.reading is not None:
        return case.reading
    return case.status, case.phrase


SIDE_FILES = ("", "-wal", "-shm")


@pytest.mark.parametrize(("words", "command"), COMMANDS, ids=[" ".join(w) for w, _ in COMMANDS])
def test_every_command_on_every_kind_of_store_path(words: tuple[str, ...], command: str, layout: Layout) -> None:
    for unprivileged in (False, True):
        cases = [c for c in STORE_CASES if c.unprivileged == unprivileged]
        tags = [f"{'-'.join(words)}-{i}" for i in range(len(cases))]
        paths = [case.path(layout, tag) for case, tag in zip(cases, tags)]
        existed = {path + side for path in paths for side in SIDE_FILES if os.path.lexists(path + side)}
        runs = [
            (
                _argv(words, command, layout, path, tag),
                command in RUNS_UNTIL_STOPPED and _expected(case, command)[0] == 0,
            )
            for case, path, tag in zip(cases, paths, tags)
        ]
        for case, path, tag, result in zip(cases, paths, tags, run_cli(runs, unprivileged=unprivileged)):
            what = f"sqlkv {' '.join(words)} with a store path {case.name}: {path}"
            status, phrase = _expected(case, command)
            if status == 0:
                _assert_ok(result, what)
            else:
                _assert_error(result, status, phrase, what)
                assert not [name for name in os.listdir(layout.out) if tag in name], what  # no output either
            if status != 0 or command not in CREATES:  # no store made, no -wal, no -shm
                made = [path + side for side in SIDE_FILES if os.path.lexists(path + side)]
                assert set(made) <= existed, (what, made)
    assert not [name for name in os.listdir(layout.out) if name.endswith(".part")]


@dataclass(frozen=True)
class PathCase:
    """A command given a path of its own of one kind."""

    name: str
    argv: Callable[[Layout], list[str]]
    unprivileged: bool
    status: int
    phrase: str


def _store(lay: Layout) -> list[str]:
    return ["--db", str(lay.store)]


def _locked(lay: Layout) -> str:
    """A new file in a directory uid 65534 may not write."""
    return str(lay.root / "readonly" / "x")


def _writable(lay: Layout) -> list[str]:
    """A store that uid 65534 may write too."""
    return ["--db", str(lay.root / "rw.db")]


MISSING_DIR = "out/no does not exist"
DENIED = "permission denied"
PATH_CASES = [
    PathCase("backup, missing directory", lambda L: [*_store(L), "backup", L.new("no/x.db")], False, 3, MISSING_DIR),
    PathCase("backup onto a directory", lambda L: [*_store(L), "backup", str(L.out)], False, 2, "is a directory"),
    PathCase("backup onto a file", lambda L: [*_store(L), "backup", str(L.dump)], False, 2, "exists (overwrite"),
    PathCase("backup onto a pipe", lambda L: [*_store(L), "backup", str(L.root / "fifo"), "-f"], False, 2, "regular"),
    PathCase("backup, read-only directory", lambda L: [*_store(L), "backup", _locked(L)], True, 1, DENIED),
    PathCase("export, missing directory", lambda L: [*_store(L), "export", "-o", L.new("no/x")], False, 3, MISSING_DIR),
    PathCase("export onto a directory", lambda L: [*_store(L), "export", "-o", str(L.out)], False, 2, "is a directory"),
    PathCase("export onto a file", lambda L: [*_store(L), "export", "-o", str(L.dump)], False, 2, "exists (overwrite"),
    PathCase("export, read-only directory", lambda L: [*_store(L), "export", "-o", _locked(L)], True, 1, DENIED),
    PathCase("import a missing file", lambda L: [*_store(L), "import", L.new("no.jsonl")], False, 3, "no such file"),
    PathCase("import, missing directory", lambda L: [*_store(L), "import", L.new("no/x")], False, 3, "no such file"),
    PathCase("import a directory", lambda L: [*_store(L), "import", str(L.out)], False, 2, "is a directory"),
    PathCase("import not JSON", lambda L: [*_store(L), "import", str(L.root / "not-json.jsonl")], False, 2, "line 1"),
    PathCase("import not UTF-8", lambda L: [*_store(L), "import", str(L.root / "not-utf8.jsonl")], False, 2, "UTF-8"),
    PathCase(
        "import unreadable", lambda L: [*_writable(L), "import", str(L.root / "secret.db")], True, 1, "cannot read"
    ),
    PathCase(
        "migrate, missing directory", lambda L: ["migrate", str(L.store), L.new("no/x.db")], False, 3, MISSING_DIR
    ),
    PathCase("migrate to a directory", lambda L: ["migrate", str(L.store), str(L.out)], False, 2, "is a directory"),
    PathCase("migrate to not a store", lambda L: ["migrate", str(L.store), str(L.dump)], False, 2, "not an sqlkv"),
    PathCase("migrate, read-only directory", lambda L: ["migrate", str(L.store), _locked(L)], True, 1, DENIED),
    PathCase(
        "migrate to a read-only store",
        lambda L: ["migrate", str(L.store), str(L.root / "readonly" / "store.db")],
        True,
        1,
        "cannot write to",
    ),
]


@pytest.mark.parametrize("unprivileged", [False, True], ids=["paths", "permissions"])
def test_the_commands_own_paths(layout: Layout, unprivileged: bool) -> None:
    cases = [c for c in PATH_CASES if c.unprivileged == unprivileged]
    before = sorted(os.listdir(layout.out)), layout.dump.read_bytes()
    for case, result in zip(cases, run_cli([(c.argv(layout), False) for c in cases], unprivileged=unprivileged)):
        _assert_error(result, case.status, case.phrase, case.name)
    assert (sorted(os.listdir(layout.out)), layout.dump.read_bytes()) == before  # nothing made, nothing replaced
