"""No module reads a provider's private attributes: providers are used by their public API.

Issue 25, item 5: the batch adapters read ``provider._url`` and ``provider._key``; an
``HttpProvider`` now offers ``key()``, ``base_url()`` and ``post_json()`` instead. This scan of
the code keeps it so: a private member of a provider class, or any private attribute of an
object named like a provider, is read only through ``self`` (or ``cls``/``super()``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import runner

RUNNER = Path(runner.__file__).parent
PROVIDERS = RUNNER / "providers"


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _own(node: ast.expr) -> bool:
    """``self``, ``cls`` or ``super()``: a class reading its own members."""
    if isinstance(node, ast.Name):
        return node.id in {"self", "cls"}
    return (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "super"
    )


def _names_a_provider(node: ast.expr) -> bool:
    """Whether an expression is spelled as a provider (``provider``, ``self.provider``, ...)."""
    if isinstance(node, ast.Name):
        return "provider" in node.id.lower()
    if isinstance(node, ast.Attribute):
        return "provider" in node.attr.lower()
    if isinstance(node, ast.Call):  # self._azure()._key(...): a method that returns one
        return _names_a_provider(node.func)
    return False


def provider_private_members() -> set[str]:
    """The private methods and attributes the classes of ``runner/providers`` define."""
    found: set[str] = set()
    for path in PROVIDERS.glob("*.py"):
        for cls in ast.walk(ast.parse(path.read_text())):
            if not isinstance(cls, ast.ClassDef):
                continue
            for node in ast.walk(cls):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _private(node.name):
                    found.add(node.name)
                elif (
                    isinstance(node, ast.Attribute)
                    and isinstance(node.value, ast.Name)
                    and node.value.id == "self"
                    and isinstance(node.ctx, ast.Store)
                    and _private(node.attr)
                ):
                    found.add(node.attr)
    return found


def foreign_private_reads(source: str, members: set[str]) -> list[tuple[int, str]]:
    """``(line, text)`` of each read of a provider's private attribute not through self."""
    hits: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Attribute) or not _private(node.attr) or _own(node.value):
            continue
        if _names_a_provider(node.value) or node.attr in members:
            hits.append((node.lineno, ast.unparse(node)))
    return sorted(hits)


def test_no_module_reads_a_providers_private_attribute() -> None:
    members = provider_private_members()
    hits = [
        f"{path.relative_to(RUNNER.parent)}:{line}: {text}"
        for path in sorted(RUNNER.rglob("*.py"))
        for line, text in foreign_private_reads(path.read_text(), members)
    ]
    assert not hits, "use the provider's public methods (key, base_url, post_json):\n" + "\n".join(
        hits
    )


def test_the_scan_finds_what_the_batch_adapters_did() -> None:
    """The scan sees the reads the batch adapters made before (so it can fail)."""
    members = provider_private_members()
    before = (
        "def url(self, m):\n"
        "    base = self.provider._url(m) or DEFAULT_BASE_URL\n"
        "    key = provider._key(m)\n"
        "    return self._vertex()._location(m)\n"
    )
    found = [text for _, text in foreign_private_reads(before, members)]
    assert found == ["self.provider._url", "provider._key", "self._vertex()._location"]
    own = "def f(self):\n    return self._url(1), super()._key(2), cls._keys\n"
    assert foreign_private_reads(own, members) == []
