"""runner's shape: no module over 300 lines, no function over 60, no private name used across.

Issue 25, item 3 ("no function over 60 lines, no module over 300 lines in runner/") and
item 5 ("no module reads another's private attribute"), read from the code as
/work/shared/tools/structure.py reads it. No exceptions are allowed.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import runner

RUNNER = Path(runner.__file__).parent
ROOT = RUNNER.parent
MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 60

# Underscored names that are documented public API: os._exit, a namedtuple's _replace,
# _asdict and _fields.
PUBLIC_UNDERSCORED = {"_exit", "_replace", "_asdict", "_fields"}


@functools.cache  # read once for the four tests
def _modules() -> list[tuple[str, ast.Module, int]]:
    found = []
    for path in sorted(RUNNER.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        found.append((path.relative_to(ROOT).as_posix(), ast.parse(text), len(text.splitlines())))
    return found


def long_modules() -> dict[str, int]:
    """Every module of runner/ over MAX_MODULE_LINES, with its length."""
    return {name: n for name, _, n in _modules() if n > MAX_MODULE_LINES}


def long_functions() -> dict[str, int]:
    """Every function of runner/ over MAX_FUNCTION_LINES (``path:name``), with its length."""
    found = {}
    for name, tree, _ in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    found[f"{name}:{node.name}"] = length
    return found


def private_reads() -> dict[str, int]:
    """Private attributes read on anything but ``self``/``cls`` (``path:attribute``): line."""
    found = {}
    for name, tree, _ in _modules():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute):
                continue
            attr = node.attr
            if not attr.startswith("_") or attr.startswith("__") or attr in PUBLIC_UNDERSCORED:
                continue
            if isinstance(node.value, ast.Name) and node.value.id in {"self", "cls"}:
                continue
            found[f"{name}:{attr}"] = node.lineno
    return found


def private_imports() -> dict[str, int]:
    """Private names imported from another runner module (``path:name``): line."""
    found = {}
    for name, tree, _ in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("runner"):
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        found[f"{name}:{alias.name}"] = node.lineno
    return found


def test_no_module_is_over_300_lines() -> None:
    too_long = long_modules()
    assert not too_long, f"split these by job (one module, one job): {too_long}"


def test_no_function_is_over_60_lines() -> None:
    too_long = long_functions()
    assert not too_long, f"name the steps of these in helpers: {too_long}"


def test_no_module_reads_another_objects_private_attribute() -> None:
    reads = private_reads()
    assert not reads, f"give these a public name (path:attribute -> line): {reads}"


def test_no_module_imports_another_modules_private_name() -> None:
    imports = private_imports()
    assert not imports, f"give these a public name (path:name -> line): {imports}"
