"""Cost: prices (genai-prices, overridable), the budget cap, cost totals, estimates.

See docs/cost.md. ``cost_of`` and ``estimate_cost`` price at genai-prices' bundled data;
an engine prices with its ``engine.prices`` (the run's overrides) and caps spending with
``engine.budget``. (``spending`` and ``tally`` import the engine: import them directly.)
"""

from runner.cost.budget import Budget, dollars
from runner.cost.prices import PriceBook, cost_of, estimate_cost

__all__ = ["Budget", "PriceBook", "cost_of", "dollars", "estimate_cost"]
