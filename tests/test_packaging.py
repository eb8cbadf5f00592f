"""The built wheel carries the migrations and the license and works in a fresh venv; so does the sdist."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
import anyio, sqlkv, sys
async def main():
    async with sqlkv.AsyncStore(sys.argv[1]) as store:
        kv = await store.create_bucket("pkg", history=2)
        await kv.put("a", b"1")
        print(sqlkv.__file__, (await kv.get("a")).value.decode())
anyio.run(main)
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from this tree (once for the module)."""
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
    )
    [built] = dist.glob("sqlkv-*.whl")
    return built


@pytest.mark.slow
def test_wheel_installs_and_opens_a_store(tmp_path: Path, wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "sqlkv/_migrations/0001_initial.sql" in names
    assert "sqlkv/py.typed" in names
    assert {"sqlkv/ui/static/index.html", "sqlkv/ui/static/app.js", "sqlkv/ui/static/app.css"} <= set(names)
    assert any(".dist-info/" in name and name.endswith("/LICENSE") for name in names)

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)],
        check=True,
        capture_output=True,
    )
    result = subprocess.run(
        [str(python), "-c", SCRIPT, str(tmp_path / "store.db")],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    location, value = result.stdout.split()
    assert location.startswith(str(env_dir)) and value == "1"


@pytest.mark.slow
def test_sdist_carries_the_license_and_what_the_wheel_is_built_from(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    [sdist] = tmp_path.glob("sqlkv-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.partition("/")[2] for name in archive.getnames()}
    assert {"LICENSE", "README.md", "pyproject.toml", "migrations/0001_initial.sql", "sqlkv/__init__.py"} <= names
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License\n\nCopyright (c) the sqlkv authors")


ZIPPED = """
import sys, sqlkv
assert sqlkv.__file__.startswith(sys.argv[2]), sqlkv.__file__  # the package comes from the zip
with sqlkv.Store(sys.argv[1]) as store:
    kv = store.create_bucket("zipped", history=2)
    kv.put("a", b"1")
    print(store.schema_version, kv.get("a").value.decode())
"""


@pytest.mark.slow
def test_a_zipped_install_opens_a_store(tmp_path: Path, wheel: Path) -> None:
    """The wheel's package in a zip on ``sys.path``: its migrations are read through ``importlib.resources``."""
    import anyio

    archive = tmp_path / "sqlkv.zip"
    with zipfile.ZipFile(wheel) as built, zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for name in built.namelist():
            if name.startswith("sqlkv/"):
                zipped.writestr(name, built.read(name))
    # -S: no site, so no .pth file of this checkout's editable install; the dependencies' directory comes after
    # the zip (it may hold an sqlkv of its own: the zip's is found first).
    dependencies = Path(anyio.__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, "-S", "-c", ZIPPED, str(tmp_path / "store.db"), str(archive)],
        env={"PYTHONPATH": f"{archive}{os.pathsep}{dependencies}", "PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    from sqlkv._storage.schema import migration_count

    assert result.stdout.split() == [str(migration_count()), "1"]
