"""The layout's rules: imports run one way (CSV -> training -> model file -> serving), the
API never loads the training stack, and modules and functions stay a readable size."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "recsys"
LEAVES = {"recsys", "errors", "settings", "songs"}
# What each part of the package may import, besides the leaf modules everyone may use.
ALLOWED = {
    "leaf": set(),
    "model": {"model"},
    "training": {"model", "training"},
    "serving": {"model", "serving"},
    "tools": {"model", "training", "serving", "tools"},
    "cli": {"model", "training", "serving", "tools", "cli"},
    "__main__": {"cli"},
}
MODULES = sorted(PACKAGE.rglob("*.py"))


def part_of(module: str) -> str:
    """`recsys.serving.app` -> "serving"; the leaf modules -> "leaf"."""
    parts = module.split(".")
    name = parts[1] if len(parts) > 1 else "recsys"
    return "leaf" if name in LEAVES else name


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def recsys_imports(path: Path) -> set[str]:
    """Every recsys module `path` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found.update(name for name in names if name.split(".")[0] == "recsys")
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda path: module_name(path))
def test_imports_run_one_way(path: Path) -> None:
    importer = part_of(module_name(path))
    allowed = ALLOWED[importer] | {"leaf"}
    wrong = sorted(
        imported for imported in recsys_imports(path) if part_of(imported) not in allowed
    )
    assert not wrong, f"{module_name(path)} ({importer}) must not import {wrong}"


def test_the_rules_cover_every_part_of_the_package() -> None:
    assert {part_of(module_name(path)) for path in MODULES} <= set(ALLOWED)


def test_the_app_does_not_load_the_training_stack(tmp_path: Path) -> None:
    probe = (
        "import sys\n"
        "from recsys.settings import Settings\n"
        "from recsys.serving import create_app\n"
        "import recsys.cli.main\n"
        f"create_app(Settings(data_dir={str(tmp_path)!r}))\n"
        "heavy = ('polars', 'efficient_apriori', 'pyspark', 'numpy')\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] in heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_probe_would_see_the_training_stack() -> None:
    """The check above can fail: importing training does load polars."""
    probe = "import sys, recsys.training.mining; print('polars' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "True"


@pytest.mark.parametrize("path", MODULES, ids=lambda path: module_name(path))
def test_modules_and_functions_stay_readable(path: Path) -> None:
    source = path.read_text()
    assert source.count("\n") <= 400, f"{module_name(path)} has over 400 lines"
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = node.end_lineno - node.lineno + 1  # type: ignore[operator]
            assert length <= 60, f"{module_name(path)}.{node.name} has {length} lines"
