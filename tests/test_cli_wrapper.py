"""Entry points share runner/cli.py (issue 13.6, part): none imports another's __main__,
and none tells errors apart by the module they come from."""

from __future__ import annotations

import ast
from pathlib import Path

RUNNER = Path(__file__).resolve().parents[1] / "runner"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_no_module_imports_an_entry_points_main() -> None:
    offenders = {
        str(path.relative_to(RUNNER)): sorted(n for n in _imports(path) if n.endswith("__main__"))
        for path in RUNNER.rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_no_module_classifies_errors_by_their_module_name() -> None:
    found = [
        str(path.relative_to(RUNNER))
        for path in RUNNER.rglob("*.py")
        if "__module__" in path.read_text(encoding="utf-8")
    ]
    assert found == []
