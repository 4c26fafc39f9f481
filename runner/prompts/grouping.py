"""Split the prompts of an experiment into rate-limit groups, as prompto does.

With ``parallel``, prompts are grouped by their ``group`` key, else by ``api``; each group
runs at its own limit. ``max_queries_dict`` gives a group (or api) a number, or a dict with
``default`` and per-``model_name`` limits; a model with its own limit becomes its own
sub-group ``<group>-<model_name>``. Without ``parallel``, all prompts form one queue.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from runner.prompts.records import PromptRecord

SINGLE_QUEUE = "all"
# Servers that load one model at a time: their prompts are sent model by model.
MODEL_SWAPPING_APIS = frozenset({"local", "ollama"})


@dataclass
class Group:
    """Prompts that share one rate limit."""

    name: str
    rate_per_minute: float
    records: list[PromptRecord] = field(default_factory=list)


def _group_limits(
    max_queries: float, max_queries_dict: Mapping[str, Any]
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Limits per group, and per model within a group."""
    group_limits: dict[str, float] = {}
    model_limits: dict[str, dict[str, float]] = {}
    for key, value in max_queries_dict.items():
        if isinstance(value, Mapping):
            group_limits[key] = float(value.get("default", max_queries))
            model_limits[key] = {str(m): float(v) for m, v in value.items() if m != "default"}
        else:
            group_limits[key] = float(value)
    return group_limits, model_limits


def group_records(
    records: Iterable[PromptRecord],
    *,
    max_queries: float,
    parallel: bool,
    max_queries_dict: Mapping[str, Any],
) -> dict[str, Group]:
    """Assign every record to its rate-limit group; groups keep first-seen order."""
    if not parallel:
        single = Group(SINGLE_QUEUE, float(max_queries), list(records))
        _order_for_model_swapping(single)
        return {SINGLE_QUEUE: single}
    group_limits, model_limits = _group_limits(max_queries, max_queries_dict)
    groups: dict[str, Group] = {}
    for record in records:
        base = record.group or record.api
        name, limit = base, group_limits.get(base, float(max_queries))
        per_model = model_limits.get(base, {})
        if record.model_name is not None and record.model_name in per_model:
            name, limit = f"{base}-{record.model_name}", per_model[record.model_name]
        if name not in groups:
            groups[name] = Group(name, limit)
        groups[name].records.append(record)
    for group in groups.values():
        _order_for_model_swapping(group)
    return groups


def _order_for_model_swapping(group: Group) -> None:
    """Send a local server's prompts model by model, so it never reloads back and forth."""
    if any(r.api in MODEL_SWAPPING_APIS for r in group.records):
        order: dict[str | None, int] = {}
        for r in group.records:
            order.setdefault(r.model_name, len(order))
        group.records.sort(key=lambda r: (r.api not in MODEL_SWAPPING_APIS, order[r.model_name]))


def apply_model(
    records: list[PromptRecord], api: str, model_name: str, params: dict[str, Any]
) -> int:
    """Point every record at the chosen model; returns how many named another model.

    The model's parameters are defaults: a prompt's own parameters win.
    """
    changed = 0
    for record in records:
        data = record.data
        if (data.get("api"), data.get("model_name")) not in ((api, model_name), (None, None)):
            changed += 1
        data["api"] = api
        data["model_name"] = model_name
        if params:
            data["parameters"] = {**params, **record.parameters}
    return changed
