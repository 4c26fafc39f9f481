"""The end-of-run summary: counts by status, wall time, achieved rate per group."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runner.output.money import dollars, format_costs
from runner.output.stats import GroupStats, shown_limit

# Groups listed one by one in the summary; the rest are counted (all are in run.json).
MAX_GROUP_ROWS = 50


@dataclass
class Summary:
    """What a run did, for people (``format``) and machines (``as_dict``)."""

    run_id: str
    experiment: str
    total: int
    ok: int
    error: int
    not_sent: int
    wall_time_s: float
    groups: Mapping[str, GroupStats]
    skipped: int = 0  # already ok in the run being resumed
    interrupted: bool = False
    invalid: int = 0  # on_invalid=skip: lines the check refused (counted in error too)
    # run.json's "cost": totals per model and the budget (see runner.cost.spending).
    cost: dict[str, Any] = field(default_factory=dict)

    @property
    def unsent(self) -> int:
        """Prompts a stop left unsent (a resume sends them)."""
        return max(0, self.total - self.ok - self.error)

    @property
    def exit_code(self) -> int:
        """0 when every prompt ended ok, 1 when some ended in error, 130 when stopped."""
        if self.interrupted:
            return 130
        return 0 if self.error == 0 else 1

    def as_dict(self) -> dict[str, Any]:
        counts = {"ok": self.ok, "error": self.error}
        if self.invalid:
            counts["invalid"] = self.invalid
        return {
            "counts": counts,
            "not_sent": self.not_sent,
            "unsent": self.unsent,
            "skipped": self.skipped,
            "total": self.total,
            "wall_time_s": round(self.wall_time_s, 3),
            **({"cost": self.cost} if self.cost else {}),
            "groups": {
                name: {
                    "total": g.total,
                    "ok": g.ok,
                    "error": g.error,
                    "not_sent": g.not_sent,
                    "requests": g.requests,
                    "retries": g.retries,
                    "slowdowns": g.slowdowns,
                    "limit_per_minute": g.rate_per_minute,
                    "achieved_per_minute": _round(g.achieved_per_minute()),
                }
                for name, g in self.groups.items()
            },
        }

    def format(self) -> str:
        """A few lines for the terminal."""
        over_budget = sum((self.cost.get("budget") or {}).get("not_sent", {}).values())
        stopped = self.not_sent - over_budget
        lines = [
            f"Run {self.run_id} of experiment '{self.experiment}': {self.total} prompts, "
            f"{self.ok} ok, {self.error} error in {self.wall_time_s:.1f} s"
            + (
                f" ({stopped} not sent: a hard quota or a rejected key stopped them)"
                if stopped
                else ""
            )
            + (f" ({over_budget} not sent: {_budget_why(self.cost)})" if over_budget else "")
            + (f"; {self.invalid} invalid line(s) not sent" if self.invalid else "")
        ]
        rows = dict(itertools.islice(self.groups.items(), MAX_GROUP_ROWS))
        width = max([5, *(len(n) for n in rows)])
        lines.append(
            f"  {'group':<{width}}  {'ok':>7} {'error':>6} {'retries':>7}"
            f" {'limit/min':>10} {'achieved/min':>12}"
        )
        unmeasured = False
        for name, g in rows.items():
            achieved = g.achieved_per_minute()
            unmeasured = unmeasured or achieved is None
            shown = "-" if achieved is None else f"{achieved:,.1f}"
            limit = shown_limit(g.rate_per_minute)
            limit = limit if isinstance(limit, str) else f"{limit:,.1f}"
            lines.append(
                f"  {name:<{width}}  {g.ok:>7} {g.error:>6} {g.retries:>7} {limit:>10} {shown:>12}"
            )
        if unmeasured:
            lines.append(
                "  (achieved/min '-': too few requests to measure a rate; no more than the"
                " limiter's burst, which may start at once, or with no limit under a second"
                " of sending)"
            )
        if len(self.groups) > len(rows):  # 100,000 groups: 100,000 lines on the terminal
            lines.append(f"  ... and {len(self.groups) - len(rows):,} more groups (run.json)")
        lines += self._cost_lines()
        return "\n".join(lines)

    def _cost_lines(self) -> list[str]:
        if not self.cost:
            return []
        budget = self.cost.get("budget") or {}
        spent = ", ".join(f"{k} {dollars(v)}" for k, v in (budget.get("lines") or {}).items())
        cap = budget.get("max_cost_usd")
        head = f"Cost {dollars(self.cost.get('total_usd'))}" + (f" ({spent})" if spent else "")
        if cap is not None:
            head += f"; this invocation spent {dollars(budget.get('spent_usd'))} of "
            head += f"max_cost_usd={dollars(cap)}"
            sweep = budget.get("sweep")
            if isinstance(sweep, dict):  # a job of a sweep: the jobs share the cap
                head += f" (the sweep's jobs so far: {dollars(sweep.get('spent_usd'))})"
        return [head, *format_costs(self.cost.get("models") or {})]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _budget_why(cost: dict[str, Any]) -> str:
    """Why prompts were not sent for the budget: it was reached, or each alone was over it."""
    reached = (cost.get("budget") or {}).get("exhausted", True)
    return "the budget was reached" if reached else "each alone could cost more than max_cost_usd"
