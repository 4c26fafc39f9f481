"""Cost: prices (genai-prices, overridable), the budget cap, cost totals, estimates.

See docs/cost.md. ``cost_of`` and ``estimate_cost`` price at genai-prices' bundled data;
an engine prices with its ``engine.prices`` (the run's overrides) and caps spending with
``engine.budget``.
"""

from runner.cost.budget import Budget
from runner.cost.prices import PriceBook, cost_of, estimate_cost
from runner.output.money import dollars

__all__ = ["Budget", "PriceBook", "cost_of", "dollars", "estimate_cost"]
