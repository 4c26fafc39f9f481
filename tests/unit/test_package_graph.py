"""runner's top-level parts import each other one way: the runtime import graph has no cycle.

The graph is read from the code with `ast`: every import a module runs counts (at module level
or inside a function), imports under `if TYPE_CHECKING:` do not. A part is a sub-package of
`runner/` (`runner/engine/`) or a top-level module (`runner/run.py`).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import runner

ROOT = Path(runner.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _part(module: str) -> str | None:
    """The top-level part of `runner.x.y` (`x`), or None outside runner or for `runner` itself."""
    names = module.split(".")
    if names[0] != "runner" or len(names) < 2:
        return None
    return names[1]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement that runs, skipping the body of `if TYPE_CHECKING:`."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                yield from _runtime_imports(ast.Module(body=[child], type_ignores=[]))
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        yield from _runtime_imports(node)


def _targets(module: str, is_package: bool, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    """The runner modules an import statement names (resolving relative imports)."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name
        return
    base = node.module or ""
    if node.level:
        anchor = module.split(".")
        if not is_package:
            anchor = anchor[:-1]
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join([*anchor, base]) if base else ".".join(anchor)
    if base == "runner":
        # `from runner import x` imports the part x when x is a module (else a name of
        # runner/__init__.py, which every part imports anyway).
        for alias in node.names:
            named = ROOT / alias.name
            is_part = named.is_dir() or named.with_suffix(".py").is_file()
            yield f"runner.{alias.name}" if is_part else "runner"
        return
    yield base


def import_edges() -> dict[tuple[str, str], list[str]]:
    """(from part, to part) -> the modules of the first part that import the second."""
    edges: dict[tuple[str, str], list[str]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        module = _module_name(path)
        source = _part(module)
        if source is None:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in _runtime_imports(tree):
            for target in _targets(module, path.name == "__init__.py", node):
                to = _part(target)
                if to is not None and to != source:
                    edges.setdefault((source, to), []).append(module)
    return edges


def cycles(edges: dict[tuple[str, str], list[str]]) -> list[list[str]]:
    """The strongly connected components with more than one part (Tarjan), each sorted."""
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def _describe(component: list[str], edges: dict[tuple[str, str], list[str]]) -> str:
    inside = set(component)
    lines = [f"cycle between: {', '.join(component)}"]
    for (a, b), modules in sorted(edges.items()):
        if a in inside and b in inside:
            lines.append(f"  {a} -> {b}: {', '.join(sorted(set(modules)))}")
    return "\n".join(lines)


def test_top_level_parts_import_one_way() -> None:
    edges = import_edges()
    found = cycles(edges)
    assert not found, "\n".join(_describe(c, edges) for c in found)


def test_the_graph_reader_sees_cycles_and_skips_type_checking(tmp_path: Path) -> None:
    """The reader itself: a cycle is found; an import under TYPE_CHECKING is no edge."""
    assert cycles({("a", "b"): ["runner.a"], ("b", "a"): ["runner.b"]}) == [["a", "b"]]
    assert cycles({("a", "b"): ["runner.a"], ("b", "c"): ["runner.b"]}) == []
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from runner.run import X\n"
        "def f():\n    from runner.cache import y\n"
    )
    names = [t for node in _runtime_imports(tree) for t in _targets("runner.engine.x", False, node)]
    assert "runner.cache" in names
    assert "runner.run" not in names
    relative = ast.parse("from ..output import results\nfrom . import limits\n").body
    assert [t for n in relative for t in _targets("runner.engine.x", False, n)] == [  # type: ignore[arg-type]
        "runner.output",
        "runner.engine",
    ]
