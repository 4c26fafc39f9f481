"""A run's spending: its prices, its budget and its cost totals, shared by its engines."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.cost.budget import Budget
from runner.cost.ledger import LEDGER_FILE, Ledger
from runner.cost.prices import PriceBook
from runner.cost.tally import CostTally, token_totals

if TYPE_CHECKING:
    from runner.config.schema import RunConfig


@dataclass
class Spending:
    """What the run's engines (generation and judges) price, reserve and count with."""

    prices: PriceBook = field(default_factory=PriceBook)
    budget: Budget = field(default_factory=Budget)
    tally: CostTally = field(default_factory=CostTally)

    @classmethod
    def for_run(cls, settings: RunConfig, sweep_dir: Path | None = None) -> Spending:
        """The run's spending; a job of a sweep (``sweep_dir``) shares the cap with the others."""
        budget = Budget(settings.max_cost_usd)
        if sweep_dir is not None and settings.max_cost_usd is not None:
            budget.ledger = Ledger(sweep_dir / LEDGER_FILE)
        return cls(PriceBook.from_settings(settings), budget)

    def close(self) -> None:
        """Let go of the sweep's ledger, if any."""
        if self.budget.ledger is not None:
            self.budget.ledger.close()
            self.budget.ledger = None

    def as_dict(self, before: object = None) -> dict[str, Any]:
        """``run.json``'s ``cost``: totals per model (with a resumed run's) and the budget."""
        earlier = before.get("models") if isinstance(before, Mapping) else None
        models = self.tally.as_dict(earlier if isinstance(earlier, Mapping) else None)
        known = [m["cost_usd"] for m in models.values() if m["cost_usd"] is not None]
        return {
            "total_usd": round(sum(known), 6) if known or not models else None,
            "models": models,
            "budget": self.budget.as_dict(),
            "tokens": token_totals(models),
        }
