"""Run every example of a Markdown page, in order, in the current directory: ``python doc_examples.py PAGE.md``.

The test suite runs each page of the README and the site through this script
(tests/test_docs.py), in a fresh directory with ``SQLKV_DB`` and the user's data
directory inside it, so no example touches the user's own store. A page's blocks run
top to bottom, sharing the directory (and the Python blocks one namespace), as a
reader following the page would run them:

- ```` ```python ````: executed; an exception fails the page (its traceback shows
  the line in the Markdown file).
- ```` ```console ````: ``$ command`` lines run in bash; the lines after one are its
  output (standard output and error), compared as doctest does with ELLIPSIS and
  NORMALIZE_WHITESPACE (``...`` stands for times and paths); a command must fail
  exactly when its output shows ``sqlkv: error:`` (unless it shows ``$?`` itself). A command whose comment says
  ``Ctrl-C`` runs until it has printed the lines shown, then gets SIGINT.
- ```` ```sh ```` / ```` ```bash ````: each line runs in bash and must succeed; a line
  whose comment says ``Ctrl-C`` runs until it printed one line, then gets SIGINT.

A comment just before a block changes how it runs (invisible on the site and the forge):

- ``<!-- test: skip: REASON -->``: not run (kept few: installs, a browser);
- ``<!-- test: nats -->``: run against the test suite's nats-server, whose URL
  (``--nats-url``) replaces ``nats://localhost:4222`` and ``nats://hub:4222``;
- ``<!-- test: pytest -->``: a Python block that is a test file, run by pytest
  (``import pytest`` may be left out of it).
"""

from __future__ import annotations

import argparse
import doctest
import os
import re
import signal
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[^\n]*$")
DIRECTIVE = re.compile(r"^\s*<!-- test: (?P<what>skip|nats|pytest)(?::\s*(?P<reason>.*?))?\s*-->\s*$")
RUNNABLE = ("python", "console", "sh", "bash")
HUBS = ("nats://localhost:4222", "nats://hub:4222")


@dataclass
class Block:
    """One fenced code block of a page."""

    lang: str
    code: str
    line: int
    """The line of the block's first line of code, in the page."""
    directive: str = ""
    reason: str = ""


def blocks(text: str) -> list[Block]:
    """The fenced code blocks of a Markdown text, with the directive before each."""
    found: list[Block] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        match = FENCE.match(lines[index])
        if match is None:
            index += 1
            continue
        indent, start = match["indent"], index + 1
        end = start
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        code = "\n".join(line[len(indent) :] if line.startswith(indent) else line for line in lines[start:end])
        before = next((lines[i] for i in range(index - 1, -1, -1) if lines[i].strip()), "")
        directive = DIRECTIVE.match(before)
        found.append(
            Block(
                match["lang"],
                code + "\n",
                start + 1,
                directive["what"] if directive else "",
                (directive["reason"] or "") if directive else "",
            )
        )
        index = end + 1
    return found


def runnable(page: Path) -> list[Block]:
    """The blocks of a page that run (of a runnable language, not skipped)."""
    return [b for b in blocks(page.read_text(encoding="utf-8")) if b.lang in RUNNABLE and b.directive != "skip"]


class Failed(Exception):
    """An example failed; the message says where and how."""


def _interrupted(command: str, lines: int) -> str:
    """Run ``command`` until it has printed ``lines`` lines, then send it SIGINT (as Ctrl-C would)."""
    process = subprocess.Popen(
        ["bash", "-c", f"exec {command}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    seen = [process.stdout.readline() for _ in range(lines)]
    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=30)
    if process.returncode not in (0, 130):
        raise Failed(f"{command!r} ended with status {process.returncode}: {''.join(seen)}{rest}")
    return "".join(seen)


def _strip_comment(command: str) -> str:
    return re.sub(r"\s+#[^'\"]*$", "", command)


def run_console(block: Block, where: str) -> None:
    """Run each ``$ command`` and compare its output."""
    steps: list[tuple[str, list[str]]] = []
    for line in block.code.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        elif steps:
            steps[-1][1].append(line)
    checker = doctest.OutputChecker()
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    for command, output in steps:
        want = "\n".join(output).strip() + "\n"
        if "Ctrl-C" in command:
            got = _interrupted(_strip_comment(command), len([line for line in output if line.strip()]))
            failed = False
        else:
            result = subprocess.run(
                ["bash", "-c", command], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            got, failed = result.stdout, result.returncode != 0
        if failed != ("sqlkv: error:" in want) and "$?" not in command:
            raise Failed(f"{where}: {command!r} {'failed' if failed else 'succeeded'}; it printed:\n{got}")
        if not checker.check_output(want, got.strip() + "\n", flags):
            raise Failed(f"{where}: {command!r} printed:\n{got}\nthe page shows:\n{want}")


def run_shell(block: Block, where: str) -> None:
    """Run each line of a shell block; each must succeed."""
    for line in block.code.replace("\\\n", " ").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if "Ctrl-C" in line:
            _interrupted(_strip_comment(line), 1)
            continue
        result = subprocess.run(["bash", "-ec", line], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if result.returncode != 0:
            raise Failed(f"{where}: {line!r} ended with status {result.returncode}:\n{result.stdout}")


def run_pytest(block: Block, where: str, number: int) -> None:
    """Run a block that is a test file with pytest, in a folder of its own."""
    folder = Path(f"pytest-example-{number}")
    folder.mkdir()
    code = block.code if re.search(r"^import pytest$", block.code, re.M) else "import pytest\n\n" + block.code
    (folder / f"test_example_{number}.py").write_text(code, encoding="utf-8")
    (folder / "pytest.ini").write_text("[pytest]\nasyncio_default_fixture_loop_scope = function\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    if result.returncode != 0 or " passed" not in result.stdout:
        raise Failed(f"{where}: pytest says:\n{result.stdout}")


def run_page(page: Path, nats_url: str | None) -> int:
    """Run every runnable block of ``page`` in order; the number of blocks run."""
    namespace: dict[str, object] = {"__name__": "__main__"}
    done = 0
    for number, block in enumerate(runnable(page)):
        code = block.code
        if block.directive == "nats":
            if nats_url is None:
                raise Failed(f"{page}:{block.line}: needs a nats-server (--nats-url)")
            for hub in HUBS:
                code = code.replace(hub, nats_url)
        block = Block(block.lang, code, block.line, block.directive)
        where = f"{page}:{block.line}"
        if block.lang == "python" and block.directive == "pytest":
            run_pytest(block, where, number)
        elif block.lang == "python":
            exec(compile("\n" * (block.line - 1) + code, str(page), "exec"), namespace)
        elif block.lang == "console":
            run_console(block, where)
        else:
            run_shell(block, where)
        done += 1
    return done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", type=Path)
    parser.add_argument("--nats-url")
    options = parser.parse_args()
    try:
        done = run_page(options.page.resolve(), options.nats_url)
    except Failed as failure:
        print(failure, file=sys.stderr)
        return 1
    except BaseException:
        traceback.print_exc()
        return 1
    print(f"{done} examples ran")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("COLUMNS", "100")
    sys.exit(main())
