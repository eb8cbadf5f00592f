"""``mypy --strict`` on typed example programs: the typed bucket API infers ``Entry[User]`` and rejects mistakes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

api = pytest.importorskip("mypy.api")

EXAMPLES = Path(__file__).parent / "typing"


def _mypy(path: Path, cache: Path) -> tuple[str, int]:
    out, err, status = api.run(["--strict", "--cache-dir", str(cache), "--no-error-summary", str(path)])
    return out + err, status


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One mypy cache for both runs: the second checks sqlkv's modules from it."""
    return tmp_path_factory.mktemp("mypy-cache")


def test_a_typed_program_type_checks(cache: Path) -> None:
    output, status = _mypy(EXAMPLES / "typed_ok.py", cache)
    assert (output, status) == ("", 0)


def test_mistakes_on_typed_buckets_are_caught_each_on_its_line(cache: Path) -> None:
    source = EXAMPLES / "typed_bad.py"
    marked = {n for n, line in enumerate(source.read_text().splitlines(), 1) if "  # E: " in line}
    output, status = _mypy(source, cache)
    found = {int(n) for n in re.findall(r"typed_bad\.py:(\d+): error:", output)}
    assert status == 1 and marked and found == marked, output
