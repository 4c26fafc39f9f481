"""genai-prices' usage extractors as plain paths, read once and walked by runner.

genai-prices' extractors are data: a root (``usage``, ``usageMetadata``), then paths summed
into its usage keys (``input_tokens``, ``cache_read_tokens``, ...). Its own walker costs
15-40 us an answer, ten times the rest of runner's work on it, so each extractor runner
reads with is compiled once into key paths (list items matched by a field, as its
``ArrayMatch`` does) and walked by :mod:`runner.providers.usage`; the paths are kept in the
price memo, so a later run reads usage without loading genai-prices at all.
"""

from __future__ import annotations

import functools
from typing import Any

MISSING = object()
# A step: a key, or ("match", field, value): the first item of a list whose field is value
# (genai-prices' ArrayMatch with ClauseEquals, case-insensitive).
Step = str | tuple[str, str, str]
Path = tuple[Step, ...]
# A compiled extractor: the root path, then (path, genai-prices usage key, required).
Compiled = tuple[Path, tuple[tuple[Path, str, bool], ...]]


def walk(data: Any, path: Path) -> Any:
    """The value at ``path`` in ``data`` (MISSING: not there)."""
    for step in path:
        if type(step) is str:
            if not isinstance(data, dict):
                return MISSING
            data = data.get(step, MISSING)
            if data is MISSING:
                return MISSING
        else:
            data = _match(data, step[1], step[2])
    return data


def _match(items: Any, field: str, value: str) -> Any:
    if not isinstance(items, list):
        return MISSING
    for item in items:
        found = item.get(field) if isinstance(item, dict) else None
        if found and isinstance(found, str) and found.lower() == value:
            return item
    return MISSING


# (provider id, flavor) -> its compiled extractor, compiled (or given) once.
_COMPILED: dict[tuple[str, str], Compiled | None] = {}
# The same, ready to walk: root, the usage block's required keys, and the mappings under
# each of its keys (the rest of their path, the usage key, required).
Reader = tuple[Path, frozenset[str], dict[str, tuple[tuple[Path, str, bool], ...]]]
READERS: dict[tuple[str, str], Reader | None] = {}


def compiled_paths(provider_id: str, api_flavor: str) -> Compiled | None:
    """The extractor of ``provider_id`` and ``api_flavor`` as key paths (compiled once)."""
    key = (provider_id, api_flavor)
    if key not in _COMPILED:
        _set(key, _compiled(provider_id, api_flavor))
    return _COMPILED[key]


def _set(key: tuple[str, str], compiled: Compiled | None) -> None:
    _COMPILED[key] = compiled
    if compiled is None:
        READERS[key] = None
        return
    root, mappings = compiled
    if not root or not all(isinstance(step, str) for step in root):
        READERS[key] = None  # a root inside a list: genai-prices reads it
        return
    by_key: dict[str, list[tuple[Path, str, bool]]] = {}
    required: set[str] = set()
    for path, usage_key, needed in mappings:
        first = path[0]
        if not isinstance(first, str):
            READERS[key] = None  # a block that is a list: genai-prices reads it
            return
        by_key.setdefault(first, []).append((path[1:], usage_key, needed))
        if needed:
            required.add(first)
    READERS[key] = (root, frozenset(required), {k: tuple(v) for k, v in by_key.items()})


def seed_compiled(provider_id: str, api_flavor: str, value: Any) -> None:
    """Use ``value`` (as :func:`compiled_paths` gave it, through JSON) for this reader.

    The price memo keeps them, so a run that finds them there never loads genai-prices.
    """
    if value is None:
        _set((provider_id, api_flavor), None)
        return
    root, mappings = value
    _set(
        (provider_id, api_flavor),
        (
            _from_json(root),
            tuple((_from_json(path), str(key), bool(required)) for path, key, required in mappings),
        ),
    )


def _from_json(path: Any) -> Path:
    return tuple(step if isinstance(step, str) else tuple(step) for step in path)


def _compiled(provider_id: str, api_flavor: str) -> Compiled | None:
    """genai-prices' extractor as plain paths (keys, and list items matched by a field).

    genai-prices' extractors are data (a root, then paths summed into usage keys); its
    walker costs 15-40 us an answer, ten times the rest of runner's work on it, so the
    paths are read once and walked here. None (genai-prices reads it) when a path has a
    step runner does not know.
    """
    try:
        extractors = provider(provider_id).extractors or ()
    except LookupError:
        return None
    extractor = next((e for e in extractors if e.api_flavor == api_flavor), None)
    if extractor is None:
        return None
    root = _as_path(extractor.root)
    mappings: list[tuple[Path, str, bool]] = []
    for mapping in extractor.mappings:
        path = _as_path(mapping.path)
        if root is None or path is None:
            return None
        mappings.append((path, str(mapping.dest), bool(mapping.required)))
    return None if root is None else (root, tuple(mappings))


def _as_path(path: Any) -> Path | None:
    """genai-prices' path as steps; None when a step is more than a key or an equals match."""
    steps: list[Step] = []
    for step in (path,) if isinstance(path, str) else tuple(path):
        if isinstance(step, str):
            steps.append(step)
            continue
        clause = getattr(step, "match", None)
        equals = getattr(clause, "equals", None)
        if getattr(step, "type", None) != "array-match" or type(clause).__name__ != "ClauseEquals":
            return None
        steps.append(("match", str(step.field), str(equals).lower()))
    return tuple(steps)


@functools.cache
def provider(provider_id: str) -> Any:
    """genai-prices' provider (its extractors), looked up once per id."""
    from genai_prices import data_snapshot

    return data_snapshot.get_snapshot().find_provider(None, provider_id, None)
