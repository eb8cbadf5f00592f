"""The README's Python examples run as they are written (in a fresh directory)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```python\n(.*?)```", README, re.S)


def test_the_readme_has_its_examples() -> None:
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize("index", [0, 1, 3])
def test_readme_example_runs(index: int, tmp_path: Path) -> None:
    code = BLOCKS[index]
    if "import sqlkv" not in code:
        code = "import sqlkv\n" + code
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("runner", ["pytest-asyncio", "anyio"])
def test_readme_test_example_runs_under_pytest(pytester: pytest.Pytester, runner: str) -> None:
    example = BLOCKS[2]
    assert example.startswith("@pytest.mark.asyncio  ")
    if runner == "anyio":  # the comment's alternative
        example = example.replace("@pytest.mark.asyncio  ", "@pytest.mark.anyio    ", 1)
    pytester.makepyfile("import pytest\n" + example)
    pytester.makeconftest('import pytest\n\n@pytest.fixture\ndef anyio_backend():\n    return "asyncio"\n')
    if runner == "pytest-asyncio":
        pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    disabled = "no:anyio" if runner == "pytest-asyncio" else "no:asyncio"
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", disabled, "-W", "error")
    result.assert_outcomes(passed=1)
