"""The documentation site: a reference entry and a docstring for every public name, examples that run, the CLI page.

The site is built by ``mkdocs build --strict`` (in .ci/run); these tests keep its
sources honest: every Python, console and shell block of the README and the site
runs (tests/support/doc_examples.py says how), in a fresh directory.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import sqlkv
import sqlkv.pytest_plugin
import sqlkv.testing
from tests.support import doc_examples

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(p for p in DOCS.rglob("*.md") if "hooks" not in p.parts)]
EXAMPLE_PAGES = [page for page in PAGES if doc_examples.runnable(page)]
ENTRY = re.compile(r"^::: (\S+)$", re.M)


def public_names() -> list[str]:
    """Every public name, by the path its reference entry has."""
    modules: list[tuple[str, list[str]]] = [
        ("sqlkv", list(sqlkv.__all__)),
        ("sqlkv.testing", list(sqlkv.testing.__all__)),
        ("sqlkv.pytest_plugin", list(sqlkv.pytest_plugin.__all__)),
    ]
    if importlib.util.find_spec("sqlkv.codecs") is not None:
        codecs = importlib.import_module("sqlkv.codecs")
        modules.append(("sqlkv.codecs", list(codecs.__all__)))
    return [f"{module}.{name}" for module, names in modules for name in names]


def reference_entries() -> set[str]:
    return {m for page in (DOCS / "reference").glob("*.md") for m in ENTRY.findall(page.read_text(encoding="utf-8"))}


def test_every_public_name_has_a_reference_entry() -> None:
    missing = sorted(set(public_names()) - reference_entries())
    assert not missing, f"public names without a `::: name` entry in docs/reference/: {missing}"


def test_every_fixture_of_the_plugin_is_public() -> None:
    fixtures = {
        name
        for name, value in vars(sqlkv.pytest_plugin).items()
        if hasattr(value, "_fixture_function_marker") or hasattr(value, "_pytestfixturefunction")
    }
    assert fixtures == set(sqlkv.pytest_plugin.__all__)


def test_every_reference_entry_is_a_public_name() -> None:
    """No page documents a name that is gone (mkdocs --strict fails on a missing one; this says which)."""
    modules = {"sqlkv", "sqlkv.testing", "sqlkv.pytest_plugin", "sqlkv.codecs"}
    stale = sorted(e for e in reference_entries() - set(public_names()) if e not in modules)
    assert not stale, f"reference entries that are no public name: {stale}"


def _documented(value: Any) -> bool:
    doc = value.__doc__ if inspect.isclass(value) else inspect.getdoc(value)
    return bool(doc and doc.strip())


def test_every_public_name_and_member_has_a_docstring() -> None:
    griffe = pytest.importorskip("griffe", reason="the docs extra: pip install -e '.[docs]'")
    from docs.hooks.runtime_docstrings import RuntimeDocstrings

    loader = griffe.GriffeLoader(extensions=griffe.load_extensions(RuntimeDocstrings))
    package = loader.load("sqlkv")
    loader.resolve_aliases(external=False)
    for module in ("sqlkv.testing", "sqlkv.pytest_plugin", "sqlkv.codecs"):
        if importlib.util.find_spec(module) is not None:
            loader.load(module)
    missing: list[str] = []
    for path in public_names():
        obj = loader.modules_collection[path]
        if obj.is_alias:
            obj = obj.final_target
        if not (obj.docstring and obj.docstring.value.strip()):
            missing.append(path)
        if obj.is_class:
            for name, member in obj.members.items():
                if name.startswith("_") or member.is_alias or not (member.is_function or "property" in member.labels):
                    continue  # methods and properties (data attributes are described by their class)
                if not (member.docstring and member.docstring.value.strip()):
                    missing.append(f"{path}.{name}")
    del package
    assert not missing, f"public names without a docstring: {missing}"


def test_every_public_callable_has_a_docstring_at_run_time() -> None:
    """What ``help()`` shows: the same names, imported (no docs extra needed)."""
    missing = []
    for path in public_names():
        module, _, name = path.rpartition(".")
        value = getattr(importlib.import_module(module), name)
        if (inspect.isclass(value) or callable(value)) and not _documented(value):
            missing.append(path)
    assert not missing


def test_the_cli_reference_has_every_command_alias_and_flag() -> None:
    from docs.hooks.cli_reference import markdown
    from sqlkv.cli import build_parser
    from sqlkv.cli._table import COMMANDS

    text = markdown()
    assert "<!-- cli-reference -->" in (DOCS / "reference" / "cli.md").read_text(encoding="utf-8")
    for command in COMMANDS:
        assert f"### `sqlkv {'kv ' if command.kv else ''}{command.name}`" in text
        for alias in command.aliases:
            assert f"`{alias}`" in text
    for action in build_parser()._actions:  # the global flags
        for flag in action.option_strings:
            assert f"`{flag}`" in text or flag in ("-h", "--help")
    for flag in ("--marker-ttl", "--display-value", "--no-deletes", "--renumber", "--remote-bucket", "--write"):
        assert f"`{flag}`" in text
    for status in (1, 2, 3, 4, 5):
        assert f"\n| {status} | " in text


def test_every_page_is_in_the_nav() -> None:
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    pages = [p.relative_to(DOCS).as_posix() for p in PAGES if p.is_relative_to(DOCS)]
    assert [p for p in pages if p not in nav] == []


def test_the_guides_have_examples_that_run() -> None:
    guides = sorted((DOCS / "guides").glob("*.md"))
    assert len(guides) >= 6
    assert [g.name for g in guides if g not in EXAMPLE_PAGES] == []


@pytest.mark.parametrize("page", EXAMPLE_PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_examples_run(page: Path, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Every runnable block of the page, in order, in a fresh directory; the user's own store is never touched."""
    command = [sys.executable, str(Path(doc_examples.__file__)), str(page)]
    if any(block.directive == "nats" for block in doc_examples.runnable(page)):
        command += ["--nats-url", request.getfixturevalue("nats_server").url]
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    env = {
        **os.environ,
        "SQLKV_DB": str(work / "sqlkv.db"),
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(ROOT),
        "COLUMNS": "100",
    }
    result = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
