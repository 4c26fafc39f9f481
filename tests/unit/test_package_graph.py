"""runner's top-level parts import each other one way: the runtime import graph has no cycle.

The graph is read from the code with `ast`: every import a module runs counts (at module level
or inside a function), imports under `if TYPE_CHECKING:` do not. An import by name counts too
(`importlib.import_module(...)`, `__import__(...)`) when the name is known from the code: a
string, a module-level constant, `__name__`, or an f-string starting with those; a name only
known at run time (user code, a provider's declared adapter) is not read. A part is a
sub-package of `runner/` (`runner/engine/`) or a top-level module (`runner/run.py`).
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Iterator
from pathlib import Path

import runner

ROOT = Path(runner.__file__).parent


def _module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
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


def _targets(
    module: str, is_package: bool, node: ast.Import | ast.ImportFrom, root: Path = ROOT
) -> Iterator[str]:
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
            named = root / alias.name
            is_part = named.is_dir() or named.with_suffix(".py").is_file()
            yield f"runner.{alias.name}" if is_part else "runner"
        return
    yield base


_IMPORT_FUNCTIONS = frozenset({"import_module", "__import__"})


def _constants(tree: ast.Module) -> dict[str, str]:
    """The module's string constants (`NAME = "..."` at module level)."""
    found: dict[str, str] = {}
    for node in tree.body:
        match node:
            case ast.Assign(targets=[ast.Name(id=name)], value=ast.Constant(value=str(text))):
                found[name] = text
            case ast.AnnAssign(target=ast.Name(id=name), value=ast.Constant(value=str(text))):
                found[name] = text
    return found


def _known_text(node: ast.expr, module: str, constants: dict[str, str]) -> tuple[str, bool]:
    """The text an expression holds as far as the code says it, and whether that is all."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value, True
    if isinstance(node, ast.Name) and (node.id == "__name__" or node.id in constants):
        return (module if node.id == "__name__" else constants[node.id]), True
    if isinstance(node, ast.FormattedValue) and node.format_spec is None:
        return _known_text(node.value, module, constants)
    pieces: list[ast.expr] = []
    if isinstance(node, ast.JoinedStr):
        pieces = node.values
    elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        pieces = [node.left, node.right]
    text = ""
    for piece in pieces:
        known, complete = _known_text(piece, module, constants)
        text += known
        if not complete:  # the rest is only known at run time
            return text, False
    return text, bool(pieces)


def _imports_by_name(tree: ast.Module, module: str, is_package: bool) -> Iterator[str]:
    """The modules `importlib.import_module(name)` and `__import__(name)` calls name.

    A name known only in part names the module its known text reaches up to the last dot:
    `f"runner.providers.{x}"` is an import of providers, `f"runner.{x}"` of no part.
    """
    constants = _constants(tree)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name not in _IMPORT_FUNCTIONS:
            continue
        text, complete = _known_text(node.args[0], module, constants)
        if not complete:
            text = text.rpartition(".")[0]
        if text.startswith("."):  # relative to the calling package (`package=__name__`)
            package = module if is_package else module.rpartition(".")[0]
            text = importlib.util.resolve_name(text, package)
        if text:
            yield text


def _module_imports(path: Path, root: Path = ROOT) -> Iterator[str]:
    """Every runner module a file imports when it runs, by statement or by name."""
    module, is_package = _module_name(path, root), path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in _runtime_imports(tree):
        yield from _targets(module, is_package, node, root)
    yield from _imports_by_name(tree, module, is_package)


def import_edges(root: Path = ROOT) -> dict[tuple[str, str], list[str]]:
    """(from part, to part) -> the modules of the first part that import the second."""
    edges: dict[tuple[str, str], list[str]] = {}
    for path in sorted(root.rglob("*.py")):
        module = _module_name(path, root)
        source = _part(module)
        if source is None:
            continue
        for target in _module_imports(path, root):
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


# runner/config/apis.py before it stopped importing the providers (its import, abridged).
_APIS_BEFORE = '''
import functools
import importlib

# Imported the first time the blocks are needed; importing it registers every provider.
PROVIDER_PACKAGE = "runner.providers"


def api_blocks() -> dict[str, ApiBlock]:
    """Every declared block by name, in the order of their names (the help's order)."""
    _load_providers()
    return dict(sorted(_BLOCKS.items()))


@functools.cache
def _load_providers() -> None:
    importlib.import_module(PROVIDER_PACKAGE)
'''


def test_an_import_by_name_is_an_edge_of_the_graph(tmp_path: Path) -> None:
    """config -> providers by `importlib.import_module(CONSTANT)` closes a cycle the test sees."""
    root = tmp_path / "runner"
    files = {
        "__init__.py": "",
        "config/__init__.py": "",
        "config/apis.py": _APIS_BEFORE,
        "providers/__init__.py": "from runner.config.apis import declare_block\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    edges = import_edges(root)
    assert edges[("config", "providers")] == ["runner.config.apis"]
    assert cycles(edges) == [["config", "providers"]]


def test_names_known_from_the_code_are_read_names_known_at_run_time_are_not() -> None:
    source = (
        "import importlib\n"
        "from importlib import import_module\n"
        "HOME = 'runner.cache'\n"
        "def f(user_module, name):\n"
        "    importlib.import_module('runner.report.render')\n"
        "    import_module(HOME)\n"
        "    __import__('runner.view')\n"
        "    importlib.import_module(f'{__name__}.{name}')\n"
        "    importlib.import_module(f'runner.index.{name}')\n"
        "    importlib.import_module('runner.' + name)\n"
        "    importlib.import_module(f'runner.{name}')\n"
        "    importlib.import_module('.sibling', package=__name__)\n"
        "    importlib.import_module(user_module)\n"
    )
    found = list(_imports_by_name(ast.parse(source), "runner.batch.registry", False))
    assert found == [
        "runner.report.render",
        "runner.cache",
        "runner.view",
        "runner.batch.registry",
        "runner.index",
        "runner",
        "runner",
        "runner.batch.sibling",
    ]
    assert [_part(name) for name in found] == [
        "report",
        "cache",
        "view",
        "batch",
        "index",
        None,
        None,
        "batch",
    ]
