"""The package's shape: what the layer contracts of pyproject.toml cannot see."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from types import ModuleType

import pytest

import sqlkv

PACKAGE = Path(sqlkv.__file__).parent
REGISTRY = PACKAGE / "_api" / "registry.py"


def _loads_by_name(tree: ast.AST) -> list[int]:
    """Lines that load a module by name: ``importlib.import_module``, ``import_module`` or ``__import__``."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in ("import_module", "__import__"):
                lines.append(node.lineno)
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module == "importlib"
            and any(alias.name == "import_module" for alias in node.names)
        ):
            lines.append(node.lineno)
    return sorted(lines)


def test_only_the_registry_loads_a_module_by_name() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == REGISTRY:
            continue
        offenders += [f"{path.relative_to(PACKAGE)}:{line}" for line in _loads_by_name(ast.parse(path.read_text()))]
    assert offenders == [], f"load modules through sqlkv._api.registry instead: {offenders}"
    assert _loads_by_name(ast.parse(REGISTRY.read_text())), "the registry itself loads by name (the check sees it)"


def test_the_check_sees_each_spelling() -> None:
    source = "import importlib\nimportlib.import_module('x')\n__import__('y')\nfrom importlib import import_module\n"
    assert _loads_by_name(ast.parse(source)) == [2, 3, 4]


def test_the_backends_stand_side_by_side() -> None:
    backends = sorted(p.name for p in (PACKAGE / "_backends").iterdir() if (p / "__init__.py").exists())
    assert backends == ["nats", "sqlite"]
    assert not (PACKAGE / "_api" / "sqlite").exists() and not (PACKAGE / "_nats").exists()


def _modules() -> list[str]:
    import pkgutil

    skip = ("sqlkv._runtime.trio_port", "sqlkv.cli.__main__", "sqlkv.ui")  # need trio / run the CLI / need Starlette
    names = [m.name for m in pkgutil.walk_packages(sqlkv.__path__, "sqlkv.") if not m.name.startswith(skip)]
    return ["sqlkv", *names]


@pytest.mark.parametrize("module_name", _modules())
def test_every_name_in_all_exists_at_run_time(module_name: str) -> None:
    """``__all__`` names only what a module really has (not what exists only for the type checker)."""
    module = importlib.import_module(module_name)
    missing = [name for name in getattr(module, "__all__", ()) if not hasattr(module, name)]
    assert missing == [], f"{module_name}.__all__ names what it does not have: {missing}"


def test_the_public_names_are_sqlkv_all() -> None:
    """Every public name is in ``sqlkv.__all__``, reports ``sqlkv`` as its module and has a docstring."""
    for name in sqlkv.__all__:
        value = getattr(sqlkv, name)
        if isinstance(value, type) or callable(value):
            assert value.__module__ == "sqlkv", name
            assert (value.__doc__ or "").strip(), f"sqlkv.{name} has no docstring"
    assert "__version__" in sqlkv.__all__
    public = {
        name
        for name in dir(sqlkv)
        if not name.startswith(("_", "@"))
        and name != "TYPE_CHECKING"
        and not isinstance(getattr(sqlkv, name), ModuleType)
    }
    assert public == set(sqlkv.__all__) - {"__version__"}
