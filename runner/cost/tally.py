"""Cost totals per model, counted as outcomes are delivered (an engine observer)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runner.output.observer import Observer
from runner.output.results import USAGE_FIELDS, Outcome

TOKEN_FIELDS = USAGE_FIELDS  # input, output, cached input, cache write, reasoning tokens


@dataclass
class ModelCost:
    """One model's results and what they cost."""

    results: int = 0
    cost_usd: float = 0.0
    unpriced: int = 0  # answered, but no price known: their cost is not in cost_usd
    cached: int = 0
    batch: int = 0
    # Billed token counts of the answers (runner.providers.usage), summed.
    tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TOKEN_FIELDS, 0))

    def add(self, outcome: Outcome) -> None:
        self.results += 1
        self.cached += outcome.cached
        self.batch += outcome.batch_id is not None
        if outcome.cost_usd is None:
            self.unpriced += 1
        else:
            self.cost_usd += outcome.cost_usd
        completion = outcome.completion
        if completion is not None:
            tokens = self.tokens
            for name in TOKEN_FIELDS:
                tokens[name] += getattr(completion, name) or 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "results": self.results,
            # null when nothing had a known price: an unknown total is never shown as 0.
            "cost_usd": None if self.unpriced == self.results else round(self.cost_usd, 6),
            "unpriced": self.unpriced,
            "cached": self.cached,
            "batch": self.batch,
            **self.tokens,
        }


class CostTally(Observer):
    """Totals per ``api/model_name`` of every outcome delivered (generation and judges)."""

    def __init__(self) -> None:
        self.models: dict[str, ModelCost] = {}
        self._by_key: dict[tuple[str, str], ModelCost] = {}  # (api, model_name) as written

    def on_outcome(self, outcome: Outcome) -> None:
        data = outcome.record.data  # read as PromptRecord.api and .model_name do, once each
        key = (str(data.get("api")), str(data.get("model_name")))
        cost = self._by_key.get(key)
        if cost is None:
            record = outcome.record
            name = f"{record.api}/{record.model_name or '-'}"
            cost = self._by_key[key] = self.models.setdefault(name, ModelCost())
        cost.add(outcome)

    def as_dict(self, before: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Per model, added to ``before`` (a resumed run's earlier totals)."""
        totals = {name: dict(v) for name, v in (before or {}).items() if isinstance(v, dict)}
        for name, cost in self.models.items():
            now = cost.as_dict()
            old = totals.get(name)
            if old is None:
                totals[name] = now
                continue
            for key in ("results", "unpriced", "cached", "batch", *TOKEN_FIELDS):
                now[key] += int(old.get(key) or 0)
            if old.get("cost_usd") is not None:
                now["cost_usd"] = round((now["cost_usd"] or 0.0) + float(old["cost_usd"]), 6)
            totals[name] = now
        return dict(sorted(totals.items()))


def token_totals(models: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
    """run.json's ``cost.tokens``: every model's billed token counts, summed."""
    return {name: sum(int(m.get(name) or 0) for m in models.values()) for name in TOKEN_FIELDS}
