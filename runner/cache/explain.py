"""Why a prompt's request missed the cache: its key's parts against the nearest entry.

The nearest entry is a cached request of the same api and model whose prompt is closest
(difflib's ratio over the prompts' canonical JSON, among the newest ``CANDIDATES``).
"""

from __future__ import annotations

import difflib
from datetime import UTC, datetime
from typing import Any

from runner.cache.key import canonical_json
from runner.cache.store import CacheStore
from runner.errors import BadInputError

CANDIDATES = 5000
_SHOWN = 160  # characters of a differing value shown


def explain(store: CacheStore, run_id: str, prompt_id: str) -> list[str]:
    """Lines saying how ``prompt_id`` of ``run_id`` fared in the cache, and why.

    Raises:
        BadInputError: the cache has no lookup of that prompt in that run.
    """
    lookup = store.lookup(run_id, prompt_id)
    if lookup is None:
        raise BadInputError(
            f"the cache at {store.path} has no lookup of prompt {prompt_id!r} in run "
            f"{run_id!r}: check both ids (prompt_key in completed.jsonl), or give the run's "
            "--cache-dir; runs made with cache=off leave none"
        )
    parts = store.parts(lookup.digest) or {}
    head = f"prompt {prompt_id} of run {run_id}: {_said(lookup.result)} ({_when(lookup.at)})"
    lines = [head, f"  request {lookup.digest}, occurrence {lookup.occurrence}"]
    if lookup.result in ("hit", "refresh", "expired"):
        return lines
    # What the cache held then: the answer this miss stored came later.
    cached = store.count(lookup.digest, lookup.at)
    if cached:
        lines.append(
            f"  the same request was cached {cached} time(s); this was occurrence "
            f"{lookup.occurrence} of it in the run (counted from 0), a new sample"
        )
        return lines
    return lines + _nearest(store, lookup.digest, parts, lookup.at)


def _nearest(store: CacheStore, digest: str, parts: dict[str, Any], at: float) -> list[str]:
    api, model = str(parts.get("api", "")), str(parts.get("model") or "")
    prompt = canonical_json(parts.get("prompt"))
    best: tuple[float, str, dict[str, Any]] | None = None
    for other_digest, other in store.answered(api, model, at, limit=CANDIDATES):
        if other_digest == digest:
            continue
        matcher = difflib.SequenceMatcher(None, prompt, canonical_json(other.get("prompt")))
        if best is not None and matcher.quick_ratio() <= best[0]:
            continue
        ratio = matcher.ratio()
        if best is None or ratio > best[0]:
            best = (ratio, other_digest, other)
    if best is None:
        return [f"  nothing is cached for api {api!r} and model {model!r}"]
    ratio, other_digest, other = best
    lines = [f"  nearest cached request {other_digest} (prompt {ratio:.0%} alike):"]
    for name, mine, theirs in _diff(parts, other):
        lines.append(f"    {name}: this {_short(mine)} | cached {_short(theirs)}")
    same = sorted(set(_flat(parts)) & set(_flat(other)) - {n for n, *_ in _diff(parts, other)})
    lines.append(f"    same: {', '.join(same) or 'nothing'}")
    return lines


def _flat(parts: dict[str, Any]) -> dict[str, Any]:
    """One level deep for parameters (``parameters.temperature``), whole values otherwise."""
    flat: dict[str, Any] = {}
    for name, value in parts.items():
        if name == "parameters" and isinstance(value, dict):
            flat.update({f"parameters.{k}": v for k, v in value.items()})
        else:
            flat[name] = value
    return flat


def _diff(mine: dict[str, Any], theirs: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    a, b = _flat(mine), _flat(theirs)
    missing = object()
    return [
        (name, a.get(name, missing), b.get(name, missing))
        for name in sorted(set(a) | set(b))
        if canonical_json(a.get(name)) != canonical_json(b.get(name)) or (name in a) != (name in b)
    ]


def _short(value: Any) -> str:
    if not isinstance(value, str | int | float | bool | list | dict | None):
        return "(absent)"
    text = canonical_json(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def _said(result: str) -> str:
    return {
        "hit": "answered from the cache",
        "miss": "missed the cache (sent)",
        "expired": "its cached answer was older than cache_ttl (sent again)",
        "refresh": "sent with cache=refresh (the cache was not read)",
    }.get(result, result)


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")
