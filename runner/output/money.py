"""How money is shown: dollar amounts, and the console's table of each model's cost."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import Any

# Models listed one by one in the summary; the rest are counted (all are in run.json).
MAX_MODEL_ROWS = 50


def dollars(usd: float | None) -> str:
    """``$0.0123``: four decimals, two significant ones for tiny amounts; ``-``: unknown."""
    if usd is None or not math.isfinite(usd):
        return "-"
    if 0 < abs(usd) < 0.0001:
        places = 1 - math.floor(math.log10(abs(usd)))
        # max_cost_usd=1e-300 printed 300 zeros in every budget error line.
        return f"${usd:.{places}f}" if places <= 12 else f"${usd:.2g}"
    return f"${usd:,.4f}"


def format_costs(models: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Console lines: each model's results, tokens and cost (``-`` when no price is known)."""
    if not models:
        return []
    rows = dict(itertools.islice(models.items(), MAX_MODEL_ROWS))
    width = max([5, *(len(n) for n in rows)])
    lines = [
        f"  {'model':<{width}}  {'results':>7} {'input':>11} {'cached':>11} {'cache wr':>11}"
        f" {'output':>11} {'reasoning':>11} {'cost':>12}"
    ]
    for name, m in rows.items():
        note = f"  ({m['unpriced']} without a known price)" if m.get("unpriced") else ""
        counts = " ".join(f"{int(m.get(k) or 0):>11,}" for k in _SHOWN)
        lines.append(
            f"  {name:<{width}}  {m['results']:>7} {counts} {dollars(m['cost_usd']):>12}{note}"
        )
    if len(models) > len(rows):  # 100,000 models: 100,000 lines on the terminal
        lines.append(f"  ... and {len(models) - len(rows):,} more models (run.json)")
    return lines


_SHOWN = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
)
